"""The fair generation queue shared through Redis by every app process and host.

Same interface and rules as :class:`energyapp.chat.queue.LocalQueue`: round-robin across users,
``max_active_per_user`` (429) and ``max_queue`` (503) at admission, a few slots per Ollama
server, background work (titles) only when no user waits and preempted when one arrives.

Everything a process holds in Redis (an admission, a place in the queue, a slot) is a member
named ``<process id>|<kind>|<random>``; it counts only while the process's lease key
(``lease:<process id>``, refreshed by :class:`energyapp.chat.redis_broker.RedisBroker`'s
heartbeat) exists. The scripts (``chat/redis_scripts.py``) drop the members of a dead process
whenever they run, so a process that dies gives its slots back when its lease expires, never
later. The heartbeat (:meth:`RedisQueue.sync`) also writes a live process's members again, which
heals a Redis restart, and removes those it gave back while Redis was away.

Keys (under the broker's prefix): ``admitted`` and ``adm:<user>`` (sets of admissions),
``q:users`` (list: users with waiting answers, in serving order), ``q:u:<user>`` (list: that
user's waiting tickets), ``q:bg`` (list: waiting background tickets), ``granted`` (hash:
ticket → server), ``slots:<server>`` (set: holders of a slot), ``tinfo`` (hash: waiting ticket →
since when, conversation) and ``lines:<server>`` (hash: which conversation each of the server's
slots holds, for slot-affine scheduling: ``chat/slots.py``). A ticket joins the queue and
the dispatch script runs in the same round trip, which also takes back a grant made to it at
once. Grants, queue changes and preemptions are announced on the ``events`` channel; only
processes with waiters act on them.
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
from energyapp.chat.redis_scripts import ADMIT, DISPATCH, ENQUEUE_AND_DISPATCH, RELEASE, WITHDRAW
from energyapp.chat.slots import Alarm, announce, fair_order
from energyapp.core.metrics import GENERATIONS_QUEUED
from energyapp.core.redis import write_back

if TYPE_CHECKING:
    from energyapp.chat.redis_keys import BrokerKeys

logger = logging.getLogger("energyapp.chat")


@dataclass(eq=False)
class _Waiter:
    ticket: str
    user_id: uuid.UUID | None
    on_position: PositionCallback | None
    affinity: str | None = None
    future: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    position: int | None = None


@dataclass(eq=False)
class _Held:
    ticket: str
    server: str
    on_preempt: PreemptCallback | None
    affinity: str | None = None  # the conversation whose cache its slot holds
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
        hold: float = 0.0,
    ) -> None:
        if not servers:
            raise ValueError("at least one Ollama server is needed")
        self._hold_ms = int(hold * 1000)
        self._alarm = Alarm(self._wake)  # dispatch again when a hold or a patience runs out
        self._redis = redis
        self._keys = keys
        self._servers = servers
        self._capacity = slots_per_server
        self._max_queue = max_queue
        self._max_per_user = max_per_user
        self._admit = redis.register_script(ADMIT)
        self._dispatch_script = redis.register_script(DISPATCH)
        self._enqueue_and_dispatch = redis.register_script(ENQUEUE_AND_DISPATCH)
        self._withdraw = redis.register_script(WITHDRAW)
        self._release_script = redis.register_script(RELEASE)
        # Held while what this process holds changes in Redis, and while the heartbeat writes
        # it again: a heartbeat never writes back a slot or an admission just given back.
        self.lock = asyncio.Lock()
        self._admissions: dict[uuid.UUID, list[str]] = {}
        self._touched: set[uuid.UUID] = set()  # users whose admissions the heartbeat checks
        self._waiters: dict[str, _Waiter] = {}
        self._held: list[_Held] = []
        self._changed = asyncio.Event()  # a grant or a queue change was announced

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
        self._touched.add(user_id)

    async def leave(self, user_id: uuid.UUID) -> None:
        # Shielded: a leave cut short (a stop or a preemption cancelling the caller while it
        # waits for the lock) would leave a place that the heartbeat keeps writing again.
        await asyncio.shield(self._leave(user_id))

    async def _leave(self, user_id: uuid.UUID) -> None:
        async with self.lock:
            members = self._admissions.get(user_id)
            if not members:
                return
            member = members.pop()
            if not members:
                del self._admissions[user_id]
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.srem(self._keys.admitted, member)
                    pipe.srem(self._keys.admitted_by(user_id), member)
                    await pipe.execute()
            except (RedisError, OSError) as exc:  # the next heartbeat's sync removes it
                logger.warning(
                    "leaving the shared queue failed", extra={"error": type(exc).__name__}
                )

    # --- slots -------------------------------------------------------------------------------

    async def acquire(
        self,
        user_id: uuid.UUID | None,
        on_position: PositionCallback | None = None,
        on_preempt: PreemptCallback | None = None,
        affinity: str | None = None,
    ) -> str:
        ticket = self._member("u" if user_id is not None else "b")
        waiter = _Waiter(ticket, user_id, on_position, affinity)
        self._waiters[ticket] = waiter
        try:
            try:
                server = await self._enqueue_ticket(waiter)
                if server is None:  # waits: its place, and a grant announced meanwhile
                    await self.check_waiters()
            except (RedisError, OSError) as exc:
                raise broker_unavailable() from exc
            if server is None:
                server = await waiter.future
            else:  # granted at once, and taken back in the same round trip
                del self._waiters[ticket]
        except asyncio.CancelledError:
            self._waiters.pop(ticket, None)
            granted = waiter.future.done() and not waiter.future.cancelled()
            if granted:  # granted as it was cancelled: give that very slot back
                await asyncio.shield(self._give_back(waiter.future.result(), ticket))
            else:
                await asyncio.shield(self._give_up(waiter))
            raise
        except BaseException:
            self._waiters.pop(ticket, None)
            raise
        self._held.append(_Held(ticket, server, on_preempt, affinity))
        return server

    async def release(
        self,
        server: str,
        user_id: uuid.UUID | None,
        on_preempt: PreemptCallback | None = None,
        affinity: str | None = None,
    ) -> None:
        # Shielded, like leave: a slot still listed as held is never given back.
        await asyncio.shield(self._release(server, user_id, on_preempt, affinity))

    async def _release(
        self,
        server: str,
        user_id: uuid.UUID | None,
        on_preempt: PreemptCallback | None,
        affinity: str | None,
    ) -> None:
        kind = "|u|" if user_id is not None else "|b|"
        async with self.lock:  # chosen and removed at once: two releases never pick the same
            for held in self._held:
                mine = on_preempt is None or held.on_preempt is on_preempt
                mine = mine and (affinity is None or held.affinity == affinity)
                if held.server == server and kind in held.ticket and mine:
                    self._held.remove(held)
                    someone_waits = await self._free(server, held.ticket)
                    break
            else:
                return
        if someone_waits:
            await self.dispatch()

    def waiting(self) -> int:
        return sum(1 for w in self._waiters.values() if w.user_id is not None)

    def has_waiters(self) -> bool:
        """This process waits for a slot (for a user's answer or for background work)."""
        return bool(self._waiters)

    # --- called by the broker ----------------------------------------------------------------

    def _dispatch_call(self) -> tuple[list[str], list[str | int]]:
        """The KEYS and ARGV of the dispatch script."""
        keys = [self._keys.queue_users, self._keys.queue_background, self._keys.granted]
        keys += [self._keys.tickets, *self._slot_keys()]
        return keys, [self._keys.prefix, self._capacity, self._keys.events, self._hold_ms]

    async def dispatch(self) -> None:
        keys, args = self._dispatch_call()
        _, wake_ms = await self._dispatch_script(keys=keys, args=args)
        self._alarm.set(wake_ms)

    async def _wake(self) -> None:
        await self.dispatch()
        await self.check_waiters()

    def close(self) -> None:
        self._alarm.close()

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
        ready = [
            (ticket, server)
            for ticket, server in zip(tickets, granted, strict=True)
            if server is not None and ticket in self._waiters
        ]
        if ready:
            # Whoever deletes a grant takes it (another check of this process may run too).
            async with self._redis.pipeline(transaction=False) as pipe:
                for ticket, _server in ready:
                    pipe.hdel(self._keys.granted, ticket)
                taken = await pipe.execute()
            given_back = False
            for (ticket, server), mine in zip(ready, taken, strict=True):
                if mine:
                    given_back |= not await self._hand_over(ticket, server)
            if given_back:
                await self.dispatch()
        await self._renumber(list(users))

    def notify(self) -> None:
        """A grant or a queue change was announced: :meth:`watch` checks this process's
        waiters once per burst of announcements, not once per announcement."""
        if self._waiters:
            self._changed.set()

    async def watch(self) -> None:
        """Check the waiters after announcements, for as long as the process runs."""
        while True:
            await self._changed.wait()
            self._changed.clear()  # announced during the check: one more check
            try:
                await self.check_waiters()
            except Exception as exc:  # the broker's tick checks again
                logger.warning("checking the queue failed", extra={"error": type(exc).__name__})

    def preempt(self, holder: str) -> None:
        """A user waits and this process's background work ``holder`` has a slot: ask it to
        give the slot back (once)."""
        for held in self._held:
            if held.ticket == holder and held.on_preempt is not None and not held.asked:
                held.asked = True
                held.on_preempt()
                return

    async def sync(self) -> None:
        """Write again what this process holds (a restarted Redis lost it) and remove what it
        holds no longer (a give-back that failed while Redis was away): run by the heartbeat,
        under :attr:`lock`."""
        held = self.members()
        keys = [self._keys.admitted, *self._slot_keys()]
        keys += [self._keys.admitted_by(user_id) for user_id in self._touched]
        await write_back(self._redis, keys, held, f"{self._keys.process}|")
        self._touched = set(self._admissions)

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
                server = await self._enqueue_ticket(waiter)
                if server is not None and not await self._hand_over(waiter.ticket, server):
                    await self.dispatch()

    # --- internals ---------------------------------------------------------------------------

    def _user_key(self, user_id: uuid.UUID | None) -> str:
        if user_id is None:
            return self._keys.queue_background
        return self._keys.queued_by(user_id)

    async def _enqueue_ticket(self, waiter: _Waiter) -> str | None:
        """Join the queue and dispatch, in one round trip: the server when the ticket got a
        slot at once, else None (it waits; a later dispatch grants it)."""
        keys, args = self._dispatch_call()
        args += [waiter.affinity or "", str(waiter.user_id or ""), waiter.ticket]
        server, wake_ms = await self._enqueue_and_dispatch(keys=keys, args=args)
        self._alarm.set(wake_ms)
        return str(server) if server is not None else None

    async def _hand_over(self, ticket: str, server: str) -> bool:
        """Give the slot granted to ``ticket`` to its waiter; False when that waiter is gone
        (its acquire was cancelled meanwhile, e.g. a title that would not wait): the slot is
        then given back here, where the grant was taken."""
        waiter = self._waiters.pop(ticket, None)
        if waiter is not None and not waiter.future.done():
            waiter.future.set_result(server)
            return True
        await self._redis.srem(self._keys.slots(server), ticket)
        return False

    async def _free(self, server: str, ticket: str) -> bool:
        """Give ``ticket``'s slot back; whether anyone waits (then the caller dispatches it).
        Nobody waits: nothing to grant, and a ticket queued after these reads is dispatched by
        its own process, which then finds this slot free."""
        keys = [self._keys.slots(server), self._keys.lines(server)]
        keys += [self._keys.queue_users, self._keys.queue_background]
        return bool(await self._release_script(keys=keys, args=[ticket]))

    async def _give_back(self, server: str, ticket: str) -> None:
        if await self._free(server, ticket):
            await self.dispatch()

    async def _give_up(self, waiter: _Waiter) -> None:
        user = str(waiter.user_id) if waiter.user_id is not None else ""
        keys = [self._keys.queue_users, self._user_key(waiter.user_id), self._keys.granted]
        keys += [self._keys.tickets, *self._slot_keys()]
        try:
            # Also gives back a slot granted meanwhile, by dispatch or taken at once.
            if await self._withdraw(keys=keys, args=[user, waiter.ticket, self._keys.events]):
                await self.dispatch()
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
        order = fair_order(queues)
        announce([mine.get(ticket) for ticket in order])
        GENERATIONS_QUEUED.set(len(order))
