"""The cap on open answer streams per person (``chat/watchers.py``), counted in Redis for every
process and host.

Each open stream is a member ``<process id>|w|<random>`` of the set ``watch:<user>`` under the
broker's prefix. As with the queue's members (``chat/redis_queue.py``), it counts only while its
process's lease exists: the script that opens a stream drops a dead process's members, so the
streams of a process that died stop counting when its lease expires. The broker's heartbeat
(:meth:`RedisWatchers.sync`) writes again what this process holds (a restarted Redis lost it)
and removes what it gave back while Redis was away. With Redis away, this process counts alone,
as the rate limits do (``core/ratelimit.py``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import uuid
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.exceptions import RedisError

from energyapp.chat.redis_scripts import OPEN_WATCH
from energyapp.chat.watchers import LocalWatchers, Watch, too_many_streams
from energyapp.core.redis import write_back

if TYPE_CHECKING:
    from energyapp.chat.redis_keys import BrokerKeys

logger = logging.getLogger("energyapp.chat")


class RedisWatchers:
    """One per app process (``RedisBroker.watchers``)."""

    def __init__(self, redis: Redis, keys: BrokerKeys, limit: int) -> None:
        self.limit = limit
        self._redis = redis
        self._keys = keys
        self._open_script = redis.register_script(OPEN_WATCH)
        self._held: dict[uuid.UUID, set[str]] = {}  # this process's open streams, by user
        self._touched: set[uuid.UUID] = set()  # users whose set the next sync checks
        self._alone = LocalWatchers(limit)
        # A sync must not take for stale a stream whose opening it saw half done.
        self._lock = asyncio.Lock()

    def _key(self, user_id: uuid.UUID) -> str:
        return f"{self._keys.prefix}watch:{user_id}"

    async def open(self, user_id: uuid.UUID) -> Watch:
        member = f"{self._keys.process}|w|{secrets.token_hex(8)}"
        # Before the call: cancelled after Redis counted it, the next sync takes it back.
        self._touched.add(user_id)
        try:
            async with self._lock:
                refused = await self._open_script(
                    keys=[self._key(user_id)], args=[self._keys.prefix, member, self.limit]
                )
                if not refused:
                    self._held.setdefault(user_id, set()).add(member)
        except (RedisError, OSError) as exc:
            logger.warning(
                "stream cap: Redis unreachable, counted in this process",
                extra={"error": type(exc).__name__},
            )
            return await self._alone.open(user_id)
        if refused:
            raise too_many_streams(self.limit)
        return Watch(functools.partial(self._close, user_id, member))

    async def _close(self, user_id: uuid.UUID, member: str) -> None:
        members = self._held.get(user_id, set())
        members.discard(member)
        if not members:
            self._held.pop(user_id, None)
        self._touched.add(user_id)
        try:
            await self._redis.srem(self._key(user_id), member)
        except (RedisError, OSError) as exc:  # the heartbeat's sync removes it
            logger.warning("stream cap: giving back failed", extra={"error": type(exc).__name__})

    async def sync(self) -> None:
        """Write again this process's open streams and remove its others (run by the broker's
        heartbeat)."""
        async with self._lock:
            users = set(self._held) | self._touched
            self._touched = set()
            held = {self._key(user): members for user, members in self._held.items()}
            try:
                keys = [self._key(user) for user in users]
                await write_back(self._redis, keys, held, f"{self._keys.process}|")
            except BaseException:
                self._touched |= users
                raise
