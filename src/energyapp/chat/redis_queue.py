"""The fair generation queue shared through Redis by every app process and host.

Same interface and rules as :class:`energyapp.chat.queue.LocalQueue`: round-robin across users,
``max_active_per_user`` (429) and ``max_queue`` (503) at admission, a few slots per Ollama
server, background work (titles) only when no user waits and preempted when one arrives.

Everything a process holds in Redis (an admission, a place in the queue, a slot) is a member
named ``<process id>|<kind>|<random>``; it counts only while the process's lease key
(``lease:<process id>``, refreshed by :class:`energyapp.chat.redis_broker.RedisBroker`'s
heartbeat) exists. The scripts below drop the members of a dead process whenever they run, so
a process that dies gives its slots back when its lease expires, never later. The heartbeat
also writes a live process's members again, which heals a Redis restart.

Keys (under the broker's prefix): ``admitted`` and ``adm:<user>`` (sets of admissions),
``q:users`` (list: users with waiting answers, in serving order), ``q:u:<user>`` (list: that
user's waiting tickets), ``q:bg`` (list: waiting background tickets), ``granted`` (hash:
ticket → server), ``slots:<server>`` (set: holders of a slot). Grants, queue changes and
preemptions are announced on the ``events`` channel.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.exceptions import RedisError

from energyapp.chat.queue import (
    PositionCallback,
    PreemptCallback,
    broker_unavailable,
    busy_error,
    in_progress_error,
)
from energyapp.core.metrics import GENERATIONS_QUEUED

if TYPE_CHECKING:
    from energyapp.chat.redis_broker import BrokerKeys

logger = logging.getLogger("energyapp.chat")

# Shared by the scripts: a member counts only while its process's lease exists.
_LUA_ALIVE = """
local function alive(prefix, member)
  local proc = string.match(member, '^([^|]+)|')
  return proc ~= nil and redis.call('EXISTS', prefix .. 'lease:' .. proc) == 1
end
local function purge_set(prefix, key)
  for _, m in ipairs(redis.call('SMEMBERS', key)) do
    if not alive(prefix, m) then redis.call('SREM', key, m) end
  end
end
"""

# KEYS: admitted, adm:<user>, slots:<server>... ARGV: prefix, member, max_per_user, max_queue
_ADMIT = (
    _LUA_ALIVE
    + """
local prefix = ARGV[1]
purge_set(prefix, KEYS[1])
purge_set(prefix, KEYS[2])
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 1 end
local running = 0
for i = 3, #KEYS do
  purge_set(prefix, KEYS[i])
  for _, m in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    if string.find(m, '|u|', 1, true) then running = running + 1 end
  end
end
if redis.call('SCARD', KEYS[1]) - running >= tonumber(ARGV[4]) then return 2 end
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[2])
return 0
"""
)

# KEYS: q:users, q:bg, granted, slots:<server>... ARGV: prefix, capacity, channel
# Grants free slots to waiting tickets, users first in round-robin order; when a user waits and
# no slot is free, asks a background holder to give its slot back.
_DISPATCH = (
    _LUA_ALIVE
    + """
local prefix, capacity, channel = ARGV[1], tonumber(ARGV[2]), ARGV[3]
for _, t in ipairs(redis.call('HKEYS', KEYS[3])) do
  if not alive(prefix, t) then redis.call('HDEL', KEYS[3], t) end
