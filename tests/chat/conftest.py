"""Chat fixtures: the stand-in Ollama and the app, both served over real HTTP."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations.models import Conversation, Message
from energyapp.llm.fake_server import FakeConfig, FakeOllama
from energyapp.main import create_app
from tests.conftest import make_settings
from tests.llm.stand_in import serve, stand_in

Event = tuple[str, dict[str, Any]]


@pytest.fixture
async def fake() -> AsyncIterator[tuple[str, FakeOllama]]:
    config = FakeConfig(tokens_per_second=0, answer_tokens=16, seed=7, keep_requests=20)
    async with stand_in(config) as served:
        yield served


LiveApp = Callable[..., contextlib.AbstractAsyncContextManager[tuple[str, FastAPI]]]


@pytest.fixture
def live_app(db_url: str, fake: tuple[str, FakeOllama]) -> LiveApp:
    """``async with live_app(**settings) as (base_url, app)``: the app under uvicorn."""

    @contextlib.asynccontextmanager
    async def _run(**overrides: Any) -> AsyncIterator[tuple[str, FastAPI]]:
        values: dict[str, Any] = {"ollama_url": fake[0], "chat_rate_limit_per_minute": 1000}
        values.update(overrides)
        app = create_app(make_settings(db_url, **values))
        async with serve(app, lifespan="on") as url:
            yield url, app

    return _run


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
        yield client


async def sse_events(
    response: httpx.Response, ids: list[str] | None = None
) -> AsyncIterator[Event]:
    """The (event, data) pairs of a stream; ``ids`` collects the events' ``id:`` fields (where
    a client resumes from with ``Last-Event-ID``)."""
    name = "message"
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("id: ") and ids is not None:
            ids.append(line[4:])
        elif line.startswith("data: "):
            yield name, json.loads(line[6:])


async def collect(response: httpx.Response) -> list[Event]:
    return [event async for event in sse_events(response)]


def text_of(events: list[Event]) -> str:
    return "".join(data["content"] for name, data in events if name == "token")


def named(events: list[Event], name: str) -> list[dict[str, Any]]:
    return [data for event, data in events if event == name]


async def open_chat(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], **body: Any
) -> tuple[httpx.Response, AsyncIterator[Event]]:
    """``POST /chat`` left streaming: the response (200) and its events, read as needed."""
    request = http.build_request(
        "POST", f"{base}/chat", json={"message": "Hola", **body}, headers=headers
    )
    response = await http.send(request, stream=True)
    assert response.status_code == 200, await response.aread()
    return response, sse_events(response)


async def ask(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], **body: Any
) -> dict[str, str]:
    """``POST /chat`` read to its end, which must be ``complete``: the ``meta`` ids and the
    answer's ``text``."""
    async with http.stream("POST", f"{base}/chat", json=body, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        events = await collect(response)
    assert named(events, "done")[0]["status"] == "complete"
    return {**events[0][1], "text": text_of(events)}


async def read_until(stream: AsyncIterator[Event], events: list[Event], name: str) -> None:
    """Append events from ``stream`` to ``events`` until one named ``name`` is among them."""
    while not named(events, name):
        events.append(await anext(stream))


async def load_message(sessionmaker: async_sessionmaker[AsyncSession], message_id: str) -> Message:
    async with sessionmaker() as session:
        message = await session.get(Message, _uuid(message_id))
        assert message is not None
        return message


async def load_conversation(
    sessionmaker: async_sessionmaker[AsyncSession], conversation_id: str
) -> Conversation:
    async with sessionmaker() as session:
        conversation = await session.scalar(
            select(Conversation).where(Conversation.id == _uuid(conversation_id))
        )
        assert conversation is not None
        return conversation


def _uuid(value: str) -> Any:
    import uuid

    return uuid.UUID(value)
