"""Rate limits behind one small interface: in-process by default, Redis when
``ENERGYAPP_REDIS_URL`` is set so several workers and hosts share the counts.

Built on the ``limits`` library (moving window). In process, its synchronous memory storage is
used: nothing in it waits on I/O, and the asyncio one expires old entries with one
``asyncio.to_thread`` per key after every hit, which was 5-10 % of the app's CPU under chat
load (profiled with py-spy)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits import strategies as sync_strategies
from limits.aio import strategies as async_strategies
from limits.aio.storage import RedisStorage
from limits.storage import MemoryStorage
from limits.util import WindowStats


@dataclass(frozen=True)
class LimitState:
    allowed: bool
    remaining: int
    retry_after: int  # seconds until one more hit is allowed (0 when allowed)


class _LoopMemoryStorage(MemoryStorage):
    """``limits``' memory storage, its old entries expired without a thread.

    The library expires them on a ``threading.Timer`` started 10 ms after any hit that finds
    none running: under chat load, about a hundred threads a second, ~4 % of the app's CPU
    (py-spy). Here the hit itself expires them, at most once a second, on the event loop's
    thread. Expiry only frees memory: a hit compares timestamps and never counts an entry
    older than its window.
    """

    EXPIRE_EVERY_SECONDS = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.timer.cancel()  # the one the constructor starts
        self._expired_at = time.monotonic()

    # Overrides the private hook the storage calls on every hit (``limits`` is pinned, and
    # tests/core/test_ratelimit.py fails if a hit starts a thread or entries are never expired).
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self._expired_at >= self.EXPIRE_EVERY_SECONDS:
            self._expired_at = now
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


class _InProcessWindow:
    """The synchronous moving-window limiter with the async strategy's interface."""

    def __init__(self) -> None:
        self._strategy = sync_strategies.MovingWindowRateLimiter(_LoopMemoryStorage())

    async def hit(self, item: RateLimitItemPerSecond, *identifiers: str) -> bool:
        return self._strategy.hit(item, *identifiers)

    async def test(self, item: RateLimitItemPerSecond, *identifiers: str) -> bool:
        return self._strategy.test(item, *identifiers)

    async def get_window_stats(
        self, item: RateLimitItemPerSecond, *identifiers: str
    ) -> WindowStats:
        return self._strategy.get_window_stats(item, *identifiers)

    async def clear(self, item: RateLimitItemPerSecond, *identifiers: str) -> None:
        self._strategy.clear(item, *identifiers)


class RateLimiter:
    """``hit`` counts one event against ``(name, key)``; ``check`` only looks."""

    def __init__(
        self, strategy: async_strategies.MovingWindowRateLimiter | _InProcessWindow
    ) -> None:
        self._strategy = strategy

    @classmethod
    def from_url(cls, redis_url: str | None) -> RateLimiter:
        if redis_url:
            uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
            storage = RedisStorage(uri, implementation="redispy")
            return cls(async_strategies.MovingWindowRateLimiter(storage))
        return cls(_InProcessWindow())

    @staticmethod
    def _item(limit: int, window_seconds: int) -> RateLimitItemPerSecond:
        return RateLimitItemPerSecond(limit, window_seconds)

    async def hit(self, name: str, key: str, *, limit: int, window_seconds: int) -> LimitState:
        item = self._item(limit, window_seconds)
        allowed = await self._strategy.hit(item, name, key)
        return await self._state(item, name, key, allowed)

    async def check(self, name: str, key: str, *, limit: int, window_seconds: int) -> LimitState:
        item = self._item(limit, window_seconds)
        allowed = await self._strategy.test(item, name, key)
        return await self._state(item, name, key, allowed)

    async def reset(self, name: str, key: str, *, limit: int, window_seconds: int) -> None:
        await self._strategy.clear(self._item(limit, window_seconds), name, key)

    async def _state(
        self, item: RateLimitItemPerSecond, name: str, key: str, allowed: bool
    ) -> LimitState:
        stats = await self._strategy.get_window_stats(item, name, key)
        retry = 0 if allowed else max(1, math.ceil(stats.reset_time - time.time()))
        return LimitState(allowed=allowed, remaining=stats.remaining, retry_after=retry)
