"""The fair generation queue: a few slots per Ollama server, round-robin across users.

Behind the small :class:`GenerationQueue` interface so a shared (Redis) queue can replace the
in-process one when several app processes use the same Ollama servers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from energyapp.core.metrics import GENERATIONS_QUEUED
from energyapp.errors import ServiceUnavailable, TooManyRequests

PositionCallback = Callable[[int | None], None]
PreemptCallback = Callable[[], None]


def in_progress_error() -> TooManyRequests:
    return TooManyRequests(
        "Ya tiene una respuesta en curso. Espere a que termine o deténgala antes de "
        "enviar otro mensaje.",
        code="generation_in_progress",
        retry_after=5,
    )


def busy_error() -> ServiceUnavailable:
    return ServiceUnavailable(
        "El asistente está atendiendo a muchas personas en este momento. Intente de "
        "nuevo en un minuto.",
        code="busy",
        retry_after=30,
    )


def broker_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "El servicio de coordinación del chat no está disponible en este momento. Su mensaje "
        "no se envió; intente de nuevo en unos segundos. El historial sigue disponible.",
        code="broker_unavailable",
        retry_after=10,
    )


class GenerationQueue(Protocol):
    async def admit(self, user_id: uuid.UUID) -> None:
        """Reserve a place for one more answer of ``user_id`` or raise 429/503."""

    async def leave(self, user_id: uuid.UUID) -> None:
        """Give back the place reserved by :meth:`admit` (the answer ended)."""

    async def acquire(
        self,
        user_id: uuid.UUID | None,
        on_position: PositionCallback | None = None,
        on_preempt: PreemptCallback | None = None,
    ) -> str:
        """Wait for a slot; returns the Ollama URL to use. ``user_id=None`` is background work
        (titles): it only gets a slot when no user's answer is waiting, and while it holds one,
        a user's answer that finds no free slot calls its ``on_preempt`` (the work must then
        give its slot back promptly)."""

    async def release(
        self, server: str, user_id: uuid.UUID | None, on_preempt: PreemptCallback | None = None
    ) -> None:
        """Give back a slot taken by :meth:`acquire` for ``user_id`` (background work passes
        the ``on_preempt`` it acquired with)."""

    def waiting(self) -> int:
        """Answers of users waiting for a slot."""


@dataclass(eq=False)
class _Ticket:
    user_id: uuid.UUID | None
    on_position: PositionCallback | None
    future: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    position: int | None = None


class LocalQueue:
    """In-process queue for one app process."""

    def __init__(
        self, servers: list[str], *, slots_per_server: int, max_queue: int, max_per_user: int
    ) -> None:
        if not servers:
            raise ValueError("at least one Ollama server is needed")
        self._free: dict[str, int] = dict.fromkeys(servers, slots_per_server)
        self._max_queue = max_queue
        self._max_per_user = max_per_user
        self._by_user: OrderedDict[uuid.UUID, deque[_Ticket]] = OrderedDict()
        self._background: deque[_Ticket] = deque()
        self._reserved: dict[uuid.UUID, int] = {}
        self._reserved_total = 0
        self._running_user = 0
        # Background work holding a slot, by its preemption callback (oldest first).
        self._preemptible: dict[PreemptCallback, str] = {}

    # --- admission ---------------------------------------------------------------------------

    async def admit(self, user_id: uuid.UUID) -> None:
        if self._reserved.get(user_id, 0) >= self._max_per_user:
            raise in_progress_error()
        if self._reserved_total - self._running_user >= self._max_queue:
            raise busy_error()
        self._reserved[user_id] = self._reserved.get(user_id, 0) + 1
        self._reserved_total += 1

    async def leave(self, user_id: uuid.UUID) -> None:
        count = self._reserved.get(user_id, 0)
        if count <= 1:
            self._reserved.pop(user_id, None)
        else:
            self._reserved[user_id] = count - 1
        if count:
            self._reserved_total -= 1

    # --- slots -------------------------------------------------------------------------------

    async def acquire(
        self,
        user_id: uuid.UUID | None,
        on_position: PositionCallback | None = None,
        on_preempt: PreemptCallback | None = None,
    ) -> str:
        server = self._free_server()
        if server is not None and not self._by_user and (user_id or not self._background):
            return self._granted(self._take(server, user_id), on_preempt)
        ticket = _Ticket(user_id, on_position)
        if user_id is None:
            self._background.append(ticket)
        else:
            self._by_user.setdefault(user_id, deque()).append(ticket)
            self._renumber()
            self._preempt_background()
        try:
            return self._granted(await ticket.future, on_preempt)
        except asyncio.CancelledError:
            if ticket.future.done() and not ticket.future.cancelled():
                # granted as we were cancelled
                self._release(ticket.future.result(), user_id, on_preempt)
            else:
                self._discard(ticket)
            raise

    async def release(
        self, server: str, user_id: uuid.UUID | None, on_preempt: PreemptCallback | None = None
    ) -> None:
        self._release(server, user_id, on_preempt)

    def _release(
        self, server: str, user_id: uuid.UUID | None, on_preempt: PreemptCallback | None
    ) -> None:
        if on_preempt is not None:
            self._preemptible.pop(on_preempt, None)
        self._free[server] += 1
        if user_id is not None:
            self._running_user -= 1
        self._dispatch()

    def waiting(self) -> int:
        return sum(len(q) for q in self._by_user.values())

    # --- internals ---------------------------------------------------------------------------

    def _granted(self, server: str, on_preempt: PreemptCallback | None) -> str:
        if on_preempt is not None:
            self._preemptible[on_preempt] = server
        return server

    def _preempt_background(self) -> None:
        """A user's answer is waiting: ask the oldest background work holding a slot (a title)
        to give it back. Titles must never delay an answer (on a CPU server a title can take
        seconds, mostly reading the answer it names)."""
        if self._free_server() is None and self._preemptible:
            callback = next(iter(self._preemptible))
            del self._preemptible[callback]
            callback()

    def _free_server(self) -> str | None:
        for server, free in self._free.items():
            if free > 0:
                return server
        return None

    def _take(self, server: str, user_id: uuid.UUID | None) -> str:
        self._free[server] -= 1
        if user_id is not None:
            self._running_user += 1
        return server

    def _dispatch(self) -> None:
        changed = False
        while (server := self._free_server()) is not None:
            ticket = self._next_ticket()
            if ticket is None:
                break
            changed = changed or ticket.user_id is not None
            ticket.future.set_result(self._take(server, ticket.user_id))
        if changed:
            self._renumber()

    def _next_ticket(self) -> _Ticket | None:
        while self._by_user:
            user_id, tickets = next(iter(self._by_user.items()))
            ticket = tickets.popleft()
            if tickets:
                self._by_user.move_to_end(user_id)  # round-robin: this user goes last
            else:
                del self._by_user[user_id]
            if not ticket.future.done():
                return ticket
        while self._background:
            ticket = self._background.popleft()
            if not ticket.future.done():
                return ticket
        return None

    def _discard(self, ticket: _Ticket) -> None:
        if ticket.user_id is None:
            if ticket in self._background:
                self._background.remove(ticket)
            return
        tickets = self._by_user.get(ticket.user_id)
        if tickets is not None and ticket in tickets:
            tickets.remove(ticket)
            if not tickets:
                del self._by_user[ticket.user_id]
            self._renumber()

    def _renumber(self) -> None:
        """The order in which waiting answers will be served (round-robin across users), and
        a position update to every waiting answer whose place changed."""
        queues = list(self._by_user.values())
        position = 0
        depth = 0
        while True:
            served_any = False
            for tickets in queues:
                if depth < len(tickets):
                    served_any = True
                    position += 1
                    ticket = tickets[depth]
                    if ticket.position != position:
                        ticket.position = position
                        if ticket.on_position is not None:
                            ticket.on_position(position)
            if not served_any:
                break
            depth += 1
        GENERATIONS_QUEUED.set(position)
