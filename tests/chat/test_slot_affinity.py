"""Slot-affine scheduling (chat/slots.py) on the in-process and the shared (Redis) queue: a
waiting answer whose conversation sits in an idle slot goes first, an idle slot that holds a
conversation is kept for it while the server is busy, and the bound: after ``hold`` seconds
the queue is plain round-robin again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from energyapp.chat.queue import GenerationQueue, LocalQueue
from energyapp.chat.redis_keys import BrokerKeys
from energyapp.chat.redis_queue import RedisQueue
from energyapp.core.redis import async_redis
from tests.chat.conftest import LiveApp, collect, named
from tests.conftest import HeadersFactory, UserFactory

A, B = "http://a", "http://b"
Factory = Callable[..., Awaitable[GenerationQueue]]


@pytest.fixture(params=["local", "redis"])
async def make_queue(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    """Builds a queue; a Redis queue is driven by a small pump standing in for its broker's
    listener (dispatch and hand over grants every 20 ms)."""
    if request.param == "local":

        async def local(servers: list[str], slots: int, hold: float) -> GenerationQueue:
            return LocalQueue(
                servers, slots_per_server=slots, max_queue=10, max_per_user=5, hold=hold
            )

        yield local
        return
    client = async_redis("redis://127.0.0.1:6379/14", decode_responses=True)
    prefix = f"test-affinity-{uuid.uuid4().hex[:8]}:"
    pumps: list[asyncio.Task[Any]] = []
    queues: list[RedisQueue] = []

    async def shared(servers: list[str], slots: int, hold: float) -> GenerationQueue:
        keys = BrokerKeys(prefix, "p1")
        await client.set(keys.lease("p1"), "1", px=60_000)
        queue = RedisQueue(
            client, keys, servers, slots_per_server=slots, max_queue=10, max_per_user=5, hold=hold
        )

        async def pump() -> None:
            while True:
                await queue.dispatch()
                await queue.check_waiters()
                await asyncio.sleep(0.02)

        pumps.append(asyncio.create_task(pump()))
        queues.append(queue)
        return queue

    yield shared
    for task in pumps:
        task.cancel()
    await asyncio.gather(*pumps, return_exceptions=True)
    for queue in queues:
        queue.close()  # its alarm
    keys = [key async for key in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def got(task: asyncio.Task[str], seconds: float = 2.0) -> str:
    return await asyncio.wait_for(task, seconds)


async def still_waiting(task: asyncio.Task[str], seconds: float = 0.2) -> bool:
    await asyncio.sleep(seconds)
    return not task.done()


async def busy_and_held(queue: GenerationQueue) -> None:
    """One server, two slots: conversation "x" is being answered, "a" was answered just now."""
    assert await queue.acquire(uuid.uuid4(), affinity="x") == A
    assert await queue.acquire(uuid.uuid4(), affinity="a") == A
    await queue.release(A, uuid.uuid4(), affinity="a")


async def test_a_cached_conversation_passes_the_queue_and_a_held_slot_waits_for_it(
    make_queue: Factory,
) -> None:
    queue = await make_queue([A], 2, 30.0)
    await busy_and_held(queue)
    carol = asyncio.create_task(queue.acquire(uuid.uuid4(), affinity="c"))
    assert await still_waiting(carol), "a new conversation evicted a held slot"
    alice = asyncio.create_task(queue.acquire(uuid.uuid4(), affinity="a"))
    assert await got(alice) == A  # its conversation is cached: it goes first
    assert not carol.done()
    carol.cancel()


async def test_the_bound_after_hold_seconds_the_slot_goes_to_who_waits(
    make_queue: Factory,
) -> None:
    queue = await make_queue([A], 2, 0.4)
    await busy_and_held(queue)
    started = time.monotonic()
    carol = asyncio.create_task(queue.acquire(uuid.uuid4(), affinity="c"))
    assert await got(carol, 3.0) == A
    waited = time.monotonic() - started
    assert 0.3 <= waited < 1.5


async def test_a_server_with_nothing_running_never_waits_for_a_conversation(
    make_queue: Factory,
) -> None:
    queue = await make_queue([A], 2, 30.0)
    for key in ("a", "b"):
        assert await queue.acquire(uuid.uuid4(), affinity=key) == A
    for key in ("a", "b"):
        await queue.release(A, uuid.uuid4(), affinity=key)
    carol = asyncio.create_task(queue.acquire(uuid.uuid4(), affinity="c"))
    assert await got(carol) == A


async def test_hold_zero_is_plain_round_robin(make_queue: Factory) -> None:
    queue = await make_queue([A], 1, 0.0)
    user = uuid.uuid4()
    assert await queue.acquire(user, affinity="x") == A
    carol = asyncio.create_task(queue.acquire(uuid.uuid4(), affinity="c"))
    await asyncio.sleep(0.1)
    alice = asyncio.create_task(queue.acquire(uuid.uuid4(), affinity="x"))
    await asyncio.sleep(0.1)
    await queue.release(A, user, affinity="x")
    assert await got(carol) == A  # first come, although "x" is cached
    assert not alice.done()
    alice.cancel()


async def test_a_conversation_goes_back_to_the_server_that_holds_it(make_queue: Factory) -> None:
    queue = await make_queue([A, B], 1, 30.0)
    first = uuid.uuid4()
    assert await queue.acquire(first, affinity="x") == A
    assert await queue.acquire(uuid.uuid4(), affinity="k") == B
    await queue.release(A, first, affinity="x")
    await queue.release(B, uuid.uuid4(), affinity="k")
    again = asyncio.create_task(queue.acquire(uuid.uuid4(), affinity="k"))
    assert await got(again) == B


async def test_a_title_only_takes_the_slot_that_holds_its_conversation(
    make_queue: Factory,
) -> None:
    queue = await make_queue([A], 2, 30.0)
    await busy_and_held(queue)
    elsewhere = asyncio.create_task(queue.acquire(None, affinity="z"))
    assert await still_waiting(elsewhere), "a title evicted another conversation"
    elsewhere.cancel()
    own = asyncio.create_task(queue.acquire(None, affinity="a"))
    assert await got(own) == A


async def test_the_shared_queue_wakes_itself_when_a_hold_runs_out() -> None:
    """No broker pump here: only the queue's own timer (from the dispatch script's answer) can
    serve the waiting answer once the held slot's time is up."""
    client = async_redis("redis://127.0.0.1:6379/14", decode_responses=True)
    prefix = f"test-affinity-{uuid.uuid4().hex[:8]}:"
    keys = BrokerKeys(prefix, "p1")
    await client.set(keys.lease("p1"), "1", px=60_000)
    queue = RedisQueue(
        client, keys, [A], slots_per_server=2, max_queue=10, max_per_user=5, hold=0.3
    )
    try:
        await busy_and_held(queue)
        started = time.monotonic()
        carol = asyncio.create_task(queue.acquire(uuid.uuid4(), affinity="c"))
        assert await got(carol, 3.0) == A
        assert time.monotonic() - started >= 0.25
    finally:
        queue.close()
        found = [key async for key in client.scan_iter(f"{prefix}*")]
        if found:
            await client.delete(*found)
        await client.aclose()


