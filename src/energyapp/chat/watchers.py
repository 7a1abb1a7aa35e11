"""How many answer streams each person follows at once, capped (``max_streams_per_user``).

Re-attaching to a live answer (``GET /chat/{id}/stream``: another tab, a reload) holds a
connection and a task for as long as the answer runs, and with the shared broker a Redis
connection blocked on the answer's events. A person may hold ``max_streams_per_user`` of them
at once, on every process together; one more is 429 ``too_many_streams`` with ``Retry-After``.
The count goes down when a stream ends, fails or its client leaves.

``POST /chat``'s own stream does not count (``max_active_per_user`` already bounds the answers a
person runs), nor does the replay of a finished answer (a few events read from the database).

:class:`LocalWatchers` counts in this process (the embedded default);
:class:`energyapp.chat.redis_watchers.RedisWatchers` counts for every process in Redis. The
broker carries the one that runs (``Broker.watchers``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import anyio
from sse_starlette import ServerSentEvent

from energyapp.errors import TooManyRequests

RETRY_AFTER_SECONDS = 10


def too_many_streams(limit: int) -> TooManyRequests:
    return TooManyRequests(
        f"Ya sigue {limit} respuestas abiertas a la vez, el máximo. Cierre las pestañas o "
        "ventanas de EnergyApp que no use e intente de nuevo.",
        code="too_many_streams",
        retry_after=RETRY_AFTER_SECONDS,
    )


class Watch:
    """One counted stream; :meth:`end` gives its place back, once, whoever calls it first."""

    def __init__(self, give_back: Callable[[], Awaitable[None]]) -> None:
        self._give_back = give_back
        self._ended = False

    async def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        # Shielded: a client that left cancels the response's tasks, and this must still run.
        with anyio.CancelScope(shield=True):
            await self._give_back()


class Watchers(Protocol):
    limit: int

    async def open(self, user_id: uuid.UUID) -> Watch:
        """Count one more stream of ``user_id``; 429 ``too_many_streams`` at the limit."""


class LocalWatchers:
    """The count in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[uuid.UUID, int] = {}

    async def open(self, user_id: uuid.UUID) -> Watch:
        count = self._open.get(user_id, 0)
        if count >= self.limit:
            raise too_many_streams(self.limit)
        self._open[user_id] = count + 1
        return Watch(lambda: self._close(user_id))

    async def _close(self, user_id: uuid.UUID) -> None:
        left = self._open.get(user_id, 0) - 1
        if left > 0:
            self._open[user_id] = left
        else:
            self._open.pop(user_id, None)


async def counted(
    events: AsyncIterator[ServerSentEvent], watch: Watch
) -> AsyncIterator[ServerSentEvent]:
    """``events``, ending ``watch`` when they end, fail or are closed (the client left)."""
    try:
        async for event in events:
            yield event
    finally:
        await watch.end()
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
