"""What the chat engine shares with the other app processes, behind one small interface.

:class:`LocalBroker` is the embedded default (one process, no Redis): the queue is in memory
and watchers follow the answer object itself. :class:`energyapp.chat.redis_broker.RedisBroker`
shares the queue, each answer's events, stop and crash recovery through Redis, so any process
on any host can serve any client. The engine, the routers and the services cannot tell which
one runs. Each carries its count of the streams people have open (``chat/watchers.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

import anyio
from sse_starlette import ServerSentEvent

from energyapp.chat import sse
from energyapp.chat.board import LocalStopClaims, StopClaims, Work
from energyapp.chat.live import LiveAnswer
from energyapp.chat.queue import GenerationQueue
from energyapp.chat.watchers import Watchers

if TYPE_CHECKING:
    from energyapp.chat.engine import ChatEngine


class Broker(Protocol):
    @property
    def queue(self) -> GenerationQueue: ...

    @property
    def watchers(self) -> Watchers:
        """The count of the answer streams each person has open (``chat/watchers.py``)."""

    @property
    def stops(self) -> StopClaims:
        """Who is stopping which work of the board, across every process."""

    @property
    def shared(self) -> bool:
        """Several processes: drain on shutdown instead of interrupting."""

    async def start(self, engine: ChatEngine) -> None:
        """Start the background work (heartbeat, listener, crash recovery)."""

    async def close(self) -> None: ...

    async def claim(self, answer: LiveAnswer, *, again: bool = False) -> None:
        """This process will generate ``answer`` (called before its rows are committed).
        ``again``: an answer generated before, now continued (``chat/continuation.py``): its
        events start anew, and 409 ``answer_closing`` while its previous generation is still
        open somewhere (its title being written)."""

    def publish(self, answer: LiveAnswer) -> None:
        """The generation of ``answer`` starts: make its events visible to every watcher."""

    async def disown(self, answer_id: uuid.UUID) -> None:
        """``answer`` is over."""

    async def abandon(self, answer_id: uuid.UUID) -> None:
        """The request that claimed ``answer`` failed: it was never stored."""

    async def follow(
        self,
        answer_id: uuid.UUID,
        first: ServerSentEvent,
        last_event_id: str | None,
        closing: anyio.Event | None,
        running: bool = True,
    ) -> AsyncIterator[ServerSentEvent] | None:
        """The events of a live answer from the start (or after ``last_event_id``), or None
        when no process is generating it (nor keeps its events after ``last_event_id``).
        ``running``: the database says it is being written."""

    async def stop_elsewhere(self, answer_id: uuid.UUID, reason: str = "user") -> str | None:
        """Stop an answer that another process generates; its final status, or None (an API
        answer, whose events no stream keeps, is only asked to stop)."""

    async def stop_elsewhere_answers_of(self, user_id: uuid.UUID) -> None:
        """Ask the other processes to stop every answer they generate for ``user_id`` (the
        API's too, which no database row names)."""

    async def work(self) -> list[Work]:
        """What every process sends through the queue now (``chat/board.py``)."""

    async def announce_credentials_ended(self, user_id: uuid.UUID) -> None:
        """Ask the other processes to check now the credentials of ``user_id``'s open streams
        (``chat/revocation.py``)."""


class LocalBroker:
    """One process: the engine's own registry is the whole truth."""

    shared = False

    def __init__(self, queue: GenerationQueue, watchers: Watchers) -> None:
        self.queue = queue
        self.watchers = watchers
        self.stops = LocalStopClaims()
        self._engine: ChatEngine | None = None

    async def start(self, engine: ChatEngine) -> None:
        self._engine = engine

    async def close(self) -> None:
        return None

    async def claim(self, answer: LiveAnswer, *, again: bool = False) -> None:
        # One process: the continuation checks this process's own registry.
        del again
        return None

    def publish(self, answer: LiveAnswer) -> None:
        return None

    async def disown(self, answer_id: uuid.UUID) -> None:
        return None

    async def abandon(self, answer_id: uuid.UUID) -> None:
        return None

    async def follow(
        self,
        answer_id: uuid.UUID,
        first: ServerSentEvent,
        last_event_id: str | None,
        closing: anyio.Event | None,
        running: bool = True,
    ) -> AsyncIterator[ServerSentEvent] | None:
        # One process: a reload replays the answer from the start, from the answer object.
        del last_event_id, closing, running
        assert self._engine is not None
        live = self._engine.live.get(answer_id)
        return sse.follow(live, first) if live is not None else None

    async def stop_elsewhere(self, answer_id: uuid.UUID, reason: str = "user") -> str | None:
        return None

    async def stop_elsewhere_answers_of(self, user_id: uuid.UUID) -> None:
        return None

    async def announce_credentials_ended(self, user_id: uuid.UUID) -> None:
        return None

    async def work(self) -> list[Work]:
        assert self._engine is not None
        return self._engine.board.items()
