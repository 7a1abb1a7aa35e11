"""Start-up and shutdown of the chat machinery (queue, live answers, crash recovery)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth import service as auth_service
from energyapp.chat import prompt
from energyapp.chat import service as chat_service
from energyapp.chat.broker import Broker, LocalBroker
from energyapp.chat.engine import ChatEngine
from energyapp.chat.live import LocalLiveAnswers
from energyapp.chat.ownership import RuntimeOwnership, SoleOwnership, ownership_for
from energyapp.chat.queue import LocalQueue
from energyapp.chat.watchers import LocalWatchers
from energyapp.config import Settings
from energyapp.llm import client as llm

logger = logging.getLogger("energyapp.chat")

REDIS_MAX_CONNECTIONS = 4000  # per process; Redis accepts 10,000 clients by default


async def recover(
    sessionmaker: async_sessionmaker[AsyncSession], ownership: RuntimeOwnership
) -> int:
    """Answers a crash left ``streaming`` become ``interrupted``, so no spinner waits forever.

    Only the owner of the chat runtime does this (``chat/ownership.py``): while another live
    process owns it, the ``streaming`` rows are its answers, being written now.
    """
    if not await ownership.acquire():
        logger.warning(
            "another app process owns the chat runtime of this database: crash recovery left to it"
        )
        return 0
    async with sessionmaker.begin() as session:
        count = await chat_service.recover_interrupted(session)
    if count:
        logger.warning("marked %d unfinished answers as interrupted", count)
    return count


async def warm_up(engine: ChatEngine, server: str) -> None:
    """Load the default model on ``server`` with the options every request uses (a load costs
    seconds on a CPU server; keep_alive then keeps it loaded)."""
    settings = engine.settings
    try:
        await llm.warm_up(
            engine.http,
            server,
            settings.ollama_model,
            options=prompt.chat_options(settings),
            keep_alive=settings.keep_alive,
        )
    except llm.LLMError as exc:
        logger.warning("model warm-up failed", extra={"reason": exc.code, "error": exc.message})


def make_broker(settings: Settings) -> Broker:
    """The Redis broker when ``redis_url`` is set, else the in-process one."""
    if settings.redis_url:
        # Imported here: the Redis broker and redis-py with it cost every process about 6 MB,
        # which the in-process app (no redis_url) would otherwise carry for nothing.
        from energyapp.chat.redis_broker import RedisBroker
        from energyapp.core.redis import async_redis

        client = async_redis(
            settings.redis_url,
            decode_responses=True,
            # Every watcher of an answer holds a connection while it waits (XREAD BLOCK): far
            # more than redis-py's default of 100 at a few dozen streams per process.
            max_connections=REDIS_MAX_CONNECTIONS,
        )
        return RedisBroker(settings, client)
    queue = LocalQueue(
        settings.llm_urls,
        slots_per_server=settings.ollama_max_parallel,
        max_queue=settings.max_queue,
        max_per_user=settings.max_active_per_user,
        hold=settings.slot_hold_seconds,
    )
    return LocalBroker(queue, LocalWatchers(settings.max_streams_per_user))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    broker = make_broker(settings)
    # With the shared broker, crash recovery goes by lease (chat/redis_broker.py): no process
    # touches at start-up an answer that another live process writes.
    ownership: RuntimeOwnership = SoleOwnership()
    if not broker.shared:
        ownership = ownership_for(app.state.engine)
        try:
            await recover(app.state.sessionmaker, ownership)
        except Exception as exc:  # the database may be down: /health reports it, chat retries
            logger.warning("crash recovery skipped: %s", type(exc).__name__)
    engine = ChatEngine(
        settings, app.state.sessionmaker, app.state.llm_http, broker, LocalLiveAnswers()
    )
    await broker.start(engine)
    app.state.chat = engine
    # The request's transactions that end a session or an API key tell the streams it opened.
    app.state.sessionmaker.configure(
        info={auth_service.CREDENTIALS_ENDED: engine.credentials_ended}
    )
    if settings.ollama_warm_up:
        for server in settings.llm_urls:
            engine.spawn(warm_up(engine, server))
    try:
        yield
    finally:
        await engine.shutdown()
        await broker.close()
        await ownership.release()
