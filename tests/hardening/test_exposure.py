"""What the app serves besides its API, and to whom: /metrics only for the metrics token or a
direct local connection (never one relayed by Caddy); /docs, /redoc and /openapi.json off in
production unless asked for."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from energyapp.config import Settings
from energyapp.main import create_app
from tests.conftest import make_settings
from tests.hardening.conftest import Actor

TOKEN = "metricas-" + "x7Kq2" * 8
LOCAL = "127.0.0.1"
REMOTE = "203.0.113.7"


@asynccontextmanager
async def served(db_url: str, **overrides: Any) -> AsyncIterator[FastAPI]:
    app = create_app(make_settings(db_url, **overrides))
    async with LifespanManager(app):
        yield app


async def get(app: FastAPI, path: str, peer: str = LOCAL, **headers: str) -> httpx.Response:
    """GET ``path`` from ``peer``; ``x_forwarded_for="…"`` sends ``X-Forwarded-For: …``."""
    transport = httpx.ASGITransport(app=app, client=(peer, 50123))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        named = {name.replace("_", "-"): value for name, value in headers.items()}
        return await client.get(path, headers=named)


def assert_metrics(response: httpx.Response, context: str) -> None:
    assert response.status_code == 200, f"{context}: {response.text[:200]}"
    assert "# HELP" in response.text, context


def assert_refused(response: httpx.Response, context: str) -> None:
    assert response.status_code == 401, f"{context}: {response.status_code}"
    assert response.json()["code"] == "metrics_unauthorized", context
    assert response.headers["www-authenticate"] == "Bearer", context
    assert "# HELP" not in response.text, context


async def test_by_default_only_a_direct_local_connection_reads_metrics(
    app: FastAPI, actors: dict[str, Actor]
) -> None:
    assert_metrics(await get(app, "/metrics"), "127.0.0.1")
    assert_metrics(await get(app, "/metrics", peer="::1"), "::1")
    assert_metrics(await get(app, "/metrics", peer="::ffff:127.0.0.1"), "v4-mapped loopback")
    assert_refused(await get(app, "/metrics", peer=REMOTE), "remote peer")
    # Caddy on the same host connects from 127.0.0.1 but always says for whom.
    assert_refused(await get(app, "/metrics", x_forwarded_for=REMOTE), "through Caddy")
    assert_refused(await get(app, "/metrics", x_forwarded_for=LOCAL), "through a proxy, local")
    assert_refused(await get(app, "/metrics", forwarded=f"for={REMOTE}"), "Forwarded")
    assert_refused(await get(app, "/metrics", x_real_ip=REMOTE), "X-Real-IP")
    # A user's access token is not the metrics token, whatever the user's role.
    admin = actors["admin"].headers["Authorization"]
    assert_refused(await get(app, "/metrics", peer=REMOTE, authorization=admin), "admin token")


async def test_the_metrics_token_opens_metrics_from_anywhere(db_url: str) -> None:
    async with served(db_url, metrics_token=TOKEN) as app:
        right = f"Bearer {TOKEN}"
        assert_metrics(await get(app, "/metrics", peer=REMOTE, authorization=right), "token")
        assert_metrics(
            await get(app, "/metrics", x_forwarded_for=REMOTE, authorization=right), "proxied"
        )
        assert_metrics(await get(app, "/metrics"), "still local")
        for wrong in (
            f"Bearer {TOKEN[:-1]}",
            f"Bearer {TOKEN}x",
            f"Bearer {TOKEN.upper()}",
            f"Basic {TOKEN}",
            TOKEN,
            "Bearer ",
        ):
            assert_refused(
                await get(app, "/metrics", peer=REMOTE, authorization=wrong), f"{wrong[:12]}…"
            )
        assert_refused(await get(app, "/metrics", peer=REMOTE), "no token")


async def test_loopback_can_be_switched_off(db_url: str) -> None:
    async with served(db_url, metrics_token=TOKEN, metrics_allow_loopback=False) as app:
        assert_refused(await get(app, "/metrics"), "local without token")
        assert_metrics(await get(app, "/metrics", authorization=f"Bearer {TOKEN}"), "token")
    async with served(db_url, metrics_allow_loopback=False) as app:  # no token: nobody
        assert_refused(await get(app, "/metrics"), "closed")


async def test_the_metrics_token_is_never_logged(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with served(db_url, metrics_token=TOKEN) as app:
            settings: Settings = app.state.settings
            await get(app, "/metrics", peer=REMOTE, authorization=f"Bearer {TOKEN}")
            await get(app, "/metrics", peer=REMOTE, authorization=f"Bearer {TOKEN}x")
            shown = [repr(settings), str(settings), settings.model_dump_json()]
    shown.extend(record.getMessage() + repr(record.__dict__) for record in caplog.records)
    assert not [text for text in shown if TOKEN in text]


API_DOCS = ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")


@pytest.mark.parametrize(
    ("overrides", "served_docs"),
    [
        ({"env": "production"}, False),
        ({"env": "production", "docs_enabled": True}, True),
        ({"env": "test"}, True),
        ({"env": "development"}, True),
        ({"env": "development", "docs_enabled": False}, False),
    ],
    ids=["production", "production asked", "test", "development", "development off"],
)
async def test_api_docs_are_off_in_production(
    db_url: str, overrides: dict[str, Any], served_docs: bool
) -> None:
    async with served(db_url, **overrides) as app:
        for path in API_DOCS:
            response = await get(app, path)
            if served_docs:
                assert response.status_code == 200, path
            else:
                assert response.status_code == 404, path
                assert response.json()["code"] == "not_found", path
        # The schema is still built for the app's own use (tests, clients generated offline).
        assert "/auth/login" in app.openapi()["paths"]
