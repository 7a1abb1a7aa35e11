"""Live answers: the in-memory state of answers being generated, for streaming, re-attach
and stop. Behind the small :class:`LiveAnswers` interface so a shared (Redis) registry can
replace the in-process one when several app processes serve the same users."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Protocol

# How long a finished answer stays in memory, so a re-attach right after the end is served
# without a database read.
FINISHED_RETENTION_SECONDS = 30.0


class LiveAnswer:
    """One answer being generated. Watchers read it by cursor, so any number of tabs can follow
    it and a late watcher gets the whole text so far in one piece."""

    __slots__ = (
        "id",
        "conversation_id",
        "user_id",
        "user_message_id",
        "parts",
        "position",
        "title",
        "final",
        "closed",
        "stop_reason",
        "saving_end",
        "task",
        "_waiters",
        "_end_waiters",
    )

    def __init__(
        self,
        answer_id: uuid.UUID,
        conversation_id: uuid.UUID,
        user_id: uuid.UUID,
        user_message_id: uuid.UUID,
    ) -> None:
        self.id = answer_id
        self.conversation_id = conversation_id
        self.user_id = user_id
        self.user_message_id = user_message_id
        self.parts: list[str] = []
        self.position: int | None = None  # place in the queue while waiting, None once running
        self.title: str | None = None
        # ("done", payload) or ("error", payload) then ("done", payload); set once finished.
        self.final: list[tuple[str, dict[str, Any]]] | None = None
        self.closed = False  # nothing more will ever be published
        self.stop_reason: str | None = None  # "user" or "shutdown" when cancelled on purpose
        self.saving_end = False  # the generation is over and its end is being saved
        self.task: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[bool]] = []
        self._end_waiters: list[asyncio.Future[bool]] = []  # woken by the end, not by tokens

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def finished(self) -> bool:
        return self.final is not None

    def publish(self, piece: str) -> None:
        self.parts.append(piece)
        self._wake()

    def set_position(self, position: int | None) -> None:
        if position != self.position:
            self.position = position
            self._wake()

    def set_title(self, title: str) -> None:
        self.title = title
        self._wake()

    def finish(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        self.position = None
        self.final = events
        self._wake()
        self._wake_end()

    def close(self) -> None:
        self.closed = True
        self._wake()
        self._wake_end()

    async def wait(self, seconds: float) -> bool:
        """Wait for anything new; False on timeout. Each watcher has its own future, so a
        watcher that goes away cancels nothing shared."""
        return await _wait(self._waiters, seconds)

    async def wait_for_end(self, seconds: float) -> bool:
        """Wait until the answer finishes (or is closed), ignoring new tokens; False on timeout.
        A watcher holding tokens back to send them together stops holding at the end."""
        if self.final is not None or self.closed:
            return True
        return await _wait(self._end_waiters, seconds)

    def _wake(self) -> None:
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            _resolve(waiters)

    def _wake_end(self) -> None:
        if self._end_waiters:
            waiters, self._end_waiters = self._end_waiters, []
            _resolve(waiters)


async def _wait(waiters: list[asyncio.Future[bool]], seconds: float) -> bool:
    """Wait on a future of our own that news resolves with True and a timer with False: no
    ``asyncio.timeout`` (its context manager reschedules and cancels the whole task, several
    times the cost of a timer, and a stream waits a few times per answer)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bool] = loop.create_future()
    waiters.append(future)
    timer = loop.call_later(seconds, _expire, future)
    try:
        return await future
    finally:
        timer.cancel()
        if not future.done():  # the watcher itself was cancelled (its client left)
            future.cancel()
        if future in waiters:  # not woken (timed out, cancelled): a wake would clear it
            waiters.remove(future)


def _expire(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(False)


def _resolve(waiters: list[asyncio.Future[bool]]) -> None:
    for future in waiters:
        if not future.done():
            future.set_result(True)


class LiveAnswers(Protocol):
    """Registry of the answers this deployment is generating (keyed by assistant message id)."""

    def add(self, answer: LiveAnswer) -> None: ...

    def get(self, answer_id: uuid.UUID) -> LiveAnswer | None: ...

    def running(self) -> list[LiveAnswer]: ...

    def release(self, answer_id: uuid.UUID) -> None: ...


class LocalLiveAnswers:
    """In-process registry: enough for one app process."""

    def __init__(self, retention_seconds: float = FINISHED_RETENTION_SECONDS) -> None:
        self._answers: dict[uuid.UUID, LiveAnswer] = {}
        self._retention = retention_seconds

    def add(self, answer: LiveAnswer) -> None:
        self._answers[answer.id] = answer

    def get(self, answer_id: uuid.UUID) -> LiveAnswer | None:
        return self._answers.get(answer_id)

    def running(self) -> list[LiveAnswer]:
        return [a for a in self._answers.values() if not a.finished]

    def release(self, answer_id: uuid.UUID) -> None:
        """Forget a closed answer after a short retention (re-attach then reads the database)."""
        loop = asyncio.get_running_loop()
        loop.call_later(self._retention, self._answers.pop, answer_id, None)
