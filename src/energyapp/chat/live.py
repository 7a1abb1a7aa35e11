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
        "wait_seconds",
        "title",
        "final",
        "closed",
        "stop_reason",
        "saving_end",
        "task",
        "_changed",
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
        self.wait_seconds: int | None = None  # the wait expected at that place (chat/waits.py)
        self.title: str | None = None
        # ("done", payload) or ("error", payload) then ("done", payload); set once finished.
        self.final: list[tuple[str, dict[str, Any]]] | None = None
        self.closed = False  # nothing more will ever be published
        self.stop_reason: str | None = None  # "user" or "shutdown" when cancelled on purpose
        self.saving_end = False  # the generation is over and its end is being saved
        self.task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def finished(self) -> bool:
        return self.final is not None

    @property
    def status(self) -> str | None:
        """The status the answer ended with, once finished."""
        for name, data in self.final or ():
            if name == "done":
                return str(data["status"])
        return None

    def publish(self, piece: str) -> None:
        self.parts.append(piece)
        self._wake()

    def set_position(self, position: int | None, wait_seconds: int | None = None) -> None:
        if position != self.position:
            self.position = position
            self.wait_seconds = wait_seconds
            self._wake()

    def set_title(self, title: str) -> None:
        self.title = title
        self._wake()

    def finish(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        self.position = None
        self.final = events
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    async def wait(self) -> None:
        """Wait for anything new (a token, a position, the end, the title)."""
        await self._changed.wait()

    def _wake(self) -> None:
        # Every watcher waiting now wakes; later ones wait on a fresh event.
        self._changed.set()
        self._changed = asyncio.Event()


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
        """Forget a closed answer after a short retention (re-attach then reads the database),
        unless a continuation of it (``chat/continuation.py``) took its place meanwhile."""
        answer = self._answers.get(answer_id)
        loop = asyncio.get_running_loop()
        loop.call_later(self._retention, self._forget, answer_id, answer)

    def _forget(self, answer_id: uuid.UUID, answer: LiveAnswer | None) -> None:
        if answer is not None and self._answers.get(answer_id) is answer:
            del self._answers[answer_id]
