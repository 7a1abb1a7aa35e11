"""Real HTTP servers for tests: the stand-in Ollama and the app under uvicorn, each on a free
port, served as tasks of the test's event loop (so tests can look at their state)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Generator
from typing import Any

import uvicorn

from energyapp.llm import client as llm
from energyapp.llm.fake_server import FakeConfig, FakeOllama


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:  # the test runner owns signals
        yield


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    with free_socket() as sock:
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve(
    app: Any, *, lifespan: str = "off", graceful_shutdown: float = 1
) -> AsyncIterator[str]:
    """Serve ``app`` over real HTTP on a free port; yields its base URL. On exit, requests still
    running get ``graceful_shutdown`` seconds before they are cancelled."""
    sock = free_socket()
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan=lifespan,
        access_log=False,
        timeout_graceful_shutdown=graceful_shutdown,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    port = sock.getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, 10)
        sock.close()


@contextlib.asynccontextmanager
async def stand_in(config: FakeConfig | None = None) -> AsyncIterator[tuple[str, FakeOllama]]:
    fake = FakeOllama(config or FakeConfig(tokens_per_second=0, answer_tokens=16))
    # Like uvicorn's send after a disconnect, the stand-in's stream keeps pacing out tokens
    # nobody reads: at the end of a test, waiting for it to finish proves nothing (0.1 s, not
    # 0: with 0, uvicorn logs a timeout error even when nothing is left running).
    async with serve(fake, graceful_shutdown=0.1) as url:
        yield url, fake


async def wait_until_up(url: str, *, attempts: int = 600) -> None:
    """Wait for a stand-in started as a process to answer, as the app would probe it."""
    async with llm.new_session(connect_timeout=1) as probe:
        for _ in range(attempts):
            if await llm.ollama_version(probe, url, wait_s=0.2) is not None:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the stand-in did not start")
