"""A bug (an exception no handler knows) is answered like every other error: the JSON shape of
its client, the security and cache headers, and a request id that names its log line."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from energyapp.config import Settings
from energyapp.logging import request_id_var
from energyapp.main import create_app
from tests.hardening.test_cache_control import assert_no_store


class _RequestIds(logging.Handler):
    """The request id in force when each error line of ``energyapp.errors`` was written."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str | None] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(request_id_var.get())


@pytest.fixture
async def buggy(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings)

    @app.get("/probe/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    @app.get("/v1/probe/bug")
    async def openai_bug() -> None:
        raise RuntimeError("a bug")

    app.router.routes.insert(0, app.router.routes.pop())  # before /v1's catch-all

    async with LifespanManager(app):
        # A server turns what the app lets escape into a bare 500; so does this transport.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_a_bug_is_answered_with_the_apps_headers_and_request_id(
    buggy: httpx.AsyncClient,
) -> None:
    """Starlette answered it from outside the app's middleware: no ``Cache-Control: no-store``,
    no CSP, ``nosniff`` or frame protection, no ``X-Request-ID``, and the error line was written
    after the request id was gone, so a person quoting the failure could not be traced."""
    ids = _RequestIds()
    logger = logging.getLogger("energyapp.errors")
    logger.addHandler(ids)
    try:
        response = await buggy.get("/probe/bug", headers={"X-Request-ID": "falla-123"})
    finally:
        logger.removeHandler(ids)
    assert response.status_code == 500
    assert response.json() == {
        "detail": "Ocurrió un error interno. Intente de nuevo más tarde.",
        "code": "internal_error",
    }
    assert_no_store(response, "unhandled error")
    assert response.headers["X-Request-ID"] == "falla-123"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert ids.seen == ["falla-123"]


async def test_a_bug_under_v1_is_answered_in_openais_shape(buggy: httpx.AsyncClient) -> None:
    response = await buggy.get("/v1/probe/bug")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.json()["error"]["type"] == "server_error"
