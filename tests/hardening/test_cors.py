"""With ``allowed_origins`` set, a page served from one of them can use the whole API, as the
app's own UI does: every method a route takes, the headers the UI sends, and the headers it
reads from an answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from energyapp.config import Settings
from tests.conftest import make_settings
from tests.hardening.conftest import endpoints

ORIGIN = "https://panel.alvaradomazzei.cl"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, allowed_origins=[ORIGIN])


@pytest.fixture
async def cross_origin(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    client.headers["Origin"] = ORIGIN
    yield client


async def test_every_method_of_the_api_passes_the_preflight(
    cross_origin: httpx.AsyncClient, app: FastAPI
) -> None:
    """PUT (switching a version, legal holds, the 2FA policy, API access) was missing from the
    allowed methods: the browser refused those requests before sending them."""
    for endpoint in endpoints(app):
        response = await cross_origin.options(
            endpoint.url(),
            headers={
                "Access-Control-Request-Method": endpoint.method,
                # What the UI sends: the token, JSON bodies, and Last-Event-ID to resume a stream.
                "Access-Control-Request-Headers": "authorization, content-type, last-event-id",
            },
        )
        assert response.status_code == 200, f"{endpoint}: {response.text}"
        allowed = response.headers["Access-Control-Allow-Methods"].split(", ")
        assert endpoint.method in allowed, str(endpoint)
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


async def test_the_headers_the_ui_reads_are_exposed(cross_origin: httpx.AsyncClient) -> None:
    """A page on another origin reads only the headers listed as exposed: Retry-After (how long
    to wait after a 429 or 503), Content-Disposition (an export's file name), X-Request-ID."""
    response = await cross_origin.get("/conversations")
    assert response.status_code == 401
    exposed = response.headers["Access-Control-Expose-Headers"].lower().split(", ")
    assert {"retry-after", "content-disposition", "x-request-id"} <= set(exposed)


async def test_another_origin_gets_no_cors_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"Origin": "https://otro.example.com"})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    ("path", "origin", "requested"),
    [
        ("/conversations", "https://otro.example.com", "authorization"),
        ("/conversations", ORIGIN, "x-otra-cabecera"),
        ("/v1/chat/completions", "https://otro.example.com", "authorization"),
    ],
)
async def test_a_refused_preflight_is_an_error_in_the_apps_shape(
    client: httpx.AsyncClient, path: str, origin: str, requested: str
) -> None:
    """Starlette refused a preflight in plain text ("Disallowed CORS origin")."""
    response = await client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": requested,
        },
    )
    assert response.status_code == 400
    body = response.json()
    error = body["error"] if path.startswith("/v1/") else body
    assert error["code"] == "cors_refused"
    assert "CORS" in error["detail" if error is body else "message"]
    assert response.headers["Cache-Control"] == "no-store"
