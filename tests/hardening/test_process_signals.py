"""The app process stopped during answers: SIGTERM saves running answers as ``interrupted`` with
their text; after a SIGKILL, the next start marks the answers left ``streaming`` the same way."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations.models import Message
from energyapp.llm.fake_server import FakeConfig
from energyapp.main import create_app
from tests.conftest import TEST_SECRET, HeadersFactory, UserFactory, make_settings
from tests.llm.stand_in import free_port, stand_in

pytestmark = pytest.mark.slow


@pytest.fixture
async def ollama_url() -> AsyncIterator[str]:
    # Long answers: they are still running when the signal arrives.
    async with stand_in(FakeConfig(tokens_per_second=25, answer_tokens=2000)) as (url, _fake):
        yield url


async def start_app(db_url: str, ollama_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "ENERGYAPP_ENV": "test",
        "ENERGYAPP_DB_URL": db_url,
        "ENERGYAPP_SECRET_KEY": TEST_SECRET,
        "ENERGYAPP_OLLAMA_URL": ollama_url,
        "ENERGYAPP_OLLAMA_MAX_PARALLEL": "4",
        "ENERGYAPP_FAKE_OLLAMA_AUTOSTART": "false",
        "ENERGYAPP_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "energyapp.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--timeout-graceful-shutdown",
            "2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as probe:
        for _ in range(400):
            try:
                if (await probe.get(f"{base}/health", timeout=0.5)).status_code == 200:
                    return proc, base
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("the app did not start")


async def follow_until(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], tokens: int, seen: dict[str, Any]
) -> None:
    """Chat and read the stream; record the ids and the text; return once ``tokens`` arrived
    (the stream stays open in the background)."""
    ready = asyncio.Event()

    async def run() -> None:
        name = "message"
        count = 0
        try:
            async with http.stream(
                "POST",
                f"{base}/chat",
                json={"message": "Cuente una historia larga"},
                headers=headers,
            ) as response:
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        data = json.loads(line[6:])
                        if name == "meta":
                            seen.update(data)
                        elif name == "token":
                            count += 1
                            seen["text"] = seen.get("text", "") + data["content"]
                            if count >= tokens:
                                ready.set()
        except httpx.HTTPError:
            pass  # the server went away: that is the point
        finally:
            ready.set()

    seen["task"] = asyncio.create_task(run())
    await asyncio.wait_for(ready.wait(), 30)


async def saved(sessionmaker: async_sessionmaker[AsyncSession], message_id: str) -> Message:
    async with sessionmaker() as session:
        message = await session.get(Message, uuid.UUID(message_id))
    assert message is not None
    return message


async def test_sigterm_saves_running_answers_as_interrupted(
    db_url: str,
    ollama_url: str,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    proc, base = await start_app(db_url, ollama_url)
    streams: list[dict[str, Any]] = [{}, {}]
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            for seen in streams:
                await follow_until(http, base, await auth_headers(await make_user()), 10, seen)
            proc.send_signal(signal.SIGTERM)
            # uvicorn re-raises the signal once its graceful shutdown is done.
            assert await asyncio.to_thread(proc.wait, 30) in (0, -signal.SIGTERM)
            for seen in streams:
                await seen["task"]
    finally:
        proc.kill()
    for seen in streams:
        answer = await saved(sessionmaker, seen["assistant_message_id"])
        assert answer.status == "interrupted"
        assert answer.error_code == "app_shutdown"
        # Everything the user saw is saved (and what was generated after the last event sent).
        assert answer.content.startswith(seen["text"]) and len(seen["text"].split()) >= 10
        question = await saved(sessionmaker, seen["user_message_id"])
        assert question.content == "Cuente una historia larga"


async def test_sigkill_then_restart_marks_leftovers_interrupted(
    db_url: str,
    ollama_url: str,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    proc, base = await start_app(db_url, ollama_url)
    seen: dict[str, Any] = {}
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            # Long enough for at least one progress save (about once a second).
            await follow_until(http, base, await auth_headers(await make_user()), 40, seen)
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)
            await seen["task"]
    finally:
        proc.kill()
    left = await saved(sessionmaker, seen["assistant_message_id"])
    assert left.status == "streaming"  # nobody could save it: the process died at once
    saved_text = left.content
    assert saved_text and seen["text"].startswith(saved_text)

    app = create_app(make_settings(db_url, ollama_url=ollama_url))
    async with LifespanManager(app):
        pass
    answer = await saved(sessionmaker, seen["assistant_message_id"])
    assert answer.status == "interrupted"
    assert answer.content == saved_text