end
local servers = {}
for i = 4, #KEYS do
  purge_set(prefix, KEYS[i])
  servers[#servers + 1] = KEYS[i]
end
local function free_slot()
  for _, key in ipairs(servers) do
    if redis.call('SCARD', key) < capacity then return key end
  end
  return nil
end
local function next_user_ticket()
  while redis.call('LLEN', KEYS[1]) > 0 do
    local user = redis.call('LINDEX', KEYS[1], 0)
    local ukey = prefix .. 'q:u:' .. user
    local ticket = redis.call('LPOP', ukey)
    if redis.call('LLEN', ukey) == 0 then
      redis.call('LPOP', KEYS[1])
    else
      redis.call('LMOVE', KEYS[1], KEYS[1], 'LEFT', 'RIGHT')
    end
    if ticket and alive(prefix, ticket) then return ticket end
  end
  return nil
end
local function next_background_ticket()
  while true do
    local ticket = redis.call('LPOP', KEYS[2])
    if not ticket then return nil end
    if alive(prefix, ticket) then return ticket end
  end
end
local granted = 0
while true do
  local slot = free_slot()
  if not slot then break end
  local ticket = next_user_ticket()
  if not ticket then ticket = next_background_ticket() end
  if not ticket then break end
  redis.call('SADD', slot, ticket)
  redis.call('HSET', KEYS[3], ticket, string.sub(slot, #prefix + 7))
  granted = granted + 1
end
if granted > 0 then redis.call('PUBLISH', channel, 'grant') end
if redis.call('LLEN', KEYS[1]) > 0 and not free_slot() then
  for _, key in ipairs(servers) do
    for _, m in ipairs(redis.call('SMEMBERS', key)) do
      if string.find(m, '|b|', 1, true) then
        redis.call('PUBLISH', channel, 'preempt ' .. m)
        return granted
      end
    end
  end
end
return granted
"""
)

# KEYS: q:users, q:u:<user> ARGV: user, ticket, channel (every waiting answer's place may change)
_ENQUEUE = """
redis.call('RPUSH', KEYS[2], ARGV[2])
if redis.call('LLEN', KEYS[2]) == 1 then redis.call('RPUSH', KEYS[1], ARGV[1]) end
redis.call('PUBLISH', ARGV[3], 'queue')
return 1
"""

# KEYS: q:users, q:u:<user> (or q:bg twice), granted ARGV: user ('' for background), ticket
# Returns the server granted meanwhile (the caller must give it back), or false.
_WITHDRAW = """
redis.call('LREM', KEYS[2], 0, ARGV[2])
if ARGV[1] ~= '' and redis.call('LLEN', KEYS[2]) == 0 then
  redis.call('LREM', KEYS[1], 0, ARGV[1])
end
local server = redis.call('HGET', KEYS[3], ARGV[2])
if server then redis.call('HDEL', KEYS[3], ARGV[2]) end
return server
"""


@dataclass(eq=False)
class _Waiter:
    ticket: str
    user_id: uuid.UUID | None
    on_position: PositionCallback | None
    future: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    position: int | None = None


@dataclass(eq=False)
class _Held:
    ticket: str
    server: str
    on_preempt: PreemptCallback | None
    asked: bool = False  # asked to give its slot back (once)


class RedisQueue:
    """The queue of every process sharing one Redis; one instance per process."""

    def __init__(
        self,
        redis: Redis,
        keys: BrokerKeys,
        servers: list[str],
        *,
        slots_per_server: int,
        max_queue: int,
        max_per_user: int,
    ) -> None:
        if not servers:
            raise ValueError("at least one Ollama server is needed")
        self._redis = redis
        self._keys = keys
        self._servers = servers
        self._capacity = slots_per_server
        self._max_queue = max_queue
        self._max_per_user = max_per_user
        self._admit = redis.register_script(_ADMIT)
        self._dispatch_script = redis.register_script(_DISPATCH)
        self._enqueue = redis.register_script(_ENQUEUE)
        self._withdraw = redis.register_script(_WITHDRAW)
        # Held while what this process holds changes in Redis, and while the heartbeat writes
        # it again: a heartbeat never writes back a slot or an admission just given back.
        self.lock = asyncio.Lock()
        self._admissions: dict[uuid.UUID, list[str]] = {}
        self._waiters: dict[str, _Waiter] = {}
        self._held: list[_Held] = []

    def _member(self, kind: str) -> str:
        return f"{self._keys.process}|{kind}|{uuid.uuid4().hex}"

    def _slot_keys(self) -> list[str]:
        return [self._keys.slots(server) for server in self._servers]

    # --- admission ---------------------------------------------------------------------------

    async def admit(self, user_id: uuid.UUID) -> None:
        member = self._member("a")
        keys = [self._keys.admitted, self._keys.admitted_by(user_id), *self._slot_keys()]
        args: list[str | int] = [self._keys.prefix, member, self._max_per_user, self._max_queue]
        try:
            refused = int(await self._admit(keys=keys, args=args))
        except (RedisError, OSError) as exc:
            raise broker_unavailable() from exc
        if refused == 1:
            raise in_progress_error()
        if refused == 2:
            raise busy_error()
        self._admissions.setdefault(user_id, []).append(member)

    async def leave(self, user_id: uuid.UUID) -> None:
        async with self.lock:
            members = self._admissions.get(user_id)
            if not members:
                return
            member = members.pop()
            if not members:
                del self._admissions[user_id]
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.srem(self._keys.admitted, member)
                pipe.srem(self._keys.admitted_by(user_id), member)
                await pipe.execute()

    # --- slots -------------------------------------------------------------------------------

    async def acquire(
        self,
        user_id: uuid.UUID | None,
        on_position: PositionCallback | None = None,
        on_preempt: PreemptCallback | None = None,
    ) -> str:
        ticket = self._member("u" if user_id is not None else "b")
        waiter = _Waiter(ticket, user_id, on_position)
        self._waiters[ticket] = waiter
        try:
            try:
                await self._enqueue_ticket(waiter)
                await self.dispatch()
                await self.check_waiters()
            except (RedisError, OSError) as exc:
                raise broker_unavailable() from exc
            server = await waiter.future
        except asyncio.CancelledError:
            self._waiters.pop(ticket, None)
            granted = waiter.future.done() and not waiter.future.cancelled()
            if granted:  # granted as it was cancelled: give the slot back
                self._held.append(_Held(ticket, waiter.future.result(), None))
                await asyncio.shield(self.release(waiter.future.result(), waiter.user_id))
            else:
                await asyncio.shield(self._give_up(waiter))
            raise
        except BaseException:
            self._waiters.pop(ticket, None)
            raise
        self._held.append(_Held(ticket, server, on_preempt))
        return server

    async def release(
        self, server: str, user_id: uuid.UUID | None, on_preempt: PreemptCallback | None = None
    ) -> None:
        kind = "|u|" if user_id is not None else "|b|"
        for held in self._held:
            mine = on_preempt is None or held.on_preempt is on_preempt
            if held.server == server and kind in held.ticket and mine:
                async with self.lock:
                    self._held.remove(held)
                    await self._redis.srem(self._keys.slots(server), held.ticket)
                await self.dispatch()
                return

    def waiting(self) -> int:
        return sum(1 for w in self._waiters.values() if w.user_id is not None)

    # --- called by the broker ----------------------------------------------------------------

    async def dispatch(self) -> None:
        keys = [self._keys.queue_users, self._keys.queue_background, self._keys.granted]
        keys += self._slot_keys()
        await self._dispatch_script(
            keys=keys, args=[self._keys.prefix, self._capacity, self._keys.events]
        )

    async def check_waiters(self) -> None:
        """Hand the slots granted to this process's tickets over, and tell the others their
        place (round-robin across users, like the local queue)."""
        if not self._waiters:
            return
        tickets = list(self._waiters)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self._keys.granted, tickets)
            pipe.lrange(self._keys.queue_users, 0, -1)
            granted, users = await pipe.execute()
        for ticket, server in zip(tickets, granted, strict=True):
            waiter = self._waiters.get(ticket)
            if server is None or waiter is None:
                continue
            if await self._redis.hdel(self._keys.granted, ticket):
                del self._waiters[ticket]
                if not waiter.future.done():
                    waiter.future.set_result(server)
                else:  # cancelled as it was granted
                    await self._redis.srem(self._keys.slots(server), ticket)
        await self._renumber(list(users))

    def preempt(self, holder: str) -> None:
        """A user waits and this process's background work ``holder`` has a slot: ask it to
        give the slot back (once)."""
        for held in self._held:
            if held.ticket == holder and held.on_preempt is not None and not held.asked:
                held.asked = True
                held.on_preempt()
                return

    def members(self) -> dict[str, list[str]]:
        """What this process holds, by key: written again by each heartbeat (a restarted Redis
        has lost it)."""
        held: dict[str, list[str]] = {}
        for user_id, members in self._admissions.items():
            held.setdefault(self._keys.admitted, []).extend(members)
            held.setdefault(self._keys.admitted_by(user_id), []).extend(members)
        for slot in self._held:
            held.setdefault(self._keys.slots(slot.server), []).append(slot.ticket)
        return held

    async def requeue_lost(self) -> None:
        """Put back in the queue the waiting tickets a restarted Redis has lost."""
        for waiter in list(self._waiters.values()):
            key = self._user_key(waiter.user_id)
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.lpos(key, waiter.ticket)
                pipe.hexists(self._keys.granted, waiter.ticket)
                place, granted = await pipe.execute()
            if place is None and not granted and not waiter.future.done():
                await self._enqueue_ticket(waiter)

    # --- internals ---------------------------------------------------------------------------

    def _user_key(self, user_id: uuid.UUID | None) -> str:
        if user_id is None:
            return self._keys.queue_background
        return self._keys.queued_by(user_id)

    async def _enqueue_ticket(self, waiter: _Waiter) -> None:
        if waiter.user_id is None:
            await self._redis.rpush(self._keys.queue_background, waiter.ticket)
            return
        keys = [self._keys.queue_users, self._keys.queued_by(waiter.user_id)]
        await self._enqueue(keys=keys, args=[str(waiter.user_id), waiter.ticket, self._keys.events])

    async def _give_up(self, waiter: _Waiter) -> None:
        user = str(waiter.user_id) if waiter.user_id is not None else ""
        keys = [self._keys.queue_users, self._user_key(waiter.user_id), self._keys.granted]
        try:
            server = await self._withdraw(keys=keys, args=[user, waiter.ticket])
            if server is not None:
                await self._redis.srem(self._keys.slots(server), waiter.ticket)
                await self.dispatch()
            else:
                await self._redis.publish(self._keys.events, "queue")
        except Exception as exc:  # the lease makes what is left count no more
            logger.warning("leaving the shared queue failed", extra={"error": type(exc).__name__})

    async def _renumber(self, users: list[str]) -> None:
        """Positions in round-robin order over every process's waiting tickets."""
        mine = {w.ticket: w for w in self._waiters.values() if w.user_id is not None}
        if not mine:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.lrange(self._keys.queued_by_name(user), 0, -1)
            queues: list[list[str]] = list(await pipe.execute())
        position = 0
        depth = 0
        while any(depth < len(q) for q in queues):
            for tickets in queues:
                if depth < len(tickets):
                    position += 1
                    waiter = mine.get(tickets[depth])
                    if waiter is not None and waiter.position != position:
                        waiter.position = position
                        if waiter.on_position is not None:
                            waiter.on_position(position)
            depth += 1
        GENERATIONS_QUEUED.set(position)
