"""Rate limits behind one small interface: in-process by default, Redis when
``ENERGYAPP_REDIS_URL`` is set so several workers and hosts share the counts.

Built on the ``limits`` library (moving window), with its async memory or Redis storage."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class LimitState:
    allowed: bool
    remaining: int
    retry_after: int  # seconds until one more hit is allowed (0 when allowed)


class RateLimiter:
    """``hit`` counts one event against ``(name, key)``; ``check`` only looks."""

    def __init__(self, strategy: MovingWindowRateLimiter) -> None:
        self._strategy = strategy

    @classmethod
    def from_url(cls, redis_url: str | None) -> RateLimiter:
        if redis_url:
            uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
            return cls(MovingWindowRateLimiter(RedisStorage(uri, implementation="redispy")))
        return cls(MovingWindowRateLimiter(MemoryStorage()))

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
