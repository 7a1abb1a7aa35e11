"""/health with Redis configured (up or down) and while the process drains, against a real Redis
and a real stand-in Ollama."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from energyapp.main import create_app
from tests.conftest import make_settings
from tests.llm.stand_in import free_port, serve, stand_in
from tests.multiproc import claimed_redis_db


@pytest.fixture
def redis_url() -> Iterator[str]:
    with claimed_redis_db() as url:
        yield url


@pytest.fixture
async def ollama_url() -> AsyncIterator[str]:
    async with stand_in() as (url, _fake):
        yield url


async def _health(db_url: str, ollama_url: str, **overrides: Any) -> tuple[int, dict[str, Any]]:
    app = create_app(make_settings(db_url, ollama_url=ollama_url, **overrides))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/health")
    return response.status_code, response.json()


async def test_without_redis_nothing_is_reported_about_it(db_url: str, ollama_url: str) -> None:
    status, body = await _health(db_url, ollama_url)
    assert status == 200
    assert body == body | {"status": "ok", "db": "ok", "ollama": "ok", "redis": None}
    assert body["draining"] is False
    assert body["ollama_stand_in"] is True  # the stand-in says so: its answers are synthetic


async def _real_ollama(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers ``/api/version`` as a real Ollama does."""
    assert scope["path"] == "/api/version"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b'{"version":"0.13.2"}'})


async def test_a_real_ollama_is_not_called_a_stand_in(db_url: str) -> None:
    async with serve(_real_ollama) as url:
        status, body = await _health(db_url, url)
    assert status == 200 and body["ollama"] == "ok" and body["ollama_stand_in"] is False


async def test_no_ollama_is_unavailable_and_no_stand_in(db_url: str) -> None:
    status, body = await _health(db_url, f"http://127.0.0.1:{free_port()}")
    assert status == 200 and body["status"] == "degraded"
    assert body["ollama"] == "unavailable" and body["ollama_stand_in"] is False


async def test_redis_up_is_ok(db_url: str, ollama_url: str, redis_url: str) -> None:
    status, body = await _health(db_url, ollama_url, redis_url=redis_url)
    assert status == 200
    assert body["redis"] == "ok" and body["status"] == "ok", body


async def test_redis_down_degrades_but_keeps_serving(db_url: str, ollama_url: str) -> None:
    """Nothing listens on the port: Redis is ``down`` and the app ``degraded``, still 200 (the
    load balancer keeps sending logins, history and admin to it)."""
    down = f"redis://127.0.0.1:{free_port()}/0"
    status, body = await _health(db_url, ollama_url, redis_url=down)
    assert status == 200
    assert body["redis"] == "down" and body["status"] == "degraded", body
    assert body["db"] == "ok" and body["ollama"] == "ok"


async def test_draining_answers_503(db_url: str, ollama_url: str) -> None:
    """The chat engine sets ``app.state.draining`` on SIGTERM: from then on /health says so with
    a 503, which takes the instance out of Caddy's rotation."""
    app = create_app(make_settings(db_url, ollama_url=ollama_url))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            before = await client.get("/health")
            app.state.draining = True
            during = await client.get("/health")
    assert before.status_code == 200 and before.json()["draining"] is False
    assert during.status_code == 503
    body = during.json()
    assert body["draining"] is True and body["status"] == "draining"
    assert body["db"] == "ok"


async def test_head_answers_what_get_answers_without_a_body(db_url: str, ollama_url: str) -> None:
    """Uptime monitors often probe with HEAD; it was 405, so such a monitor saw the site down
    while it served. Under uvicorn, as deployed: GET's status and headers, no body."""
    app = create_app(make_settings(db_url, ollama_url=ollama_url))
    async with serve(app, lifespan="on") as url, httpx.AsyncClient() as client:
        up = await client.head(f"{url}/health")
        app.state.draining = True
        draining = await client.head(f"{url}/health")
    assert up.status_code == 200 and up.content == b""
    assert up.headers["content-type"] == "application/json"
    assert up.headers["cache-control"] == "no-store"
    assert draining.status_code == 503 and draining.content == b""
