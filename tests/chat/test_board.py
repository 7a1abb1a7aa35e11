"""The board of what each process sends through the queue (chat/board.py) and its Redis copy
(chat/redis_board.py): who, which kind, the place; a dead process's board counts no more."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from energyapp.chat.board import STOP_CLAIM_SECONDS, Board, LocalStopClaims
from energyapp.chat.redis_board import RedisBoard, RedisStopClaims
from energyapp.chat.redis_keys import BrokerKeys
from tests.chat.test_redis_queue import redis  # noqa: F401 - the fixture

pytestmark = pytest.mark.no_database


def test_work_is_on_the_board_from_its_wait_to_its_end() -> None:
    board = Board()
    changes: list[int] = []
    board.listen(lambda: changes.append(len(board.items())))
    user = uuid.uuid4()
    with board.track(user, "continuation") as work:
        (listed,) = board.items()
        assert listed is work and (work.user_id, work.kind) == (user, "continuation")
        assert (work.running, work.position) == (False, None)
        board.moved(work, 2)
        board.moved(work, 2)  # the same place: nothing new to publish
        board.moved(work, 1)
        waited_since = work.since
        board.started(work)
        assert (work.running, work.position) == (True, None) and work.since >= waited_since
    assert board.items() == [] and changes == [1, 1, 1, 1, 0]


async def test_every_live_process_board_is_read_and_a_dead_one_is_dropped(
    redis,  # noqa: ANN001, F811 - the fixture of tests/chat/test_redis_queue.py
) -> None:
    prefix: str = redis.prefix
    boards = {}
    for name in ("alive", "dead"):
        keys = BrokerKeys(prefix, name)
        await redis.set(keys.lease(name), "1", px=60_000)
        board, published = Board(), RedisBoard(redis, keys)
        published.attach(board)
        boards[name] = (board, published, keys)
    alive_board, alive, keys = boards["alive"]
    dead_board, dead, _ = boards["dead"]
    user, request = uuid.uuid4(), uuid.uuid4()
    with alive_board.track(user, "api", request) as work, dead_board.track(None, "title"):
        alive_board.moved(work, 1)
        await alive.publish()
        await dead.publish()
        assert {w.kind for w in await alive.read()} == {"api", "title"}
        await redis.delete(keys.lease("dead"))  # its lease expired: it died
        (seen,) = await alive.read()
        assert (seen.user_id, seen.kind, seen.position, seen.id) == (user, "api", 1, work.id)
        assert seen.answer_id == request  # what stops it (admin/status_stop.py)
        assert await redis.hkeys(keys.board) == ["alive"]
    watcher = asyncio.create_task(alive.watch())  # publishes after the change: an empty board
    try:
        for _ in range(50):
            if not await redis.hkeys(keys.board):
                break
            await asyncio.sleep(0.02)
        assert await redis.hkeys(keys.board) == []
    finally:
        watcher.cancel()


async def test_a_host_whose_clock_is_off_still_shows_the_right_wait(
    redis,  # noqa: ANN001, F811 - the fixture of tests/chat/test_redis_queue.py
) -> None:
    """The board's times are Redis's clock: a process on a host an hour ahead publishes work
    that began 5 s ago, and a process on a host with the right time reads 5 s."""
    prefix: str = redis.prefix
    ahead_keys, right_keys = BrokerKeys(prefix, "ahead"), BrokerKeys(prefix, "right")
    await redis.set(ahead_keys.lease("ahead"), "1", px=60_000)
    board = Board()
    ahead = RedisBoard(redis, ahead_keys, clock=lambda: time.time() + 3600)
    right = RedisBoard(redis, right_keys)
    ahead.attach(board)
    for published in (ahead, right):
        await published.sync_clock()
    with board.track(uuid.uuid4(), "chat") as work:
        work.since = time.time() + 3600 - 5  # what the host ahead's clock says
        await ahead.publish()
        (seen,) = await right.read()
    assert 4 <= time.time() - seen.since <= 6


class _SlowWrites:
    """Redis whose HSET takes a while to land (a busy connection)."""

    def __init__(self, inner: Any) -> None:
        self._redis = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._redis, name)

    async def hset(self, *args: Any) -> Any:
        await asyncio.sleep(0.1)
        return await self._redis.hset(*args)


async def test_an_older_board_never_lands_after_a_newer_one(
    redis,  # noqa: ANN001, F811 - the fixture of tests/chat/test_redis_queue.py
) -> None:
    """The heartbeat publishes while an answer runs; the answer ends and the watcher publishes
    the empty board before the heartbeat's write has landed: the board ends empty."""
    keys = BrokerKeys(redis.prefix, "one")
    board, published = Board(), RedisBoard(_SlowWrites(redis), keys)
    published.attach(board)
    with board.track(uuid.uuid4(), "chat"):
        heartbeat = asyncio.create_task(published.publish())
        await asyncio.sleep(0.02)
    await published.publish()
    await heartbeat
    assert await redis.hkeys(keys.board) == []


async def test_the_stop_notice_is_read_by_older_and_newer_processes() -> None:
    """A rolling update: a person's stop is published as before (``stop <id>``), which a
    process of the previous release still reads; an admin's carries its reason; a newer
    process reads an old notice as the person's."""
    from unittest.mock import AsyncMock, MagicMock

    from energyapp.chat.redis_broker import RedisBroker

    broker = object.__new__(RedisBroker)
    broker.keys = BrokerKeys("t:", "p")
    broker.redis = MagicMock(exists=AsyncMock(return_value=1), publish=AsyncMock())
    broker._final_status = AsyncMock(return_value="stopped")  # type: ignore[method-assign]
    answer = uuid.uuid4()
    await broker.stop_elsewhere(answer)
    await broker.stop_elsewhere(answer, "admin")
    sent = [call.args[1] for call in broker.redis.publish.call_args_list]
    assert sent == [f"stop {answer}", f"stop {answer} admin"]
    engine = MagicMock()
    broker._engine = engine
    for text, reason in ((f"stop {answer}", "user"), (f"stop {answer} admin", "admin")):
        await broker._on_message(text)
        engine.stop_here.assert_called_with(answer, reason)


async def test_of_two_processes_claiming_a_stop_at_once_one_gets_it(
    redis,  # noqa: ANN001, F811 - the fixture of tests/chat/test_redis_queue.py
) -> None:
    """The claims of stopping a work (admin/status_stop.py) are one Redis key each: of two
    processes claiming at once, exactly one gets it; it expires on its own, and once released
    (the stop did not happen) another process may claim it."""
    first = RedisStopClaims(redis, BrokerKeys(redis.prefix, "first"))
    second = RedisStopClaims(redis, BrokerKeys(redis.prefix, "second"))
    work_id = uuid.uuid4().hex
    assert sorted(await asyncio.gather(first.claim(work_id), second.claim(work_id))) == [
        False,
        True,
    ]
    key = BrokerKeys(redis.prefix, "first").stopping(work_id)
    assert 0 < await redis.pttl(key) <= STOP_CLAIM_SECONDS * 1000
    assert not await first.claim(work_id) and not await second.claim(work_id)
    await first.release(work_id)
    assert await second.claim(work_id) and not await first.claim(work_id)


async def test_a_local_claim_of_a_stop_expires() -> None:
    now = [0.0]
    claims = LocalStopClaims(clock=lambda: now[0])
    assert await claims.claim("w") and not await claims.claim("w")
    now[0] += STOP_CLAIM_SECONDS + 1
    assert await claims.claim("w")
    await claims.release("w")
    assert await claims.claim("w")
