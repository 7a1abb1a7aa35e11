"""An open answer stream ends when the session or API key that opened it ends.

The answer itself goes on and is saved (it belongs to its owner, who can follow it again from
another valid session); only the stream to that client ends, with a last event that says why.

The row is the truth: every guarded stream checks its session (``auth_sessions``) or its key
(``api_keys``) again every :data:`RECHECK_SECONDS` (the ping's cadence), in a short transaction
of its own: never the request's session, which would stay open for the whole answer. That bounds
how long a stream outlives its credential, whichever process or command (``energyapp
reset-password``) ended it and whether Redis answers or not.

A notice makes it prompt: once a transaction that ends a session or a key is committed
(``auth.service.announce_credentials_ended``), the engine wakes this process's streams of that
person and the broker tells the other processes (``creds <user id>`` on the Redis channel);
each woken stream checks its own row at once. The notice carries no authority: a stream of
another session of the same person checks, finds its row open and goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio
from sse_starlette import ServerSentEvent

from energyapp.auth import service as auth_service
from energyapp.chat import sse

if TYPE_CHECKING:
    from energyapp.chat.engine import ChatEngine

logger = logging.getLogger("energyapp.chat")

RECHECK_SECONDS = 15.0  # as sse.PING_INTERVAL: the bound after a missed notice

_T = TypeVar("_T")

SESSION_ENDED = "session_ended"
SESSION_ENDED_DETAIL = "Su sesión terminó. Inicie sesión de nuevo para seguir viendo la respuesta."


@dataclass(frozen=True, slots=True)
class _Item(Generic[_T]):
    value: _T


@dataclass(frozen=True, slots=True)
class _Failed:
    error: Exception


_END = object()


class StreamGuards:
    """The guarded streams of this process, by person: what a notice wakes."""

    def __init__(self) -> None:
        self._by_user: dict[uuid.UUID, set[asyncio.Event]] = {}
        self.recheck_seconds = RECHECK_SECONDS

    def wake(self, user_id: uuid.UUID) -> None:
        """Every stream of ``user_id`` here checks its credential now."""
        for woken in self._by_user.get(user_id, ()):
            woken.set()

    @contextlib.contextmanager
    def _listening(self, user_id: uuid.UUID) -> Iterator[asyncio.Event]:
        woken = asyncio.Event()
        self._by_user.setdefault(user_id, set()).add(woken)
        try:
            yield woken
        finally:
            held = self._by_user.get(user_id, set())
            held.discard(woken)
            if not held:
                self._by_user.pop(user_id, None)

    async def guarded(
        self,
        events: AsyncIterator[_T],
        user_id: uuid.UUID,
        holds: Callable[[], Awaitable[bool]],
        final: _T,
    ) -> AsyncIterator[_T]:
        """``events`` while ``holds()`` (the credential is still valid); once it is not,
        ``final`` and the end. ``events`` are read by a task of their own, so that a stream
        waiting for its next token still hears the notice; they are closed either way."""
        with self._listening(user_id) as woken:
            queue: asyncio.Queue[_Item[_T] | _Failed | object] = asyncio.Queue(maxsize=1)
            pump = asyncio.ensure_future(_pump(events, queue))
            check = _Check(holds, woken, self.recheck_seconds)
            try:
                while True:
                    item = await check.next_of(queue)
                    if item is None:
                        yield final
                        return
                    if isinstance(item, _Failed):
                        raise item.error
                    if not isinstance(item, _Item):
                        return
                    yield item.value
            finally:
                # Shielded: a client that left cancels the response's tasks, and the events'
                # own clean-up (a slot given back, a Redis read left to end) must still run.
                with anyio.CancelScope(shield=True):
                    pump.cancel()
                    await asyncio.wait({pump})


class _Check:
    """When one stream checks its credential: woken by a notice, or every ``period``."""

    def __init__(
        self, holds: Callable[[], Awaitable[bool]], woken: asyncio.Event, period: float
    ) -> None:
        self._holds = holds
        self._woken = woken
        self._period = period
        self._due = asyncio.get_running_loop().time() + period

    async def next_of(self, queue: asyncio.Queue[_Item[_T] | _Failed | object]) -> object | None:
        """The next item of ``queue``, or None once the credential no longer holds."""
        loop = asyncio.get_running_loop()
        getter = asyncio.ensure_future(queue.get())
        try:
            while True:
                # A check that is due goes first: events always ready (a fast answer, a slow
                # reader) must not keep a stream from ever hearing that its credential ended.
                if not self._woken.is_set() and loop.time() < self._due:
                    waiter = asyncio.ensure_future(self._woken.wait())
                    timeout = max(0.0, self._due - loop.time())
                    try:
                        await asyncio.wait(
                            {getter, waiter}, timeout=timeout, return_when="FIRST_COMPLETED"
                        )
                    finally:
                        waiter.cancel()
                    if getter.done():
                        return getter.result()
                    if not self._woken.is_set() and loop.time() < self._due:
                        continue
                self._woken.clear()
                self._due = loop.time() + self._period
                if not await self._still_holds():
                    return None
        finally:
            # A cancelled get leaves its item in the queue; the pump is cancelled next.
            getter.cancel()

    async def _still_holds(self) -> bool:
        try:
            return await self._holds()
        except Exception as exc:  # the database away: new requests fail; this one goes on
            logger.warning("stream credential check failed", extra={"error": type(exc).__name__})
            return True


async def _pump(
    events: AsyncIterator[_T], queue: asyncio.Queue[_Item[_T] | _Failed | object]
) -> None:
    try:
        async for event in events:
            await queue.put(_Item(event))
    except Exception as exc:
        await queue.put(_Failed(exc))
        return
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
    await queue.put(_END)


def until_session_ends(
    engine: ChatEngine,
    events: AsyncIterator[ServerSentEvent],
    user_id: uuid.UUID,
    session_id: uuid.UUID,
) -> AsyncIterator[ServerSentEvent]:
    """The events of a web answer stream until the session that opened it ends: then
    ``error`` ``session_ended`` (the web UI goes to the login with its message)."""

    async def holds() -> bool:
        async with engine.sessionmaker() as session:
            return await auth_service.session_is_open(session, session_id)

    final = sse.event("error", {"detail": SESSION_ENDED_DETAIL, "code": SESSION_ENDED})
    return engine.guards.guarded(events, user_id, holds, final)
