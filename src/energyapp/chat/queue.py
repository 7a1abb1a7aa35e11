"""The fair generation queue: a few slots per Ollama server, round-robin across users.

Behind the small :class:`GenerationQueue` interface so a shared (Redis) queue can replace the
in-process one when several app processes use the same Ollama servers.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from energyapp.chat.slots import SlotCaches, announce, fair_order
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
        affinity: str | None = None,
    ) -> str:
        """Wait for a slot; returns the Ollama URL to use. ``user_id=None`` is background work
        (titles): it only gets a slot when no user's answer is waiting, and while it holds one,
        a user's answer that finds no free slot calls its ``on_preempt`` (the work must then
        give its slot back promptly). ``affinity`` names the conversation, whose prompt cache
        the scheduling follows (``chat/slots.py``); background work with an ``affinity`` only
        gets the slot that holds that conversation."""

    async def release(
        self,
        server: str,
        user_id: uuid.UUID | None,
        on_preempt: PreemptCallback | None = None,
        affinity: str | None = None,
    ) -> None:
        """Give back a slot taken by :meth:`acquire` for ``user_id`` (with the ``on_preempt``
        and ``affinity`` it acquired with)."""

    def waiting(self) -> int:
        """Answers of users waiting for a slot."""


@dataclass(eq=False)
class _Ticket:
    user_id: uuid.UUID | None
    on_position: PositionCallback | None
    key: str | None = None
    since: float = field(default_factory=time.monotonic)
    future: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    position: int | None = None


class LocalQueue:
    """In-process queue for one app process."""

    def __init__(
        self,
        servers: list[str],
        *,
        slots_per_server: int,
        max_queue: int,
        max_per_user: int,
        hold: float = 0.0,
    ) -> None:
        if not servers:
            raise ValueError("at least one Ollama server is needed")
        self._free: dict[str, int] = dict.fromkeys(servers, slots_per_server)
        self._caches = SlotCaches(servers, slots_per_server, hold)
        self._timer: asyncio.TimerHandle | None = None
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
        affinity: str | None = None,
    ) -> str:
        ticket = _Ticket(user_id, on_position, affinity)
        if user_id is None:
            self._background.append(ticket)
        else:
            self._by_user.setdefault(user_id, deque()).append(ticket)
        self._dispatch()
        if user_id is not None and not ticket.future.done():
            self._preempt_background()
        try:
            return self._granted(await ticket.future, on_preempt)
        except asyncio.CancelledError:
            if ticket.future.done() and not ticket.future.cancelled():
                # granted as we were cancelled
                self._release(ticket.future.result(), user_id, on_preempt, affinity)
            else:
                self._discard(ticket)
            raise

    async def release(
        self,
        server: str,
        user_id: uuid.UUID | None,
        on_preempt: PreemptCallback | None = None,
        affinity: str | None = None,
    ) -> None:
        self._release(server, user_id, on_preempt, affinity)

    def _release(
        self,
        server: str,
        user_id: uuid.UUID | None,
        on_preempt: PreemptCallback | None,
        affinity: str | None,
    ) -> None:
        if on_preempt is not None:
            self._preemptible.pop(on_preempt, None)
        self._free[server] += 1
        self._caches.vacate(server, affinity, time.monotonic())
        if user_id is not None:
            self._running_user -= 1
        self._dispatch()

    def waiting(self) -> int:
        return sum(len(q) for q in self._by_user.values())

    def cached(self) -> dict[str, list[str | None]]:
        """The conversation each slot of each server is believed to hold (diagnostics)."""
        return {
            server: [line.key for line in lines] for server, lines in self._caches.lines.items()
        }

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

    def _take(self, server: str, ticket: _Ticket) -> str:
        self._free[server] -= 1
        self._caches.occupy(server, ticket.key)
        if ticket.user_id is not None:
            self._running_user += 1
        return server

    def _dispatch(self) -> None:
        now = time.monotonic()
        while (choice := self._choose(now)) is not None:
            ticket, server = choice
            self._remove(ticket)
            ticket.future.set_result(self._take(server, ticket))
        self._renumber()
        self._schedule(now)

    def _choose(self, now: float) -> tuple[_Ticket, str] | None:
        """The next answer to send and where (``chat/slots.py``): a cached conversation first,
        then the round-robin head, unless that would evict a held slot."""
        free = [server for server, count in self._free.items() if count > 0]
        if not free:
            return None
        caches = self._caches
        order = self._fair_order()
        if not order:
            for ticket in self._background:
                if ticket.future.done():
                    continue
                server = free[0] if ticket.key is None else caches.holding(ticket.key, free)
                if server is not None:
                    return ticket, server
            return None
        overdue = any(now - ticket.since >= caches.hold for ticket in order)
        if not overdue:
            for ticket in order:
                if (server := caches.holding(ticket.key, free)) is not None:
                    return ticket, server
        head = order[0]
        if (server := caches.holding(head.key, free)) is not None:
            return head, server
        if not overdue:
            free = [server for server in free if caches.evictable(server, now)]
        server = caches.best_victim(free)
        return (head, server) if server is not None else None

    def _schedule(self, now: float) -> None:
        """Dispatch again when a held slot or a waiting answer's patience runs out."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        order = self._fair_order()
        free = [server for server, count in self._free.items() if count > 0]
        if not order or not free:
            return
        times = [ticket.since + self._caches.hold for ticket in order]
        times += [t for server in free if (t := self._caches.expires(server)) is not None]
        later = [t for t in times if t > now]
        if later:
            delay = min(later) - now + 0.001
            self._timer = asyncio.get_running_loop().call_later(delay, self._dispatch)

    def _fair_order(self) -> list[_Ticket]:
        """Waiting answers in round-robin order across users."""
        return fair_order([[t for t in q if not t.future.done()] for q in self._by_user.values()])

    def _remove(self, ticket: _Ticket) -> None:
        """Take a ticket about to be served out of the queue; its user goes last."""
        if ticket.user_id is None:
            self._background.remove(ticket)
            return
        tickets = self._by_user[ticket.user_id]
        tickets.remove(ticket)
        if tickets:
            self._by_user.move_to_end(ticket.user_id)  # round-robin: this user goes last
        else:
            del self._by_user[ticket.user_id]

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
            self._dispatch()  # a held head may have left: the next one may go

    def _renumber(self) -> None:
        """A position update to every waiting answer whose place (in the round-robin order)
        changed."""
        order = self._fair_order()
        announce(order)
        GENERATIONS_QUEUED.set(len(order))
