"""The app's Redis client never loses a cancellation (core/redis.py explains how a client with a
socket timeout does on Python 3.11), replaces a connection a Redis restart killed, and the chat
broker, the rate limits and the health check use it."""

from __future__ import annotations

import asyncio
import random
import socket

from energyapp.chat.lifecycle import make_broker
from energyapp.chat.redis_broker import RedisBroker
from energyapp.config import Settings
from energyapp.core.ratelimit import RateLimiter
from energyapp.core.redis import async_redis
from tests.conftest import TEST_REDIS_URL
from tests.private_redis import private_redis

ROUNDS = 150


async def test_a_task_talking_to_redis_stops_when_cancelled() -> None:
    client = async_redis(TEST_REDIS_URL, decode_responses=True)
    rng = random.Random(7)
    lost = 0

    async def busy() -> None:
        while True:
            await client.get("energyapp-test-cancel")
            async with client.pipeline(transaction=False) as pipe:
                pipe.get("energyapp-test-cancel").lrange("energyapp-test-cancel-list", 0, -1)
                await pipe.execute()
            await asyncio.sleep(0)

    try:
        for _ in range(ROUNDS):
            task = asyncio.create_task(busy())
            await asyncio.sleep(rng.random() * 0.004)  # lands anywhere in a command
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=2)
            if not done:
                lost += 1
                task.cancel()  # the cancellation was lost: ask again to clean up
                await asyncio.wait([task], timeout=2)
    finally:
        await client.aclose()
    assert lost == 0, f"{lost} of {ROUNDS} cancellations were lost"


async def test_the_broker_talks_to_redis_through_that_client(settings: Settings) -> None:
    broker = make_broker(settings.model_copy(update={"redis_url": TEST_REDIS_URL}))
    assert isinstance(broker, RedisBroker)
    options = broker.redis.connection_pool.connection_kwargs
    assert options["socket_timeout"] is None
    # The kernel bounds what the socket timeout no longer does (a partitioned peer).
    connection = await broker.redis.connection_pool.get_connection()
    try:
        sock = connection._writer.get_extra_info("socket")  # type: ignore[union-attr]
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.SOL_TCP, socket.TCP_USER_TIMEOUT) == 10_000
        assert sock.getsockopt(socket.SOL_TCP, socket.TCP_KEEPIDLE) == 10
    finally:
        await broker.redis.connection_pool.release(connection)
        await broker.redis.aclose()


async def test_every_connection_left_from_before_a_redis_restart_works_after_it() -> None:
    """Found by CI: after a restart each pooled connection failed its next command (redis-py's
    ``from_url`` retries nothing), so the chat refused questions as ``broker_unavailable``."""
    async with private_redis() as (url, restart):
        client = async_redis(url, decode_responses=True)
        try:
            # Three connections in the pool, all of them dead once the server restarts.
            await asyncio.gather(*(client.blpop([f"wait{n}"], timeout=0.2) for n in range(3)))
            assert len(client.connection_pool._available_connections) == 3
            await restart()
            assert await asyncio.gather(*(client.incr(f"n{n}") for n in range(3))) == [1, 1, 1]
        finally:
            await client.aclose()


async def test_the_rate_limits_count_in_redis_again_right_after_a_restart() -> None:
    async with private_redis() as (url, restart):
        limiter = RateLimiter.from_url(url)
        check = async_redis(url, decode_responses=True)
        try:
            await limiter.hit("chat", "ana", limit=5, window_seconds=60)
            await restart()
            await limiter.hit("chat", "ana", limit=5, window_seconds=60)
            # Counted in the new server, not in this process's fallback.
            assert await check.keys("*chat*ana*") != []
        finally:
            await check.aclose()
