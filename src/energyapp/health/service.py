"""What ``/health`` checks: the database, the model servers, Redis, and whether this process is
draining (stopping for an update, so the load balancer must send its work elsewhere)."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from fastapi import FastAPI
from sqlalchemy import text

from energyapp.core.stopping import stopping
from energyapp.llm.client import STAND_IN_VERSION, ollama_version

_CACHE_SECONDS = 5.0
_REDIS_TIMEOUT_SECONDS = 1.0

DbState = Literal["ok", "error"]
OllamaState = Literal["ok", "unavailable"]
RedisState = Literal["ok", "down"]


async def db_status(app: FastAPI) -> DbState:
    try:
        async with app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return "error"
    return "ok"


async def ollama_status(app: FastAPI) -> tuple[OllamaState, bool]:
    """Whether any configured Ollama answers, and whether the first one that does is the
    project's stand-in (synthetic answers); asked at most every few seconds."""
    state = app.state
    cached: tuple[float, OllamaState, bool] | None = getattr(state, "ollama_health_cache", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > _CACHE_SECONDS:
        cached = (now, *await _ask_ollama(app))
        state.ollama_health_cache = cached
    return cached[1], cached[2]


async def _ask_ollama(app: FastAPI) -> tuple[OllamaState, bool]:
    for url in app.state.settings.llm_urls:
        version = await ollama_version(app.state.llm_http, url)
        if version is not None:
            return "ok", version == STAND_IN_VERSION
    return "unavailable", False


async def _redis_answers(url: str) -> bool:
    # Imported here: only an app with redis_url asks, and the in-process one never loads redis-py.
    from redis.exceptions import RedisError

    from energyapp.core.redis import async_redis

    client = async_redis(url)  # the timeout below bounds the connect and the PING together
    try:
        async with asyncio.timeout(_REDIS_TIMEOUT_SECONDS):
            return bool(await client.ping())
    except (RedisError, OSError):  # OSError includes the timeout's TimeoutError
        return False
    finally:
        await client.aclose()


async def redis_status(app: FastAPI) -> RedisState | None:
    """``None`` when no Redis is configured (the embedded default); otherwise whether it answers a
    PING, asked at most every few seconds."""
    url: str | None = app.state.settings.redis_url
    if not url:
        return None
    cached: tuple[float, bool] | None = getattr(app.state, "redis_health_cache", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > _CACHE_SECONDS:
        cached = (now, await _redis_answers(url))
        app.state.redis_health_cache = cached
    return "ok" if cached[1] else "down"


def is_draining(app: FastAPI) -> bool:
    """True once this process stops taking new work (SIGTERM, ``core/stopping.py``; or
    ``app.state.draining``): ``/health`` then answers 503 so that Caddy sends requests to the
    other instances while this one finishes its answers."""
    return stopping() or bool(getattr(app.state, "draining", False))
