"""Request bodies above ``max_body_bytes`` are refused before they are read whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.types import Message, Receive, Scope, Send

from energyapp.core.middleware import (
    BodySizeLimitMiddleware,
    JsonTextGuardMiddleware,
    RequestContextMiddleware,
)
from energyapp.errors import install_error_handlers
from tests.hardening.conftest import Actor

LIMIT = 4096
CHUNK = 1024


class _Body(BaseModel):
    message: str


def _probe_app() -> tuple[FastAPI, dict[str, int]]:
    app = FastAPI()
    install_error_handlers(app)
    seen = {"calls": 0}

    @app.post("/echo")
    async def echo(body: _Body) -> dict[str, int]:
        seen["calls"] += 1
        return {"length": len(body.message)}

    app.add_middleware(JsonTextGuardMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=LIMIT)
    app.add_middleware(RequestContextMiddleware)
    return app, seen


class _CountingServer:
    """Feeds a body in chunks, as a server would, and counts how much the app pulled."""

    def __init__(self, app: FastAPI, chunks: int, declared: int | None) -> None:
        self.app = app
        self.chunks = chunks
        self.declared = declared
        self.pulled = 0
        self.messages: list[Message] = []

    async def run(self) -> None:
        headers = [(b"content-type", b"application/json")]
        if self.declared is not None:
            headers.append((b"content-length", str(self.declared).encode()))
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/echo",
            "raw_path": b"/echo",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
        }
        sent = 0

        async def receive() -> Message:
            nonlocal sent
            if sent >= self.chunks:
                return {"type": "http.disconnect"}
            sent += 1
            self.pulled += CHUNK
            return {"type": "http.request", "body": b"x" * CHUNK, "more_body": sent < self.chunks}

        async def send(message: Message) -> None:
            self.messages.append(message)

        receive_fn: Receive = receive
        send_fn: Send = send
        await self.app(scope, receive_fn, send_fn)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])


async def test_declared_length_over_limit_refused_without_reading() -> None:
    app, seen = _probe_app()
    server = _CountingServer(app, chunks=1000, declared=1000 * CHUNK)
    await server.run()
    assert server.status == 413
    assert server.pulled == 0
    assert seen["calls"] == 0
    assert b"payload_too_large" in server.messages[1]["body"]


async def test_chunked_body_over_limit_stops_at_the_limit() -> None:
    """No Content-Length (chunked): counted as it arrives; reading stops just past the limit."""
    app, seen = _probe_app()
    server = _CountingServer(app, chunks=1000, declared=None)
    await server.run()
    assert server.status == 413
    assert server.pulled <= LIMIT + CHUNK
    assert seen["calls"] == 0


async def test_lying_content_length_is_caught_while_reading() -> None:
    app, seen = _probe_app()
    server = _CountingServer(app, chunks=1000, declared=10)
    await server.run()
    assert server.status == 413
    assert server.pulled <= LIMIT + CHUNK
    assert seen["calls"] == 0


async def test_body_at_the_limit_is_served() -> None:
    app, seen = _probe_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        filler = "a" * (LIMIT - len('{"message": ""}'))
        response = await client.post(
            "/echo",
            content=f'{{"message": "{filler}"}}',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 200
        assert response.json() == {"length": len(filler)}

        async def chunked() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"y" * CHUNK

        response = await client.post(
            "/echo", content=chunked(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
        response = await client.post("/echo", content=b"{}", headers={"Content-Length": "abc"})
        assert response.status_code == 400
    assert seen["calls"] == 1


async def test_huge_json_to_real_endpoints(
    client: httpx.AsyncClient, app: FastAPI, actors: dict[str, Actor]
) -> None:
    """Every JSON endpoint of the app refuses a body past ``max_body_bytes``, declared or
    chunked, and a big-but-allowed body is never a 500."""
    limit = app.state.settings.max_body_bytes
    headers = {**actors["trabajador"].headers, "Content-Type": "application/json"}
    huge = b'{"message": "' + b"a" * (limit + 10) + b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    many_keys = b"{" + b",".join(b'"k%d": %d' % (i, i) for i in range(60_000)) + b"}"
    assert len(many_keys) < limit
    for method, path in (
        ("POST", "/chat"),
        ("POST", "/conversations"),
        ("PATCH", "/auth/me"),
        ("POST", "/auth/login"),
        ("POST", "/auth/register"),
    ):
        response = await client.request(method, path, content=huge, headers=headers)
        assert response.status_code == 413, path
        response = await client.request(method, path, content=chunks(), headers=headers)
        assert response.status_code == 413, f"{path} chunked"
        assert response.json()["code"] == "payload_too_large"
        response = await client.request(method, path, content=many_keys, headers=headers)
        assert response.status_code == 422, f"{path} many keys: {response.status_code}"
