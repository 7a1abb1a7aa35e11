"""Rating an answer is a change like any other: it counts against the person's
``write_rate_limit_per_minute``."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.config import Settings
from energyapp.conversations.models import Message
from tests.conftest import HeadersFactory, UserFactory, make_settings
from tests.conversations.conftest import ConversationFactory


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, write_rate_limit_per_minute=2)


async def test_ratings_count_as_changes(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ana = await make_user()
    headers = await auth_headers(ana)
    conversation = await make_conversation(ana, messages=["Hola", "Respuesta"])
    async with sessionmaker() as session:
        answer = await session.scalar(select(Message.id).where(Message.role == "assistant"))
    url = f"/conversations/{conversation.id}/messages/{answer}/feedback"
    assert (await client.put(url, json={"rating": "up"}, headers=headers)).status_code == 200
    assert (await client.delete(url, headers=headers)).status_code == 204
    limited = await client.put(url, json={"rating": "down"}, headers=headers)
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    # Reading the messages (and so the ratings) is not a change.
    listed = await client.get(f"/conversations/{conversation.id}/messages", headers=headers)
    assert listed.status_code == 200
    assert listed.json()["items"][1]["feedback"] is None
