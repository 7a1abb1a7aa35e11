"""The app's picture of each Ollama server's prompt caches, for slot-affine scheduling.

Ollama keeps, per slot (``OLLAMA_NUM_PARALLEL``), the KV cache of the last sequence it ran. A
request whose prompt extends an idle slot's sequence reads only what is new; any other request
takes the least recently used idle slot and reads its whole prompt, evicting the conversation
that slot held. The app sends at most ``ollama_max_parallel`` requests to a server at once, as
many as its slots, so it can follow which conversation each slot holds ("lines" here) and choose
*which* waiting answer to send when a slot frees up:

- **a hit first**: a waiting answer whose conversation sits in an idle slot goes before the
  others (it costs the model a few dozen prompt tokens instead of the whole history);
- **a held slot**: while the server is busy with other answers and has a single idle slot,
  that slot is not handed to another conversation for ``hold`` seconds after it went idle, so
  that the person reading that answer finds the conversation still cached when they reply. Busy
  slots share the CPU, so the server does not write fewer tokens while one slot rests. With
  several idle slots a newcomer takes the one idle the longest: a nearly idle server never keeps
  slots while someone waits.

**The bound** (fairness): once an answer has waited ``hold`` seconds, affinity stops for the
whole queue until it is served: the queue is plain round-robin again, no hit passes it, and it may
take any idle slot. Affinity never keeps a server idle while answers wait for it. ``hold = 0``
turns affinity off (plain round-robin, as every answer has waited long enough).

The same rules run in Lua for the shared queue (``chat/redis_scripts.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

T = TypeVar("T")
logger = logging.getLogger("energyapp.chat")


@dataclass
class Line:
    """One slot of one server, as the app believes it is."""

    key: str | None = None  # the conversation whose sequence its cache holds
    busy: bool = False
    idle_since: float = 0.0  # monotonic seconds; 0: never used (nothing worth keeping)


class SlotCaches:
    def __init__(self, servers: list[str], slots_per_server: int, hold: float) -> None:
        self.hold = hold
        self.lines: dict[str, list[Line]] = {
            server: [Line() for _ in range(slots_per_server)] for server in servers
        }

    def holding(self, key: str | None, servers: list[str]) -> str | None:
        """The server among ``servers`` with an idle slot that holds ``key``."""
        if key is None:
            return None
        for server in servers:
            if any(not line.busy and line.key == key for line in self.lines[server]):
                return server
        return None

    def victim(self, server: str) -> Line | None:
        """The idle slot a request without a cached conversation takes (Ollama's choice: the
        least recently used)."""
        idle = [line for line in self.lines[server] if not line.busy]
        return min(idle, key=lambda line: line.idle_since) if idle else None

    def evictable(self, server: str, now: float) -> bool:
        """May a request without a cached conversation take ``server``'s victim slot now?"""
        line = self.victim(server)
        if line is None:
            return False
        if line.key is None or now - line.idle_since >= self.hold:
            return True
        lines = self.lines[server]
        if sum(not other.busy for other in lines) > 1:  # one slot is kept, not several
            return True
        return not any(other.busy for other in lines)  # never leave a server idle

    def best_victim(self, servers: list[str]) -> str | None:
        """The server whose victim slot is the cheapest to lose: empty, or idle the longest."""
        found = [(line.idle_since, server) for server in servers if (line := self.victim(server))]
        return min(found)[1] if found else None

    def expires(self, server: str) -> float | None:
        """When ``server``'s victim slot stops being held."""
        line = self.victim(server)
        return None if line is None or line.key is None else line.idle_since + self.hold

    def occupy(self, server: str, key: str | None) -> None:
        lines = self.lines[server]
        line = next((ln for ln in lines if not ln.busy and key and ln.key == key), None)
        line = line or self.victim(server)
        if line is None:  # more requests than slots (should not happen): nothing to follow
            return
        line.busy, line.key = True, key

    def vacate(self, server: str, key: str | None, now: float) -> None:
        lines = self.lines[server]
        line = next((ln for ln in lines if ln.busy and ln.key == key), None)
        line = line or next((ln for ln in lines if ln.busy), None)
        if line is not None:
            line.busy, line.idle_since = False, now


class Alarm:
    """Runs ``work`` once when the earliest hold or patience the queue reported runs out (each
    new report replaces the last: it was computed from the newest state)."""

    def __init__(self, work: Callable[[], Awaitable[None]]) -> None:
        self._work = work
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()

    def set(self, delay_ms: int | None) -> None:
        """Ring in ``delay_ms`` (None or negative: nothing to wait for)."""
        if delay_ms is None or int(delay_ms) < 0:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(int(delay_ms) / 1000, self._ring)

    def _ring(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self._run())
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self) -> None:
        try:
            await self._work()
        except Exception as exc:  # the broker's tick dispatches again
            logger.warning("dispatching the queue failed", extra={"error": type(exc).__name__})

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in self._running:
            task.cancel()


class Waiting(Protocol):
    position: int | None
    on_position: Callable[[int | None], None] | None


def announce(order: Sequence[Waiting | None]) -> None:
    """Tell each waiting answer in ``order`` (None: another process's) its place, if it
    changed."""
    for position, waiter in enumerate(order, start=1):
        if waiter is not None and waiter.position != position:
            waiter.position = position
            if waiter.on_position is not None:
                waiter.on_position(position)


def fair_order(queues: list[list[T]]) -> list[T]:
    """Waiting answers in round-robin order: every user's first, then every user's second..."""
    order: list[T] = []
    depth = 0
    while any(depth < len(q) for q in queues):
        order += [q[depth] for q in queues if depth < len(q)]
        depth += 1
    return order
