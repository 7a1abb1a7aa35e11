"""Ollama failing while a user waits: a clear ``error`` event, the partial answer saved with the
right status, the generation slot freed, and the next user served."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.config import Settings
from energyapp.conversations.models import Message
from energyapp.llm.fake_server import FakeConfig, FakeOllama
from tests.conftest import HeadersFactory, UserFactory, make_settings
from tests.llm.stand_in import free_port, stand_in, wait_until_up

Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture
async def fake() -> AsyncIterator[tuple[str, FakeOllama]]:
    async with stand_in(FakeConfig(tokens_per_second=0, answer_tokens=12)) as served:
        yield served


@pytest.fixture
def settings(db_url: str, fake: tuple[str, FakeOllama]) -> Settings:
    # One slot, as in production: a slot that is not freed blocks the next user for good.
    return make_settings(
        db_url,
        ollama_url=fake[0],
        ollama_max_parallel=1,
        llm_token_timeout=0.5,
        chat_rate_limit_per_minute=10_000,
    )


def events_of(response: httpx.Response) -> Events:
    events: Events = []
    name = "message"
    for line in response.text.splitlines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def first(events: Events, name: str) -> dict[str, Any]:
    found = [data for event, data in events if event == name]
    assert found, f"no {name!r} event in {[event for event, _ in events]}"
    return found[0]


def streamed_text(events: Events) -> str:
    return "".join(data["content"] for name, data in events if name == "token")


async def saved(sessionmaker: async_sessionmaker[AsyncSession], message_id: str) -> Message:
    async with sessionmaker() as session:
        message = await session.get(Message, uuid.UUID(message_id))
    assert message is not None
    return message


FAULTS = {
    # mode: (config changes, saved status, error code, tokens received before the fault)
    "error line mid-answer": ({"fail_after_tokens": 5}, "error", "llm_error", 5),
    "malformed NDJSON": ({"malformed_after_tokens": 4}, "error", "llm_error", 4),
    "stall without tokens": ({"stall_after_tokens": 3}, "interrupted", "llm_error", 3),
    "503 busy": ({"busy": True}, "error", "llm_error", 0),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_fault_then_next_user_is_served(
    client: httpx.AsyncClient,
    fake: tuple[str, FakeOllama],
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fault: str,
) -> None:
    changes, status, code, partial = FAULTS[fault]
    config = fake[1].config
    for key, value in changes.items():
        setattr(config, key, value)
    victim = await auth_headers(await make_user())
    response = await client.post("/chat", json={"message": "Primera pregunta"}, headers=victim)
    assert response.status_code == 200
    events = events_of(response)
    error = first(events, "error")
    assert error["code"] == code and error["detail"], error
    assert first(events, "done")["status"] == status
    meta = events[0][1]
    answer = await saved(sessionmaker, meta["assistant_message_id"])
    assert answer.status == status
    assert answer.content == streamed_text(events)
    assert len(answer.content.split()) == partial
    assert (await saved(sessionmaker, meta["user_message_id"])).content == "Primera pregunta"

    # Ollama is healthy again: the single slot is free, the next user gets a full answer.
    for key in changes:
        setattr(config, key, getattr(FakeConfig(), key))
    config.answer_tokens = 12
    other = await auth_headers(await make_user())
    response = await asyncio.wait_for(
        client.post("/chat", json={"message": "Segunda pregunta"}, headers=other), 20
    )
    events = events_of(response)
    assert first(events, "done")["status"] == "complete"
    assert len(streamed_text(events).split()) == 12


async def test_killed_stand_in_frees_the_slot(
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    db_url: str,
) -> None:
    """The Ollama process dies mid-answer; once it is back, the next user is served."""
    from asgi_lifespan import LifespanManager

    from energyapp.main import create_app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "energyapp.llm.fake_server", "--port", str(port)]

    async def start(*extra: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([*command, *extra], stderr=subprocess.DEVNULL)
        try:
            await wait_until_up(url, attempts=400)
        except AssertionError:
            proc.kill()
            raise
        return proc

    proc = await start("--tokens-per-second", "40", "--answer-tokens", "400")
    app = create_app(make_settings(db_url, ollama_url=url, ollama_max_parallel=1))
    try:
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://t", timeout=30
            ) as client:
                victim = await auth_headers(await make_user())
                running = asyncio.create_task(
                    client.post("/chat", json={"message": "Hola"}, headers=victim)
                )
                for _ in range(600):  # up to 30 s: a loaded machine starts the answer late
                    await asyncio.sleep(0.05)
                    async with sessionmaker() as session:
                        from sqlalchemy import select

                        content = await session.scalar(
                            select(Message.content).where(
                                Message.role == "assistant", Message.status == "streaming"
                            )
                        )
                    if content and len(content.split()) >= 3:
                        break
                else:
                    raise AssertionError("the answer never started streaming")
                proc.kill()
                proc.wait(5)
                events = events_of(await asyncio.wait_for(running, 20))
                assert first(events, "error")["code"] == "llm_error"
                assert first(events, "done")["status"] == "interrupted"
                answer = await saved(sessionmaker, events[0][1]["assistant_message_id"])
                assert answer.status == "interrupted" and answer.content == streamed_text(events)
                assert answer.content

                proc = await start("--answer-tokens", "8")
                other = await auth_headers(await make_user())
                response = await asyncio.wait_for(
                    client.post("/chat", json={"message": "¿Sigue ahí?"}, headers=other), 20
                )
                events = events_of(response)
                assert first(events, "done")["status"] == "complete"
                assert len(streamed_text(events).split()) == 8
    finally:
        proc.kill()
        proc.wait(5)
