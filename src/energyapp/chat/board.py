"""What this process sends through the queue right now, for the admins' "Estado" tab
(``admin/status.py``): who, which kind of work, since when, and its place in the queue or that
it is being written. Never a message's content.

The queue itself knows tickets, not people or kinds (and in Redis a running ticket is only a
member of a slot set), so each place that waits for a slot (``runner.py``, ``titles.py``,
``openai_api/service.py``) tracks its work here. With the Redis broker every process publishes
its board (``chat/redis_board.py``) and the status reads them all; the positions are the shared
queue's already (``RedisQueue._renumber``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from energyapp.errors import ServiceUnavailable

WorkKind = Literal["chat", "continuation", "api", "title"]

# How an answer an admin stopped from the "Estado" tab ends (``admin/status_stop.py``): a web
# answer is saved ``stopped`` with this ``error_code``, its stream gets this ``error`` event; an
# API answer fails with it (503).
STOPPED_BY_ADMIN = "stopped_by_admin"
STOPPED_BY_ADMIN_DETAIL = "Un administrador detuvo esta respuesta."


# How long an admin's claim of stopping a work lasts unless released: longer than any stop
# waits (``STOP_WAIT_SECONDS``, ``STOP_CONFIRM_SECONDS``), so only its claimer releases it; a
# work's id is never reused, so a claim kept after the stop refuses nothing else.
STOP_CLAIM_SECONDS = 60.0


def stopped_by_admin() -> ServiceUnavailable:
    return ServiceUnavailable(STOPPED_BY_ADMIN_DETAIL, code=STOPPED_BY_ADMIN)


class StopClaims(Protocol):
    """Who is stopping a work of the board (``admin/status_stop.py``): two admins, or a double
    click, on any process, stop it once. A claim lasts ``STOP_CLAIM_SECONDS`` unless released."""

    async def claim(self, work_id: str) -> bool:
        """True when nobody is stopping ``work_id`` (nor stopped it in the last minute)."""

    async def release(self, work_id: str) -> None:
        """The stop did not happen (the work had ended, the broker failed): others may try."""


class LocalStopClaims:
    """The embedded default's claims (one process): work id -> when its claim expires."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._until: dict[str, float] = {}
        self._clock = clock

    async def claim(self, work_id: str) -> bool:
        now = self._clock()
        self._until = {w: until for w, until in self._until.items() if until > now}
        if work_id in self._until:
            return False
        self._until[work_id] = now + STOP_CLAIM_SECONDS
        return True

    async def release(self, work_id: str) -> None:
        self._until.pop(work_id, None)


@dataclass(eq=False)
class Work:
    """One answer (or title) waiting for a slot or being written."""

    user_id: uuid.UUID | None  # None: background work (a title)
    kind: WorkKind
    since: float = field(default_factory=time.time)  # wall clock (Redis's in redis_board.py)
    position: int | None = None  # place in the queue while waiting (1: next)
    running: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # What stops it (``ChatEngine.stop_answer``): the answer's message id for the web chat, its
    # request's id for the API (``chat/request_answers.py``); None for a title, which already
    # yields its slot to anyone who asks (``chat/titles.py``).
    answer_id: uuid.UUID | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["user_id"] = str(self.user_id) if self.user_id is not None else None
        data["answer_id"] = str(self.answer_id) if self.answer_id is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Work:
        user, answer = data.get("user_id"), data.get("answer_id")
        return cls(
            user_id=uuid.UUID(user) if user else None,
            kind=data["kind"],
            since=float(data["since"]),
            position=data.get("position"),
            running=bool(data.get("running")),
            id=str(data["id"]),
            answer_id=uuid.UUID(answer) if answer else None,
        )


class Board:
    """This process's work through the queue."""

    def __init__(self) -> None:
        self._work: dict[str, Work] = {}
        self._listeners: list[Callable[[], None]] = []

    def listen(self, callback: Callable[[], None]) -> None:
        """``callback`` runs after every change (the Redis board publishes then)."""
        self._listeners.append(callback)

    def items(self) -> list[Work]:
        return list(self._work.values())

    @contextmanager
    def track(
        self, user_id: uuid.UUID | None, kind: WorkKind, answer_id: uuid.UUID | None = None
    ) -> Iterator[Work]:
        """The work is on the board from the moment it asks for a slot until it ends."""
        work = Work(user_id, kind, answer_id=answer_id)
        self._work[work.id] = work
        self._changed()
        try:
            yield work
        finally:
            del self._work[work.id]
            self._changed()

    def moved(self, work: Work, position: int | None) -> None:
        """A new place in the queue (the queue's position callback)."""
        if work.position != position:
            work.position = position
            self._changed()

    def started(self, work: Work) -> None:
        """The work got a slot: it is being written from now."""
        work.position, work.running, work.since = None, True, time.time()
        self._changed()

    def _changed(self) -> None:
        for callback in self._listeners:
            callback()
