from __future__ import annotations

import secrets

import pytest

from energyapp.core.ratelimit import RateLimiter

pytestmark = pytest.mark.no_database


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_limit_blocks_then_recovers(backend: str) -> None:
    limiter = RateLimiter.from_url("redis://127.0.0.1:6379/15" if backend == "redis" else None)
    key = secrets.token_hex(4)
    for _ in range(3):
        assert (await limiter.hit("t", key, limit=3, window_seconds=1)).allowed
    blocked = await limiter.hit("t", key, limit=3, window_seconds=1)
    assert not blocked.allowed
    assert blocked.retry_after >= 1
    assert not (await limiter.check("t", key, limit=3, window_seconds=1)).allowed
    await limiter.reset("t", key, limit=3, window_seconds=1)
    assert (await limiter.hit("t", key, limit=3, window_seconds=1)).allowed


async def test_two_deployments_on_one_redis_count_apart() -> None:
    """``redis_prefix`` separates deployments (and test runs) on one Redis: the limiter's
    counts too, not only the broker's keys."""
    url = "redis://127.0.0.1:6379/15"
    one = RateLimiter.from_url(url, f"one-{secrets.token_hex(4)}:")
    other = RateLimiter.from_url(url, f"other-{secrets.token_hex(4)}:")
    for _ in range(2):
        assert (await one.hit("login", "ip", limit=2, window_seconds=60)).allowed
    assert not (await one.hit("login", "ip", limit=2, window_seconds=60)).allowed
    assert (await other.hit("login", "ip", limit=2, window_seconds=60)).allowed
