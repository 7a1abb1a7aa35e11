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

from energyapp.chat.redis_broker import _to_its_end
from energyapp.chat.redis_keys import BrokerKeys
from energyapp.chat.redis_queue import RedisQueue, _Waiter
from energyapp.core.redis import async_redis
from energyapp.errors import ServiceUnavailable, TooManyRequests

pytestmark = pytest.mark.no_database

REDIS_URL = "redis://127.0.0.1:6379/14"
SERVER = "http://ollama-a"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = async_redis(REDIS_URL, decode_responses=True)
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


async def test_a_free_slot_is_granted_and_taken_in_the_same_round_trip(redis: Redis) -> None:
    """Nobody waits: joining the queue and the dispatch are one script, which also takes the
    grant back; nothing is left to read back, nobody is told of a queue change."""
    a = await process(redis, "a", slots_per_server=2)
    prefix = redis.prefix  # type: ignore[attr-defined]
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(f"{prefix}events")
        await pubsub.get_message(timeout=1.0)  # the subscription itself
        assert await a.acquire(uuid.uuid4()) == SERVER
        assert await a.acquire(None) == SERVER  # background work too, when nobody waits
        announced = []
        while message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2):
            announced.append(message["data"])
    assert "queue" not in announced
    assert await redis.scard(f"{prefix}slots:{SERVER}") == 2
    assert await redis.hlen(f"{prefix}granted") == 0
    assert await redis.llen(f"{prefix}q:users") == 0
    assert await redis.llen(f"{prefix}q:bg") == 0
    assert not a.has_waiters()


async def test_a_newcomer_does_not_take_a_slot_freed_before_a_waiter_of_another_process(
    redis: Redis,
) -> None:
    """A slot comes free (here: its holder's lease expires) while a user of process b waits:
    a newcomer on process c joins the queue behind her instead of taking the slot."""
    dead = await process(redis, "dead", lease_ms=500)
    b = await process(redis, "b")
    c = await process(redis, "c")
    assert await dead.acquire(uuid.uuid4()) == SERVER
    beatriz = uuid.uuid4()
    waiting = asyncio.create_task(b.acquire(beatriz))
    await asyncio.sleep(0.7)  # the holder's lease is gone: its slot counts no more
    newcomer = asyncio.create_task(c.acquire(uuid.uuid4()))
    assert await granted(b, waiting) == SERVER
    for _ in range(5):
        await c.dispatch()
        await c.check_waiters()
    assert not newcomer.done()  # behind the waiter, whose slot it is
    await b.release(SERVER, beatriz)  # someone waits: the release dispatches the slot
    assert await granted(c, newcomer) == SERVER


async def test_a_slot_taken_at_once_by_a_waiter_that_gives_up_comes_back(redis: Redis) -> None:
    """Cancelled just as its script took a free slot (a title that would not wait): giving
    up also gives that slot back."""
    a = await process(redis, "a")
    waiter = _Waiter(a._member("b"), None, None)
    assert await a._enqueue_ticket(waiter) == SERVER
    await a._give_up(waiter)
    assert await redis.scard(f"{redis.prefix}slots:{SERVER}") == 0  # type: ignore[attr-defined]
    assert await a.acquire(uuid.uuid4()) == SERVER


async def test_announcements_are_checked_once_per_burst_by_the_waiting_process(
    redis: Redis,
) -> None:
    a = await process(redis, "a")
    b = await process(redis, "b")
    checks = 0
    check_waiters = b.check_waiters

    async def counted() -> None:
        nonlocal checks
        checks += 1
        await check_waiters()

    b.check_waiters = counted  # type: ignore[method-assign]
    watcher = asyncio.create_task(b.watch())
    try:
        b.notify()  # nobody of b waits: nothing to check
        await asyncio.sleep(0.05)
        assert checks == 0
        user = uuid.uuid4()
        assert await a.acquire(user) == SERVER
        waiting = asyncio.create_task(b.acquire(uuid.uuid4()))
        await asyncio.sleep(0.1)
        checks = 0
        await a.release(SERVER, user)  # dispatches the slot to b's waiter
        for _ in range(5):
            b.notify()
        assert (await asyncio.wait_for(waiting, 2.0)) == SERVER
        assert checks == 1
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def test_a_release_and_a_leave_cut_short_by_a_cancel_still_give_back(redis: Redis) -> None:
    """A title preempted (or an answer stopped) while its release waits for the queue's lock:
    the slot and the admission still come back, instead of being written again by every
    heartbeat."""
    a = await process(redis, "a")
    user = uuid.uuid4()
    await a.admit(user)
    assert await a.acquire(user) == SERVER
    async with a.lock:  # the heartbeat's sync holds it
        releasing = asyncio.create_task(a.release(SERVER, user))
        leaving = asyncio.create_task(a.leave(user))
        await asyncio.sleep(0.05)
        releasing.cancel()
        leaving.cancel()
    for task in (releasing, leaving):
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for _ in range(20):  # the shielded give-backs finish on their own
        if not a.members():
            break
        await asyncio.sleep(0.05)
    assert a.members() == {}
    await a.sync()
    assert await redis.scard(f"{redis.prefix}slots:{SERVER}") == 0  # type: ignore[attr-defined]
    assert await redis.scard(f"{redis.prefix}adm:{user}") == 0  # type: ignore[attr-defined]


async def test_a_watcher_that_leaves_during_a_blocking_read_keeps_the_connection(
    redis: Redis,
) -> None:
    """A client that goes away while its watcher waits on ``XREAD BLOCK`` (every answer's
    client leaves at ``done``): the read ends on its own and its connection is used again,
    instead of being dropped and opened again (TCP, HELLO, SELECT) for the next command."""
    client = async_redis(REDIS_URL, decode_responses=True)
    try:
        before = await client.client_id()
        key = f"{redis.prefix}ans:left"  # type: ignore[attr-defined]
        read = asyncio.create_task(_to_its_end(client.xread({key: "$"}, block=200)))
        await asyncio.sleep(0.05)
        read.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await read
        await asyncio.sleep(0.3)  # the block ends
        assert await client.client_id() == before
    finally:
        await client.aclose()
