"""The chat broker on Redis: several app processes and hosts share one chat runtime.

- **Queue and slots**: :class:`energyapp.chat.redis_queue.RedisQueue`.
- **Leases**: each process keeps ``lease:<process id>`` alive with a heartbeat every third of
  ``broker_lease_seconds``; whatever it holds counts only while that key exists.
- **Events**: the process generating an answer copies its events (``queue``, ``token``,
  ``error``, ``done``, ``title``) into the Redis Stream ``ans:<answer id>`` (one entry per
  batch of tokens, trimmed, expiring ``answer_stream_ttl_seconds`` after the end). A watcher on
  any process reads it from the start or after its SSE ``Last-Event-ID``; the entry id is the
  event's ``id:``.
- **Stop**: ``stop <answer id>`` (an admin's: ``stop <id> admin``) on the ``events`` channel;
  the owner stops it. ``stop-user <user id>``: every process stops that person's answers, the
  API's too (deactivation).
- **Crash recovery**: ``owner`` maps each live answer to its process. Every few seconds one
  process (the holder of a short lock) marks ``interrupted`` the ``streaming`` answers whose
  owner's lease has expired, and ends their streams so their watchers hear it.

PostgreSQL stays the record: with Redis away, running answers finish and are saved; new ones
are refused with 503 ``broker_unavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import anyio
import pydantic_core
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sse_starlette import ServerSentEvent

from energyapp.chat import service as chat_service
from energyapp.chat import sse
from energyapp.chat.board import Work
from energyapp.chat.continuation import answer_closing
from energyapp.chat.live import LiveAnswer
from energyapp.chat.queue import broker_unavailable
from energyapp.chat.redis_board import RedisBoard, RedisStopClaims
from energyapp.chat.redis_keys import (
    CREDENTIALS_ENDED,
    STOP_USER,
    BrokerKeys,
    announce_credentials_ended,
    announce_stop_of,
    process_id,
)
from energyapp.chat.redis_queue import RedisQueue
from energyapp.chat.redis_scripts import OWNERS
from energyapp.chat.redis_watchers import RedisWatchers
from energyapp.config import Settings

if TYPE_CHECKING:
    from energyapp.chat.engine import ChatEngine

logger = logging.getLogger("energyapp.chat")

STREAM_MAXLEN = 4096  # entries per answer (tokens arrive in batches, so far more tokens)
STREAM_LIVE_TTL = 24 * 3600  # a safety net: a live answer's stream outlives no answer
TICK_SECONDS = 1.0  # dispatch and queue positions when a notification was missed
STOP_WAIT_SECONDS = 30.0
LOST_STREAM_WAIT_SECONDS = 10.0
_RECONNECT = ServerSentEvent(data="{}", event="reconnect", retry=500, sep="\n")


class RedisBroker:
    """One per app process (``ChatEngine.broker``)."""

    shared = True

    def __init__(self, settings: Settings, redis: Redis) -> None:
        """``redis`` must decode responses (``decode_responses=True``)."""
        assert settings.redis_url
        self._settings = settings
        self.redis = redis
        self.keys = BrokerKeys(settings.redis_prefix, process_id())
        self.lease_seconds = settings.broker_lease_seconds
        self.queue = RedisQueue(
            redis,
            self.keys,
            settings.llm_urls,
            slots_per_server=settings.ollama_max_parallel,
            max_queue=settings.max_queue,
            max_per_user=settings.max_active_per_user,
            hold=settings.slot_hold_seconds,
        )
        self.watchers = RedisWatchers(redis, self.keys, settings.max_streams_per_user)
        self.board = RedisBoard(redis, self.keys)
        self.stops = RedisStopClaims(redis, self.keys)
        self._owners = redis.register_script(OWNERS)
        self._engine: ChatEngine | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._mirrors: dict[uuid.UUID, asyncio.Task[None]] = {}

    # --- lifetime ----------------------------------------------------------------------------

    async def start(self, engine: ChatEngine) -> None:
        self._engine = engine
        self.board.attach(engine.board)
        with contextlib.suppress(RedisError, OSError):  # the heartbeat retries
            await self._heartbeat()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._every(TICK_SECONDS, self._tick)),
            loop.create_task(self._every(self.lease_seconds / 3, self._heartbeat)),
            loop.create_task(self._every(self.lease_seconds / 3, self._recover)),
            loop.create_task(self._listen()),
            loop.create_task(self.queue.watch()),
            loop.create_task(self.board.watch()),
        ]

    async def close(self) -> None:
        if self._mirrors:  # the last events of answers that ended during the shutdown
            await asyncio.wait(self._mirrors.values(), timeout=5)
        self.queue.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self.keys.lease(self.keys.process))
            await self.redis.hdel(self.keys.board, self.keys.process)
        await self.redis.aclose()

    async def _every(self, seconds: float, work: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except (RedisError, OSError) as exc:
                logger.warning("broker: Redis unreachable", extra={"error": type(exc).__name__})
            except Exception:
                logger.exception("broker background work failed")

    async def _heartbeat(self) -> None:
        """Renew the lease and write again what this process holds (a restarted Redis lost it)."""
        engine = self._engine
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self.keys.lease(self.keys.process), "1", px=int(self.lease_seconds * 1000))
            for answer in engine.live.running() if engine is not None else ():
                pipe.hset(self.keys.owner, str(answer.id), self.keys.process)
            await pipe.execute()
        async with self.queue.lock:
            await self.queue.sync()
        await self.queue.requeue_lost()
        await self.watchers.sync()
        await self.board.sync_clock()
        await self.board.publish()

    async def _tick(self) -> None:
        if self.queue.has_waiters():  # the others' waiters are their processes' business
            await self.queue.dispatch()
            await self.queue.check_waiters()

    # --- ownership and events ----------------------------------------------------------------

    async def claim(self, answer: LiveAnswer, *, again: bool = False) -> None:
        try:
            if again and await self.redis.hget(self.keys.owner, str(answer.id)) not in (
                None,
                self.keys.process,  # this process waited for its own to close
            ):
                raise answer_closing()  # its previous generation is still open elsewhere
            if again and (mirror := self._mirrors.get(answer.id)) is not None:
                # Its previous generation's last events, and the end of its stream, are still
                # being copied: the continuation's stream starts after them.
                await asyncio.wait({mirror}, timeout=5)
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(self.keys.owner, str(answer.id), self.keys.process)
                pipe.delete(self.keys.stream(answer.id))  # a continued answer's old events
                pipe.xadd(self.keys.stream(answer.id), {"e": "open"})
                pipe.expire(self.keys.stream(answer.id), STREAM_LIVE_TTL)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise broker_unavailable() from exc

    def publish(self, answer: LiveAnswer) -> None:
        task = asyncio.get_running_loop().create_task(self._mirror(answer))
        self._mirrors[answer.id] = task
        task.add_done_callback(lambda _: self._mirrored(answer.id, task))

    def _mirrored(self, answer_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        if self._mirrors.get(answer_id) is task:  # not a continuation's copy started since
            del self._mirrors[answer_id]

    async def _mirror(self, answer: LiveAnswer) -> None:
        """Copy the answer's events to its stream until it is closed."""
        key = self.keys.stream(answer.id)
        try:
            async for event in sse.follow(answer):
                await self.redis.xadd(
                    key,
                    {"e": event.event or "message", "d": str(event.data)},
                    maxlen=STREAM_MAXLEN,
                    approximate=True,
                )
            await self._end_stream(key)
        except (RedisError, OSError) as exc:
            # The generation goes on and is saved; watchers hear ``broker_unavailable``.
            logger.warning("broker: events of an answer lost", extra={"error": type(exc).__name__})

    async def _end_stream(self, key: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, {"e": "end"}, maxlen=STREAM_MAXLEN, approximate=True)
            pipe.expire(key, self._settings.answer_stream_ttl_seconds)
            await pipe.execute()

    async def disown(self, answer_id: uuid.UUID) -> None:
        with contextlib.suppress(RedisError, OSError):  # recovery only acts on dead leases
            await self.redis.hdel(self.keys.owner, str(answer_id))

    async def abandon(self, answer_id: uuid.UUID) -> None:
        """The request that claimed ``answer_id`` failed: nothing was stored."""
        with contextlib.suppress(RedisError, OSError):
            await self.redis.hdel(self.keys.owner, str(answer_id))
            await self.redis.delete(self.keys.stream(answer_id))

    async def follow(
        self,
        answer_id: uuid.UUID,
        first: ServerSentEvent,
        last_event_id: str | None,
        closing: anyio.Event | None,
        running: bool = True,
    ) -> AsyncIterator[ServerSentEvent] | None:
        if not running:
            # Finished: a client resuming after an event id gets the rest from the stream while
            # it is kept (a whole replay would repeat what it has).
            try:
                if not last_event_id or not await self.redis.exists(self.keys.stream(answer_id)):
                    return None
            except (RedisError, OSError):
                return None
        return self._read(answer_id, first, last_event_id, closing)

    async def _read(
        self,
        answer_id: uuid.UUID,
        first: ServerSentEvent,
        last_event_id: str | None,
        closing: anyio.Event | None,
    ) -> AsyncIterator[ServerSentEvent]:
        yield first
        key = self.keys.stream(answer_id)
        cursor = last_event_id or "0-0"
        missing_since: float | None = None
        while True:
            if closing is not None and closing.is_set():
                # This process stops: the client re-attaches through another one.
                yield _RECONNECT
                return
            try:
                batches = await _to_its_end(self.redis.xread({key: cursor}, count=256, block=1000))
                lost = not batches and not await self.redis.exists(key)
            except (RedisError, OSError):
                yield _unavailable()
                return
            if lost:
                # Gone before its end was read: a restarted Redis lost it. The owner's next
                # event writes it again (or the recovery its end, if the owner died), so it is
                # waited for. A long wait (the model reading a long prompt, or an owner whose
                # copy gave up) sends the client back through the database: it re-attaches, and
                # an answer that ended meanwhile is read as saved.
                missing_since = missing_since or time.monotonic()
                if time.monotonic() - missing_since > LOST_STREAM_WAIT_SECONDS:
                    yield _RECONNECT
                    return
                continue
            missing_since = None
            for _key, entries in batches:
                cursor = entries[-1][0]
                for event in sse.stream_entries(entries):
                    if event is None:
                        return
                    yield event

    async def stop_elsewhere(self, answer_id: uuid.UUID, reason: str = "user") -> str | None:
        key = self.keys.stream(answer_id)
        try:
            kept = await self.redis.exists(key)  # none for an API answer
            if kept or reason == "admin":
                # A person's stop as before the reason existed: an older process reads it.
                said = f" {reason}" if reason != "user" else ""
                await self.redis.publish(self.keys.events, f"stop {answer_id}{said}")
            return await self._final_status(key) if kept else None
        except (RedisError, OSError) as exc:
            raise broker_unavailable() from exc

    async def stop_elsewhere_answers_of(self, user_id: uuid.UUID) -> None:
        try:
            await announce_stop_of(self.redis, self.keys, user_id)
        except (RedisError, OSError) as exc:
            raise broker_unavailable() from exc

    async def announce_credentials_ended(self, user_id: uuid.UUID) -> None:
        await announce_credentials_ended(self.redis, self.keys, user_id)

    async def work(self) -> list[Work]:
        return await self.board.read()

    async def _final_status(self, key: str) -> str | None:
        cursor = "0-0"
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while time.monotonic() < deadline:
            batches: Any = await self.redis.xread({key: cursor}, count=256, block=1000)
            for _key, entries in batches:
                for entry_id, fields in entries:
                    cursor = entry_id
                    if fields["e"] == "done":
                        status = pydantic_core.from_json(fields["d"]).get("status")
                        return str(status) if status else None
        return None

    # --- notifications -----------------------------------------------------------------------

    async def _listen(self) -> None:
        """Grants, queue changes, preemptions and stops, from every process."""
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.keys.events)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self._on_message(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("broker: listener reconnects", extra={"error": type(exc).__name__})
                await asyncio.sleep(1.0)

    async def _on_message(self, text: str) -> None:
        kind, _, arg = text.partition(" ")
        if kind in ("grant", "queue"):
            self.queue.notify()
        elif kind == "preempt":
            self.queue.preempt(arg)
        elif kind == CREDENTIALS_ENDED and self._engine is not None:
            with contextlib.suppress(ValueError):
                self._engine.guards.wake(uuid.UUID(arg))
        elif kind == STOP_USER and self._engine is not None:
            with contextlib.suppress(ValueError):
                self._engine.stop_here_answers_of(uuid.UUID(arg))
        elif kind == "stop" and self._engine is not None:
            answer, _, reason = arg.partition(" ")  # reason: "user" (or none, older), "admin"
            with contextlib.suppress(ValueError):
                self._engine.stop_here(uuid.UUID(answer), "admin" if reason == "admin" else "user")

    # --- crash recovery ----------------------------------------------------------------------

    async def _recover(self) -> None:
        """Answers whose process died become ``interrupted`` (one process does it per round),
        and the ownership records and boards of dead processes are dropped."""
        interval_ms = int(self.lease_seconds / 3 * 1000)
        if not await self.redis.set(self.keys.recovery_lock, "1", nx=True, px=interval_ms):
            return
        assert self._engine is not None
        # Read at one instant: a Redis restart between reading the owners and their leases made
        # every owner look dead, and their running answers were marked interrupted.
        owners = await self._owners(keys=[self.keys.owner], args=[self.keys.prefix])
        live, stale = (set(cast(list[str], answers)) for answers in owners)
        async with self._engine.sessionmaker() as session:
            streaming = await chat_service.streaming_answers(session)
        dead = []
        for answer_id in streaming:
            key = str(answer_id)
            if key in stale or (key not in live and not await self._unclaimed_yet(answer_id)):
                dead.append(answer_id)
        if dead:
            async with self._engine.sessionmaker.begin() as session:
                count = await chat_service.interrupt_answers(session, dead)
            for answer_id in dead:
                await self._end_orphan(answer_id)
            logger.warning("marked %d answers of stopped processes as interrupted", count)
        if stale:
            await self.redis.hdel(self.keys.owner, *stale)
        await self.board.prune()

    async def _unclaimed_yet(self, answer_id: uuid.UUID) -> bool:
        """No owner recorded (Redis lost its data): wait one lease for the owner's heartbeat to
        write it again before deciding that nobody writes the answer."""
        now = time.time()
        key = self.keys.orphan(answer_id)
        ttl = int(self.lease_seconds * 4)
        seen = await self.redis.set(key, str(now), nx=True, ex=ttl, get=True)
        return seen is None or now - float(seen) < self.lease_seconds

    async def _end_orphan(self, answer_id: uuid.UUID) -> None:
        key = self.keys.stream(answer_id)
        detail = (
            "El servidor que escribía esta respuesta se detuvo. El texto recibido quedó guardado."
        )
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hdel(self.keys.owner, str(answer_id))
            pipe.xadd(key, {"e": "error", "d": _json({"detail": detail, "code": "app_restarted"})})
            done = {"assistant_message_id": str(answer_id), "status": "interrupted"}
            pipe.xadd(key, {"e": "done", "d": _json(done)})
            await pipe.execute()
        await self._end_stream(key)


def _unavailable() -> ServerSentEvent:
    error = broker_unavailable()
    return sse.event("error", {"detail": error.detail, "code": error.code})


def _json(data: Mapping[str, object]) -> str:
    return pydantic_core.to_json(data).decode()


async def _to_its_end(read: Awaitable[Any]) -> Any:
    """A blocking read left to finish (data, or its block's end) when its watcher goes away:
    cancelled, redis-py would drop its connection and the next command open one again."""
    task = asyncio.ensure_future(read)
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return await asyncio.shield(task)