@pytest.mark.local_broker  # reads the in-process queue's picture of the slots
async def test_the_app_schedules_each_answer_by_its_conversation(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    conversations = []
    async with live_app(ollama_max_parallel=2) as (base, app):
        for _ in range(2):
            headers = await auth_headers(await make_user())
            async with http.stream(
                "POST", f"{base}/chat", json={"message": "Hola"}, headers=headers
            ) as response:
                events = await collect(response)
            conversations.append(named(events, "meta")[0]["conversation_id"])
        await asyncio.sleep(0.2)  # the automatic titles, which follow their conversation
        queue = app.state.chat.queue
        assert isinstance(queue, LocalQueue)
        held = next(iter(queue.cached().values()))
    assert sorted(key for key in held if key) == sorted(conversations)


async def test_a_busy_server_keeps_one_idle_slot_not_several(make_queue: Factory) -> None:
    """Three slots: "x" is being answered, "a" and then "b" were answered. A newcomer takes the
    slot idle the longest ("a"), and the one kept for "b" still goes to "b" first."""
    queue = await make_queue([A], 3, 30.0)
    for key in ("x", "a", "b"):
        assert await queue.acquire(uuid.uuid4(), affinity=key) == A
    await queue.release(A, uuid.uuid4(), affinity="a")
    await asyncio.sleep(0.01)
    await queue.release(A, uuid.uuid4(), affinity="b")
    carol = asyncio.create_task(queue.acquire(uuid.uuid4(), affinity="c"))
    assert await got(carol) == A
    dave = asyncio.create_task(queue.acquire(uuid.uuid4(), affinity="d"))
    assert await still_waiting(dave), "the last idle slot of a busy server was not kept"
    bob = asyncio.create_task(queue.acquire(uuid.uuid4(), affinity="b"))
    assert await got(bob) == A
    dave.cancel()
