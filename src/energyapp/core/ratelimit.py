"""Rate limits behind one small interface: in-process by default, Redis when
``ENERGYAPP_REDIS_URL`` is set so several workers and hosts share the counts.

Built on the ``limits`` library (moving window). In process it uses the library's synchronous
memory storage, whose calls do no I/O: its asyncio variant expires old entries by walking every
key with a thread hop each, after every hit, which made each chat message cost several times
the CPU of the rest of its request."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits import strategies as sync_strategies
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import MemoryStorage
from limits.util import WindowStats

from energyapp.errors import TooManyRequests

logger = logging.getLogger("energyapp.ratelimit")


@dataclass(frozen=True)
class LimitState:
    allowed: bool
    retry_after: int  # seconds until one more hit is allowed (0 when allowed)


class _InProcessWindow:
    """The synchronous moving-window limiter behind the async strategy's interface."""

    def __init__(self) -> None:
        self._strategy = sync_strategies.MovingWindowRateLimiter(MemoryStorage())

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


class _RedisWindow:
    """The Redis limiter, falling back to this process's own counts while Redis is away: the
    limits still hold per process, and login, history and admin keep working."""

    def __init__(self, url: str, prefix: str) -> None:
        # The app's client settings (a dead connection replaced, the kernel's bounds), not the
        # library's bare ``from_url``. Imported here: an app without Redis never loads redis-py.
        from energyapp.core.redis import async_redis

        pool = async_redis(url).connection_pool
        # limits types its options as scalars, yet takes a pool (its ``use_basic`` pops it).
        storage = RedisStorage(
            f"async+{url}",
            implementation="redispy",
            # The deployment's own counts: two apps on one Redis (or two test runs) no longer
            # add up each other's logins under the library's shared "LIMITS" prefix.
            key_prefix=f"{prefix}limits",
            connection_pool=pool,  # type: ignore[arg-type]
        )
        self._redis = MovingWindowRateLimiter(storage)
        self._fallback = _InProcessWindow()

    def _pick(self, failed: Exception | None = None) -> MovingWindowRateLimiter | _InProcessWindow:
        if failed is not None:
            logger.warning("rate limits: Redis unreachable", extra={"error": type(failed).__name__})
        return self._fallback

    async def hit(self, item: RateLimitItemPerSecond, *identifiers: str) -> bool:
        try:
            return await self._redis.hit(item, *identifiers)
        except Exception as exc:
            return await self._pick(exc).hit(item, *identifiers)

    async def test(self, item: RateLimitItemPerSecond, *identifiers: str) -> bool:
        try:
            return await self._redis.test(item, *identifiers)
        except Exception as exc:
            return await self._pick(exc).test(item, *identifiers)

    async def get_window_stats(
        self, item: RateLimitItemPerSecond, *identifiers: str
    ) -> WindowStats:
        try:
            return await self._redis.get_window_stats(item, *identifiers)
        except Exception as exc:
            return await self._pick(exc).get_window_stats(item, *identifiers)

    async def clear(self, item: RateLimitItemPerSecond, *identifiers: str) -> None:
        try:
            await self._redis.clear(item, *identifiers)
        except Exception as exc:
            await self._pick(exc).clear(item, *identifiers)


class RateLimiter:
    """``hit`` counts one event against ``(name, key)``; ``check`` only looks."""

    def __init__(self, strategy: _RedisWindow | _InProcessWindow) -> None:
        self._strategy = strategy

    @classmethod
    def from_url(cls, redis_url: str | None, prefix: str = "energyapp:") -> RateLimiter:
        """Redis at ``redis_url`` (keys under ``prefix``, the app's ``redis_prefix``), else
        this process's memory."""
        if redis_url:
            return cls(_RedisWindow(redis_url.removeprefix("async+"), prefix))
        return cls(_InProcessWindow())

    @staticmethod
    def _item(limit: int, window_seconds: int) -> RateLimitItemPerSecond:
        return RateLimitItemPerSecond(limit, window_seconds)

    async def hit(self, name: str, key: str, *, limit: int, window_seconds: int) -> LimitState:
        item = self._item(limit, window_seconds)
        allowed = await self._strategy.hit(item, name, key)
        return await self._state(item, name, key, allowed)

    async def enforce(
        self,
        name: str,
        key: str,
        *,
        limit: int,
        window_seconds: int,
        detail: str,
        code: str = "rate_limited",
        count: bool = True,
    ) -> None:
        """Count one event; past the limit, 429 ``code`` with ``Retry-After`` and ``detail``
        (Spanish; ``{seconds}`` in it becomes the wait). ``count=False``: the same answer
        without counting (a HEAD that does none of the work)."""
        measure = self.hit if count else self.check
        state = await measure(name, key, limit=limit, window_seconds=window_seconds)
        if not state.allowed:
            raise TooManyRequests(
                detail.format(seconds=state.retry_after),
                code=code,
                retry_after=state.retry_after,
            )

    async def check(self, name: str, key: str, *, limit: int, window_seconds: int) -> LimitState:
        item = self._item(limit, window_seconds)
        allowed = await self._strategy.test(item, name, key)
        return await self._state(item, name, key, allowed)

    async def reset(self, name: str, key: str, *, limit: int, window_seconds: int) -> None:
        await self._strategy.clear(self._item(limit, window_seconds), name, key)

    async def _state(
        self, item: RateLimitItemPerSecond, name: str, key: str, allowed: bool
    ) -> LimitState:
        if allowed:  # the common case: no second look at the window (a round trip on Redis)
            return LimitState(allowed=True, retry_after=0)
        stats = await self._strategy.get_window_stats(item, name, key)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        return LimitState(allowed=False, retry_after=retry)
