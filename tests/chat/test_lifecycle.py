"""Crash recovery at start-up and a graceful shutdown in the middle of an answer."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations.models import Conversation, Message
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import LiveApp, load_message, named, sse_events, text_of
from tests.conftest import HeadersFactory, UserFactory

pytestmark = pytest.mark.local_broker  # crash recovery by start-up ownership


async def test_start_up_marks_unfinished_answers_interrupted(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    async with sessionmaker() as session:
        conversation = Conversation(user_id=user.id, title="Antes del corte")
        session.add(conversation)
        await session.flush()
        question = Message(
            id=uuid.uuid4(),
            conversation_id=conversation.id,
            user_id=user.id,
            role="user",
            content="¿Y?",
        )
        left = Message(
            parent_id=question.id,
            conversation_id=conversation.id,
            user_id=user.id,
            role="assistant",
            content="Texto que alcanzó a guardarse",
            status="streaming",
        )
        session.add_all([question, left])
        await session.commit()
    async with live_app() as (base, _app):
        stored = await load_message(sessionmaker, str(left.id))
        replay = await http.get(f"{base}/chat/{left.id}/stream", headers=headers)
        events = [e async for e in sse_events(replay)]
    assert stored.status == "interrupted" and stored.error_code == "app_restarted"
    assert stored.content == "Texto que alcanzó a guardarse"
    assert text_of(events) == stored.content
    assert events[0][1]["user_message_id"] == str(question.id)
    assert named(events, "done")[0]["status"] == "interrupted"


async def test_shutdown_saves_running_answers_as_interrupted(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.tokens_per_second = 100
    fake[1].config.answer_tokens = 1000
    headers = await auth_headers(await make_user())
    async with live_app() as (base, app):
        response = await http.send(
            http.build_request("POST", f"{base}/chat", json={"message": "Hola"}, headers=headers),
            stream=True,
        )
        stream = sse_events(response)
        events = []
        while len(named(events, "token")) < 5:
            events.append(await anext(stream))
        answer_id = events[0][1]["assistant_message_id"]
        # Progress is saved about every second while the answer grows (never per token).
        await asyncio.sleep(1.3)
        progress = await load_message(sessionmaker, answer_id)
        assert progress.status == "streaming" and progress.content
        await app.state.chat.shutdown()
        events += [e async for e in stream]
        await response.aclose()
    answer = await load_message(sessionmaker, answer_id)
    assert answer.status == "interrupted" and answer.error_code == "app_shutdown"
    assert answer.content == text_of(events)
    assert len(answer.content) >= len(progress.content)
    assert named(events, "error")[0]["code"] == "app_shutdown"
