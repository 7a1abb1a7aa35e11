"""The admins' "Estado" tab (``GET /admin/status``): what the server is doing right now.

The model servers are asked concurrently with short timeouts (a dead one answers "no
responde" within :data:`SERVER_WAIT_SECONDS`); the answers being written and waiting come from
the chat broker's board (``chat/board.py``: this process, or every process through Redis);
today's counts from the messages table. Nothing here reads a message's content.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime

import aiohttp
from fastapi import FastAPI
from sqlalchemy import ColumnElement, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.admin import usage
from energyapp.admin.status_schemas import (
    LoadedModelOut,
    ModelServerOut,
    QueueOut,
    StatusOut,
    TodayOut,
    WorkOut,
)
from energyapp.auth.models import User
from energyapp.chat.board import Work
from energyapp.chat.engine import ChatEngine
from energyapp.config import Settings
from energyapp.conversations.models import Message
from energyapp.core import dates
from energyapp.core.roles import Role
from energyapp.errors import Forbidden, ServiceUnavailable
from energyapp.health import service as health
from energyapp.llm import client as llm
from energyapp.logging import redact_text
from energyapp.usage.models import UsageEvent

SERVER_WAIT_SECONDS = 1.0  # each question to a model server (they are asked together)


async def status(app: FastAPI, session: AsyncSession, viewer: User) -> StatusOut:
    """Everything the tab shows; admins only (403 otherwise)."""
    if viewer.role != Role.ADMIN:
        raise Forbidden()
    settings: Settings = app.state.settings
    engine: ChatEngine = app.state.chat
    servers, database, redis = await asyncio.gather(
        model_servers(app.state.llm_http, settings),
        health.db_status(app),
        health.redis_status(app),
    )
    return StatusOut(
        generated_at=datetime.now(UTC),
        servers=servers,
        queue=await queue(session, engine),
        today=await today(session, viewer),
        database=database,
        redis=redis,
    )


# --- model servers --------------------------------------------------------------------------


async def model_servers(http: aiohttp.ClientSession, settings: Settings) -> list[ModelServerOut]:
    """Each configured Ollama: whether it answers, its version, the models in its memory."""
    return list(await asyncio.gather(*(_server(http, settings, url) for url in settings.llm_urls)))


async def _server(http: aiohttp.ClientSession, settings: Settings, url: str) -> ModelServerOut:
    version, loaded = await asyncio.gather(
        llm.ollama_version(http, url, SERVER_WAIT_SECONDS),
        llm.loaded_models(http, url, SERVER_WAIT_SECONDS),
    )
    return ModelServerOut(
        url=redact_text(url),  # http://user:password@host (a proxy's basic auth): no password
        reachable=version is not None,
        version=version or None,
        stand_in=version == llm.STAND_IN_VERSION,
        loaded=None if loaded is None else [LoadedModelOut(**asdict(m)) for m in loaded],
        slots=settings.ollama_max_parallel,
        num_ctx=settings.num_ctx,
    )


# --- the queue ------------------------------------------------------------------------------


async def queue(session: AsyncSession, engine: ChatEngine) -> QueueOut:
    """The answers being written and waiting, in every process, with the people they are for."""
    broker = "redis" if engine.broker.shared else "local"
    try:
        items = await engine.broker.work()
    except ServiceUnavailable:  # the shared queue's Redis does not answer
        return QueueOut(
            available=False,
            broker=broker,
            running=[],
            waiting=[],
            longest_wait_seconds=None,
            estimated_wait_seconds=None,
        )
    people = await _people(session, {w.user_id for w in items if w.user_id is not None})
    now = time.time()
    running = sorted((w for w in items if w.running), key=lambda w: w.since)
    waiting = sorted(
        (w for w in items if not w.running),
        key=lambda w: (w.position is None, w.position or 0, w.since),
    )
    longest = max((now - w.since for w in waiting), default=None)
    return QueueOut(
        available=True,
        broker=broker,
        running=[_work_out(w, people, now) for w in running],
        waiting=[_work_out(w, people, now) for w in waiting],
        longest_wait_seconds=None if longest is None else max(0, int(longest)),
        estimated_wait_seconds=_wait_for_newcomer(engine, running, waiting),
    )


def _wait_for_newcomer(engine: ChatEngine, running: list[Work], waiting: list[Work]) -> int | None:
    """0 when a slot is free; else the wait the queue's recent answers let one expect at the
    end of the line (``chat/waits.py``)."""
    users_waiting = sum(1 for w in waiting if w.user_id is not None)
    slots = engine.settings.ollama_max_parallel * len(engine.settings.llm_urls)
    if users_waiting == 0 and sum(1 for w in running if w.user_id is not None) < slots:
        return 0
    return engine.queue_times.wait_seconds(users_waiting + 1)


async def _people(
    session: AsyncSession, ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str, Role]]:
    if not ids:
        return {}
    stmt = select(User.id, User.full_name, User.email, User.role).where(User.id.in_(ids))
    return {row[0]: (row[1], row[2], Role(row[3])) for row in await session.execute(stmt)}


def _work_out(work: Work, people: dict[uuid.UUID, tuple[str, str, Role]], now: float) -> WorkOut:
    person = people.get(work.user_id) if work.user_id is not None else None
    return WorkOut(
        id=work.id,
        user_id=work.user_id,
        full_name=person[0] if person else None,
        email=person[1] if person else None,
        role=person[2] if person else None,
        kind=work.kind,
        state="writing" if work.running else "waiting",
        position=work.position,
        seconds=max(0, int(now - work.since)),
        stoppable=work.answer_id is not None,
    )


# --- today ----------------------------------------------------------------------------------


async def today(session: AsyncSession, viewer: User) -> TodayOut:
    """The web chat's answers started today (Santiago), by how they ended, and the wait for
    their first token (average and 95th percentile)."""
    day = dates.local_today()
    span = usage.period(viewer, day, day)
    answers = _web_answers()
    counts = (
        await session.execute(
            span.scoped(
                select(
                    *(_count(Message.status.in_(s)) for s in _STATUSES),
                    _count(Message.finish_reason == "length"),
                    func.avg(Message.first_token_ms),
                    func.count(Message.first_token_ms),
                ).where(answers),
                Message,
            )
        )
    ).one()
    finished, failed, stopped, cut, average, measured = counts
    return TodayOut(
        day=day,
        finished=int(finished),
        failed=int(failed),
        stopped=int(stopped),
        cut=int(cut),
        avg_first_token_ms=None if average is None else round(float(average), 1),
        p95_first_token_ms=await _p95_first_token(session, span, int(measured)),
    )


_STATUSES = (("complete",), ("error", "interrupted"), ("stopped",))


def _web_answers() -> ColumnElement[bool]:
    """The web chat's answers: an API answer kept with ``store: true`` is a message too, named
    by its usage row."""
    stored_by_api = exists().where(UsageEvent.message_id == Message.id, UsageEvent.source == "api")
    return (Message.role == "assistant") & ~stored_by_api


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def _p95_first_token(session: AsyncSession, span: usage.Period, measured: int) -> int | None:
    """The nearest-rank 95th percentile, read as one row (both databases, no percentile
    function on SQLite)."""
    if measured == 0:
        return None
    stmt = (
        span.scoped(select(Message.first_token_ms), Message)
        .where(_web_answers(), Message.first_token_ms.is_not(None))
        .order_by(Message.first_token_ms)
        .offset(math.ceil(0.95 * measured) - 1)
        .limit(1)
    )
    value = await session.scalar(stmt)
    return None if value is None else int(value)
