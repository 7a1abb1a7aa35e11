"""Start-up and shutdown of the chat machinery (queue, live answers, crash recovery)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from energyapp.chat import service as chat_service
from energyapp.chat.generation import ChatEngine
from energyapp.chat.live import LocalLiveAnswers
from energyapp.chat.queue import LocalQueue
from energyapp.config import Settings

logger = logging.getLogger("energyapp.chat")


async def recover(app: FastAPI) -> int:
    """Answers a crash left ``streaming`` become ``interrupted``, so no spinner waits forever.

    The in-process queue and registry mean one app process owns every live answer, so any
    ``streaming`` row at start-up belongs to a process that is gone.
    """
    async with app.state.sessionmaker() as session:
        count = await chat_service.recover_interrupted(session)
        await session.commit()
    if count:
        logger.warning("marked %d unfinished answers as interrupted", count)
    return count


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    try:
        await recover(app)
    except Exception as exc:  # the database may be down: /health reports it, chat retries
        logger.warning("crash recovery skipped: %s", type(exc).__name__)
    queue = LocalQueue(
        settings.llm_urls,
        slots_per_server=settings.ollama_max_parallel,
        max_queue=settings.max_queue,
        max_per_user=settings.max_active_per_user,
    )
    engine = ChatEngine(settings, app.state.engine, app.state.llm_http, queue, LocalLiveAnswers())
    app.state.chat = engine
    try:
        yield
    finally:
        await engine.shutdown()
