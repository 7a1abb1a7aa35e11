"""The in-process queue on its own: slots per server, round-robin, background work, cancel."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from energyapp.chat.queue import LocalQueue
from energyapp.errors import ServiceUnavailable, TooManyRequests

pytestmark = pytest.mark.no_database


async def test_first_free_server_then_round_robin_and_titles_last() -> None:
    queue = LocalQueue(["http://a", "http://b"], slots_per_server=1, max_queue=10, max_per_user=5)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    assert await queue.acquire(alice) == "http://a"
    assert await queue.acquire(alice) == "http://b"
    order: list[str] = []
    positions: dict[str, list[int | None]] = {}

    async def wait(label: str, user: uuid.UUID | None) -> None:
        positions[label] = []
        server = await queue.acquire(user, positions[label].append)
        order.append(f"{label}@{server}")

    tasks = [asyncio.create_task(wait("title", None))]
    await asyncio.sleep(0)
    for label, user in (("a3", alice), ("a4", alice), ("b1", bob)):
        tasks.append(asyncio.create_task(wait(label, user)))
        await asyncio.sleep(0)
    assert queue.waiting() == 3
    assert positions == {"title": [], "a3": [1], "a4": [2, 3], "b1": [2]}
    await queue.release("http://b", alice)
    await asyncio.sleep(0)
    await queue.release("http://a", alice)
    await asyncio.sleep(0)
    assert order == ["a3@http://b", "b1@http://a"]
    await queue.release("http://a", bob)
    await asyncio.sleep(0)
    await queue.release("http://b", alice)
    await asyncio.sleep(0)
    assert order[2:] == ["a4@http://a", "title@http://b"]
    await asyncio.gather(*tasks)


async def test_cancelled_waiter_leaves_the_queue() -> None:
    queue = LocalQueue(["http://a"], slots_per_server=1, max_queue=10, max_per_user=5)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    await queue.acquire(alice)
    bob_positions: list[int | None] = []
    waiting = asyncio.create_task(queue.acquire(alice))
    await asyncio.sleep(0)
    bob_task = asyncio.create_task(queue.acquire(bob, bob_positions.append))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert bob_positions == [2, 1] and queue.waiting() == 1
    await queue.release("http://a", alice)
    assert await bob_task == "http://a"


async def test_admission_limits() -> None:
    queue = LocalQueue(["http://a"], slots_per_server=1, max_queue=2, max_per_user=1)
    users = [uuid.uuid4() for _ in range(4)]
    await queue.admit(users[0])
    with pytest.raises(TooManyRequests) as too_many:
        await queue.admit(users[0])
    assert too_many.value.code == "generation_in_progress"
    await queue.admit(users[1])
    with pytest.raises(ServiceUnavailable) as busy:
        await queue.admit(users[2])
    assert busy.value.code == "busy" and "Retry-After" in busy.value.headers
    await queue.leave(users[0])
    await queue.admit(users[2])


async def test_a_waiting_answer_preempts_background_work() -> None:
    queue = LocalQueue(["http://a"], slots_per_server=1, max_queue=10, max_per_user=5)
    alice = uuid.uuid4()
    preempted: list[str] = []

    def title_gives_way() -> None:  # like a title: it gives the slot back soon after
        preempted.append("title")
        background.add(
            asyncio.ensure_future(queue.release("http://a", None, on_preempt=title_gives_way))
        )

    background: set[asyncio.Future[None]] = set()

    assert await queue.acquire(None, on_preempt=title_gives_way) == "http://a"
    assert await asyncio.wait_for(queue.acquire(alice), timeout=1) == "http://a"
    assert preempted == ["title"]
    # Released background work is not preempted again, and a free slot preempts nothing.
    await queue.release("http://a", alice)
    assert await queue.acquire(alice) == "http://a"
    assert preempted == ["title"]
