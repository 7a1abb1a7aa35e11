"""``POST /admin/status/work/{id}/stop``: an admin stops an answer from the "Estado" tab.

The work is found on the chat broker's board (``chat/board.py``: every process's, through Redis)
by the id the tab shows, and stopped the way its owner's "Detener" stops it
(``ChatEngine.stop_answer``, with the reason "admin"): a waiting answer leaves the queue, a
running one gives its slot back; the web answer is saved ``stopped`` with ``stopped_by_admin``
and its open streams end with that ``error``; an API answer fails with it. A title is not
stopped: it already yields its slot to anyone who asks (``chat/titles.py``).

Admins only, like the tab (supervisors do not see it). The stop is audited
(``work.stopped``): whose answer, its kind and state, never its content. Two stops of one work
at once (two admins, a double click), on one process or two, make one stop and one audit row:
each first claims the work through the broker (``StopClaims``: a Redis key when it is shared).
"""

from __future__ import annotations

import asyncio
import time
import uuid

from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.admin.status_schemas import WorkStopOut
from energyapp.audit import service as audit_service
from energyapp.auth.models import User
from energyapp.chat.engine import ChatEngine
from energyapp.core.roles import Role
from energyapp.errors import Conflict, Forbidden, NotFound

# How long a stop waits to see an answer another process generates leave the board.
STOP_CONFIRM_SECONDS = 5.0


async def _left_board(engine: ChatEngine, work_id: str) -> str:
    """An answer another process generates was asked to stop and said nothing back (an API
    answer's events are not kept; an older release ignores an admin's notice): "stopped" once
    its work left the board, "stopping" if it is still there."""
    deadline = time.monotonic() + STOP_CONFIRM_SECONDS
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if all(w.id != work_id for w in await engine.broker.work()):
            return "stopped"
    return "stopping"


async def _stop(engine: ChatEngine, work_id: str, answer_id: uuid.UUID) -> str:
    """Stop the answer of a work: "stopped" or "stopping"; 404 once it ended meanwhile."""
    status = await engine.stop_answer(answer_id, reason="admin")
    if status is None and engine.broker.shared:  # asked elsewhere, no answer back
        status = await _left_board(engine, work_id)
    if status not in ("stopped", "stopping"):  # it ended on its own meanwhile
        raise work_not_found()
    return status


def work_not_found() -> NotFound:
    return NotFound("Esta respuesta ya terminó.", code="work_not_found")


async def stop_work(
    app: FastAPI, session: AsyncSession, admin: User, work_id: str, request: Request
) -> WorkStopOut:
    """Stop the work ``work_id`` of the board; 404 ``work_not_found`` once it ended, 409
    ``work_not_stoppable`` for a title."""
    if admin.role != Role.ADMIN:
        raise Forbidden()
    engine: ChatEngine = app.state.chat
    work = next((w for w in await engine.broker.work() if w.id == work_id), None)
    if work is None:
        raise work_not_found()
    if work.answer_id is None:
        raise Conflict(
            "Un título automático no se puede detener: cede su lugar a cualquier respuesta que "
            "llegue.",
            code="work_not_stoppable",
        )
    # Another admin (or a double click), on any process, is stopping it or just did: one stop,
    # one audit row (the broker's claims: through Redis when it is shared).
    if not await engine.broker.stops.claim(work.id):
        raise work_not_found()
    try:
        status = await _stop(engine, work.id, work.answer_id)
    except Exception:
        await engine.broker.stops.release(work.id)
        raise
    audit_service.record(
        session,
        "work.stopped",
        actor_id=admin.id,
        request=request,
        target_type="user",
        target_id=work.user_id,
        details={"kind": work.kind, "state": "writing" if work.running else "waiting"},
    )
    return WorkStopOut(id=work.id, status=status)
