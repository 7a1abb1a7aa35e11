"""The shared queue on a real Redis, two "processes" (two queues with their own leases): a
background holder is preempted by a user of another process, a dead process's slot comes
back when its lease expires, and admission limits count every process."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from energyapp.chat.redis_broker import BrokerKeys
from energyapp.chat.redis_queue import RedisQueue
from energyapp.errors import ServiceUnavailable, TooManyRequests

REDIS_URL = "redis://127.0.0.1:6379/14"
SERVER = "http://ollama-a"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    client.prefix = prefix  # type: ignore[attr-defined]
    yield client
    keys = [key async for key in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def process(redis: Redis, name: str, *, lease_ms: int = 60_000, **limits: int) -> RedisQueue:
    keys = BrokerKeys(redis.prefix, name)  # type: ignore[attr-defined]
    await redis.set(keys.lease(name), "1", px=lease_ms)
    settings = {"slots_per_server": 1, "max_queue": 10, "max_per_user": 5, **limits}
    return RedisQueue(redis, keys, [SERVER], **settings)


async def granted(queue: RedisQueue, task: asyncio.Task[str], seconds: float = 5.0) -> str:
    """What a process's broker does on a notification or a tick, until ``task`` has its slot."""
    for _ in range(int(seconds / 0.05)):
        await queue.dispatch()
        await queue.check_waiters()
        if task.done():
            return task.result()
        await asyncio.sleep(0.05)
    raise AssertionError("no slot granted")


async def test_a_title_on_one_process_gives_way_to_a_user_on_another(redis: Redis) -> None:
    a = await process(redis, "a")
    b = await process(redis, "b")
    preempted: list[str] = []

    def give_way() -> None:
        preempted.append("title")

    assert await a.acquire(None, on_preempt=give_way) == SERVER
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(f"{redis.prefix}events")  # type: ignore[attr-defined]
        waiting = asyncio.create_task(b.acquire(uuid.uuid4()))
        # A user waits and no slot is free: the title's holder is named on the channel, and
        # its process (the broker's listener does this) asks it to give way.
        holder = None
        for _ in range(100):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
            kind, _, arg = message["data"].partition(" ") if message else ("", "", "")
            if kind == "preempt":
                holder = arg
                break
        assert holder is not None, "no preemption announced"
    a.preempt(holder)
    a.preempt(holder)  # asked once only
    assert preempted == ["title"]
    await a.release(SERVER, None, on_preempt=give_way)
    assert await granted(b, waiting) == SERVER


async def test_a_dead_process_s_slot_comes_back_when_its_lease_expires(redis: Redis) -> None:
    dead = await process(redis, "dead", lease_ms=600)
    alive = await process(redis, "alive")
    assert await dead.acquire(uuid.uuid4()) == SERVER  # then it dies: no release, no heartbeat
    waiting = asyncio.create_task(alive.acquire(uuid.uuid4()))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # the lease still holds it
    assert await granted(alive, waiting) == SERVER


async def test_admission_limits_count_every_process(redis: Redis) -> None:
    a = await process(redis, "a", max_queue=2, max_per_user=1)
    b = await process(redis, "b", max_queue=2, max_per_user=1)
    ana, beto, carla = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await a.admit(ana)
    with pytest.raises(TooManyRequests) as too_many:
        await b.admit(ana)  # her answer runs on another process
    assert too_many.value.code == "generation_in_progress"
    await b.admit(beto)
    with pytest.raises(ServiceUnavailable) as busy:
        await a.admit(carla)
    assert busy.value.code == "busy"
    await a.leave(ana)
    await b.admit(carla)


async def test_slots_given_back_at_once_are_all_given_back(redis: Redis) -> None:
    """Two answers of one process ending together: both slots are free again (none leaks)."""
    a = await process(redis, "a", slots_per_server=2)
    users = [uuid.uuid4(), uuid.uuid4()]
    for user in users:
        assert await a.acquire(user) == SERVER
    await asyncio.gather(*(a.release(SERVER, user) for user in users))
    assert await redis.scard(f"{redis.prefix}slots:{SERVER}") == 0  # type: ignore[attr-defined]
    assert a.members() == {}


async def test_the_heartbeat_sync_removes_what_a_failed_give_back_left(redis: Redis) -> None:
    a = await process(redis, "a")
    user = uuid.uuid4()
    await a.admit(user)
    await a.sync()
    key = f"{redis.prefix}adm:{user}"  # type: ignore[attr-defined]
    assert await redis.scard(key) == 1
    a._admissions.clear()  # given back here while Redis was away: still counted there
    await a.sync()
    assert await redis.scard(key) == 0
    assert await redis.scard(f"{redis.prefix}admitted") == 0  # type: ignore[attr-defined]


async def test_a_waiter_cancelled_while_its_grant_is_taken_gives_the_slot_back(
    redis: Redis,
) -> None:
    """A title waits at most a moment for a slot; cancelled just as another task takes its
    grant, the slot still comes back (no leak, no crash)."""
    a = await process(redis, "a")
    user = uuid.uuid4()
    assert await a.acquire(user) == SERVER
    title = asyncio.create_task(a.acquire(None))
    await asyncio.sleep(0.05)
    await a.release(SERVER, user)  # dispatch grants the slot to the title's ticket
    checking = asyncio.create_task(a.check_waiters())
    title.cancel()
    await asyncio.gather(checking, return_exceptions=True)
    with contextlib.suppress(asyncio.CancelledError):
        await title
    if title.cancelled():
        for _ in range(20):
            await a.dispatch()
            await a.check_waiters()
        assert await redis.scard(f"{redis.prefix}slots:{SERVER}") == 0  # type: ignore[attr-defined]
    else:
        await a.release(title.result(), None)
        assert await redis.scard(f"{redis.prefix}slots:{SERVER}") == 0  # type: ignore[attr-defined]
