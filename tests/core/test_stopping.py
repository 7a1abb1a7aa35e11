"""SIGTERM first takes the instance out of Caddy's pool (/health 503), then stops it."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from sse_starlette.sse import AppStatus

from energyapp.core import stopping
from energyapp.core.stopping import GracefulServer


@pytest.fixture
def fresh() -> Iterator[None]:
    stopping._stopping.clear()
    yield
    stopping._stopping.clear()
    # uvicorn's exit handler, as sse-starlette patches it, marks every later stream of this
    # process as shutting down: undo it for the tests that follow.
    AppStatus.should_exit = False


def test_sigterm_waits_the_delay_and_sigint_does_not(fresh: None) -> None:
    server = GracefulServer(uvicorn.Config("energyapp.main:create_app"), shutdown_delay=0.3)
    server.handle_exit(signal.SIGTERM, None)
    assert stopping.stopping() and not server.should_exit
    time.sleep(0.6)
    assert server.should_exit

    at_once = GracefulServer(uvicorn.Config("energyapp.main:create_app"), shutdown_delay=5)
    at_once.handle_exit(signal.SIGINT, None)
    assert at_once.should_exit


async def test_health_answers_503_while_stopping(fresh: None, client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    stopping._stopping.set()
    response = await client.get("/health")
    assert response.status_code == 503 and response.json()["db"] == "ok"
