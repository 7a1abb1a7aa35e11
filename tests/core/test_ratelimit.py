from __future__ import annotations

import asyncio
import secrets
import threading

import pytest

from energyapp.core.ratelimit import RateLimiter


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


async def test_in_process_hits_start_no_thread_and_old_entries_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limiter = RateLimiter.from_url(None)
    storage = limiter._strategy._strategy.storage  # type: ignore[union-attr]
    monkeypatch.setattr(type(storage), "EXPIRE_EVERY_SECONDS", 0.0)
    before = set(threading.enumerate())
    for i in range(50):
        assert (await limiter.hit("t", f"k{i}", limit=5, window_seconds=1)).allowed
    # The library would start a Timer thread. Compared as sets: a thread left by an earlier
    # test may end meanwhile, which made a count comparison flaky.
    assert set(threading.enumerate()) - before == set()
    assert sum(len(events) for events in storage.events.values()) == 50
    await asyncio.sleep(1.05)
    await limiter.hit("t", "last", limit=5, window_seconds=1)  # expires the old entries
    left = {key: events for key, events in storage.events.items() if events}
    assert list(left) == [key for key in storage.events if "/last/" in key]
