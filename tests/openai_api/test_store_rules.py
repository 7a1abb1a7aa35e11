"""``store: true`` keeps the last user message as a conversation's question: by the same rules as
a message sent from the web (not blank, at most ``max_message_chars``), refused before the model
is asked, in OpenAI's error shape; without ``store`` only the context window limits it. Should
keeping the conversation fail, the answer's usage is recorded all the same."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.config import Settings
from energyapp.conversations.models import Conversation, Message
from energyapp.usage.models import UsageEvent
from tests.conftest import HeadersFactory, UserFactory, make_settings
from tests.llm.stand_in import stand_in


@pytest.fixture
async def ollama_url() -> AsyncIterator[str]:
    async with stand_in() as (url, _fake):
        yield url


@pytest.fixture
def settings(db_url: str, ollama_url: str) -> Settings:
    return make_settings(db_url, ollama_url=ollama_url, max_message_chars=100)


async def _count(sessionmaker: async_sessionmaker[AsyncSession], model: Any) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_stored_question_follows_the_rules_of_the_web(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    headers = await auth_headers(await make_user())
    created = await client.post("/api-keys", json={"name": "n8n"}, headers=headers)
    key = {"Authorization": f"Bearer {created.json()['key']}"}
    earlier = [{"role": "user", "content": "Hola"}, {"role": "assistant", "content": "Hola."}]
    refused = {
        "blank": ([*earlier, {"role": "user", "content": " \n "}], 400, "message_empty"),
        "too long": ([{"role": "user", "content": "palabra " * 13}], 413, "message_too_long"),
    }
    for name, (messages, status, code) in refused.items():
        response = await client.post(
            "/v1/chat/completions", json={"messages": messages, "store": True}, headers=key
        )
        assert response.status_code == status, (name, response.text)
        error = response.json()["error"]
        assert error["code"] == code and error["message"], name
    assert await _count(sessionmaker, Conversation) == 0
    assert await _count(sessionmaker, UsageEvent) == 0  # refused before the model was asked

    # Not stored, the same long question is only the context window's business.
    long = [{"role": "user", "content": "palabra " * 13}]
    answered = await client.post("/v1/chat/completions", json={"messages": long}, headers=key)
    assert answered.status_code == 200, answered.text
    stored = await client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "  Resuma  "}], "store": True},
        headers=key,
    )
    assert stored.status_code == 200, stored.text
    async with sessionmaker() as session:
        questions = list(await session.scalars(select(Message).where(Message.role == "user")))
    assert [m.content for m in questions] == ["Resuma"]


# The database itself refuses the answer's messages (a trigger), after the conversation's row
# went in: what a full disk, or a text PostgreSQL cannot store, does to the save.
_REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_messages BEFORE INSERT ON messages "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_messages() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
        "CREATE TRIGGER refuse_messages BEFORE INSERT ON messages "
        "FOR EACH ROW EXECUTE FUNCTION refuse_messages()",
    ],
}
_ALLOW = {
    "sqlite": ["DROP TRIGGER refuse_messages"],
    "postgresql": [
        "DROP TRIGGER refuse_messages ON messages",
        "DROP FUNCTION refuse_messages()",
    ],
}


@contextlib.asynccontextmanager
async def _messages_refused(engine: AsyncEngine) -> AsyncIterator[None]:
    dialect = engine.dialect.name
    async with engine.begin() as conn:
        for statement in _REFUSE[dialect]:
            await conn.execute(text(statement))
    try:
        yield
    finally:
        async with engine.begin() as conn:
            for statement in _ALLOW[dialect]:
                await conn.execute(text(statement))


async def test_a_store_that_fails_still_records_the_usage(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The quota must count an answer whose conversation could not be kept, and no part of
    that conversation may remain."""
    user = await make_user()
    created = await client.post("/api-keys", json={"name": "n8n"}, headers=await auth_headers(user))
    key = {"Authorization": f"Bearer {created.json()['key']}"}
    body = {"messages": [{"role": "user", "content": "Resuma"}], "store": True}
    async with _messages_refused(engine):
        answered = await client.post("/v1/chat/completions", json=body, headers=key)
    assert answered.status_code == 200, answered.text
    assert await _count(sessionmaker, Conversation) == await _count(sessionmaker, Message) == 0
    async with sessionmaker() as session:
        owner = await session.get(User, user.id)
        used = list(await session.scalars(select(UsageEvent)))
    assert owner is not None and (owner.conversation_count, owner.message_count) == (0, 0)
    usage = answered.json()["usage"]
    assert [(u.status, u.message_id, u.prompt_tokens, u.completion_tokens) for u in used] == [
        ("complete", None, usage["prompt_tokens"], usage["completion_tokens"])
    ]
