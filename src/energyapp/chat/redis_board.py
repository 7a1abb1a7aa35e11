"""Every process's board (``chat/board.py``) in one Redis hash, ``board`` (field: the process
id, value: its work as JSON), for the admins' "Estado" tab. A process writes its own field
after each change (at most one write in flight, the latest state) and with each heartbeat; a
field counts only while its process's lease exists, like everything the broker holds.

The times in it are Redis's clock (each process measures its own clock's distance to Redis's
with each heartbeat): a host whose clock is off still shows the right "since" everywhere."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from energyapp.chat.board import STOP_CLAIM_SECONDS, Board, Work
from energyapp.chat.queue import broker_unavailable
from energyapp.chat.redis_keys import BrokerKeys

logger = logging.getLogger("energyapp.chat")


class RedisBoard:
    """Publishes this process's board and reads every process's."""

    def __init__(
        self, redis: Redis, keys: BrokerKeys, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._clock = clock
        self._offset = 0.0  # Redis's clock minus this host's
        self._board: Board | None = None
        self._changed = asyncio.Event()
        # One write at a time: the watcher's and the heartbeat's go on different connections,
        # and an older state landing last would keep an ended answer on the board.
        self._writing = asyncio.Lock()

    def attach(self, board: Board) -> None:
        self._board = board
        board.listen(self._changed.set)

    async def sync_clock(self) -> None:
        """Measure how far this host's clock is from Redis's (with each heartbeat)."""
        before = self._clock()
        seconds, micros = await self._redis.time()
        self._offset = seconds + micros / 1e6 - (before + self._clock()) / 2

    async def publish(self) -> None:
        """Write this process's field now (also the heartbeat's)."""
        async with self._writing:  # the state read once the write before has landed
            items = self._board.items() if self._board is not None else []
            if items:
                value = json.dumps(
                    [{**work.to_dict(), "since": work.since + self._offset} for work in items]
                )
                await self._redis.hset(self._keys.board, self._keys.process, value)
            else:
                await self._redis.hdel(self._keys.board, self._keys.process)

    async def watch(self) -> None:
        """Publish after changes, once per burst, for as long as the process runs."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                await self.publish()
            except (RedisError, OSError) as exc:  # the heartbeat writes it again
                logger.warning("publishing the board failed", extra={"error": type(exc).__name__})

    async def read(self) -> list[Work]:
        """The work of every process whose lease exists; 503 ``broker_unavailable`` when Redis
        does not answer."""
        try:
            return await self._read()
        except (RedisError, OSError) as exc:
            raise broker_unavailable() from exc

    async def prune(self) -> None:
        """Drop the fields of processes that died (the broker's recovery round), so they do
        not wait for an admin's read to go."""
        await self._live_fields()

    async def _read(self) -> list[Work]:
        return [
            Work.from_dict({**data, "since": float(data["since"]) - self._offset})
            for value in (await self._live_fields()).values()
            for data in json.loads(value)
        ]

    async def _live_fields(self) -> dict[str, str]:
        """The fields of processes whose lease exists; the others' are deleted."""
        raw = await self._redis.hgetall(self._keys.board)
        fields = {str(process): str(value) for process, value in raw.items()}  # decoded already
        processes = list(fields)
        async with self._redis.pipeline(transaction=False) as pipe:
            for process in processes:
                pipe.exists(self._keys.lease(process))
            alive = await pipe.execute()
        gone = [process for process, live in zip(processes, alive, strict=True) if not live]
        if gone:  # processes that died (each start has a new id): their fields would pile up
            await self._redis.hdel(self._keys.board, *gone)
        return {process: fields[process] for process in processes if process not in gone}


class RedisStopClaims:
    """Every process's claims of stopping a work: one key each (``SET NX`` with an expiry), so
    that of two admins' stops on two processes exactly one goes on."""

    def __init__(self, redis: Redis, keys: BrokerKeys) -> None:
        self._redis = redis
        self._keys = keys

    async def claim(self, work_id: str) -> bool:
        """503 ``broker_unavailable`` when Redis does not answer."""
        key = self._keys.stopping(work_id)
        try:
            ttl = int(STOP_CLAIM_SECONDS * 1000)
            return bool(await self._redis.set(key, self._keys.process, nx=True, px=ttl))
        except (RedisError, OSError) as exc:
            raise broker_unavailable() from exc

    async def release(self, work_id: str) -> None:
        try:
            await self._redis.delete(self._keys.stopping(work_id))
        except (RedisError, OSError) as exc:  # it expires on its own
            logger.warning("releasing a stop failed", extra={"error": type(exc).__name__})
