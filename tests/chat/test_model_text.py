"""A NUL character from the model (Ollama's JSON escapes it as \\u0000; PostgreSQL refuses it in
text): the answer and the title are saved and shown without it, instead of failing to save at
the answer's end. (Lone surrogates cannot come: Ollama's encoder writes invalid UTF-8 as U+FFFD.)"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations.models import Conversation, Message
from energyapp.llm import client as llm
from energyapp.llm.fake_server import FakeConfig, FakeOllama
from energyapp.main import create_app
from tests.chat.conftest import collect, named, text_of
from tests.conftest import HeadersFactory, UserFactory, make_settings
from tests.llm.stand_in import serve

# Every piece of text the stand-in sends starts with a NUL, escaped as Ollama escapes it.
UNSTORABLE = b'"content":"\\u0000'


class UnstorableText:
    """The stand-in, with a NUL in every piece of every answer."""

    def __init__(self) -> None:
        self.inner = FakeOllama(FakeConfig(tokens_per_second=0, answer_tokens=8, seed=3))

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        async def spoil(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.body" and scope.get("path") == "/api/chat":
                message = {**message, "body": message["body"].replace(b'"content":"', UNSTORABLE)}
            await send(message)

        await self.inner(scope, receive, spoil)


@pytest.fixture
async def unstorable() -> AsyncIterator[str]:
    async with serve(UnstorableText()) as url:
        yield url


def test_the_client_drops_what_no_database_stores() -> None:
    text, _ = llm.parse_chat_line(b'{"message":{"content":"a\\u0000b\\ud83d\\ude00"}}')
    assert text == "ab\U0001f600"


async def test_an_answer_with_a_nul_is_saved_without_it(
    unstorable: str,
    db_url: str,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    headers = await auth_headers(await make_user())
    app = create_app(make_settings(db_url, ollama_url=unstorable))
    async with (
        serve(app, lifespan="on") as base,
        http.stream("POST", f"{base}/chat", json={"message": "Hola"}, headers=headers) as response,
    ):
        events = await collect(response)

    done = named(events, "done")[0]
    assert done["status"] == "complete", events
    shown = text_of(events)
    assert shown and "\x00" not in shown
    async with sessionmaker() as session:
        answer = await session.get(Message, uuid.UUID(done["assistant_message_id"]))
        assert answer is not None and answer.status == "complete"
        assert answer.content == shown
        title = await session.scalar(
            select(Conversation.title).where(Conversation.id == answer.conversation_id)
        )
    assert title and "\x00" not in title
