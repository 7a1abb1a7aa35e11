"""Fixtures for conversations: rows inserted directly, counters and the usage ledger kept as
the services keep them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.conversations.models import Conversation, Message
from energyapp.db import utcnow
from energyapp.usage.models import UsageEvent

ConversationFactory = Callable[..., Awaitable[Conversation]]


@pytest.fixture
def make_conversation(sessionmaker: async_sessionmaker[AsyncSession]) -> ConversationFactory:
    """Insert a conversation owned by ``user`` with ``messages`` texts (user/assistant turns)."""

    async def _make(
        user: User,
        title: str = "Conversación de prueba",
        messages: Sequence[str] = (),
        *,
        updated_at: datetime | None = None,
        tokens: tuple[int, int] = (10, 20),
        **fields: Any,
    ) -> Conversation:
        base = utcnow() - timedelta(minutes=10)
        conversation = Conversation(
            user_id=user.id,
            title=title,
            title_source="auto",
            message_count=len(messages),
            updated_at=updated_at or utcnow(),
            **fields,
        )
        async with sessionmaker() as session:
            session.add(conversation)
            await session.flush()
            parent_id = None  # one branch: each message follows the one before
            for i, text in enumerate(messages):
                assistant = i % 2 == 1
                message_id = uuid.uuid4()
                session.add(
                    Message(
                        id=message_id,
                        parent_id=parent_id,
                        conversation_id=conversation.id,
                        user_id=user.id,
                        role="assistant" if assistant else "user",
                        content=text,
                        model="llama3.1:8b" if assistant else None,
                        prompt_tokens=tokens[0] if assistant else None,
                        completion_tokens=tokens[1] if assistant else None,
                        created_at=base + timedelta(seconds=i),
                    )
                )
                session.add(
                    _event(user, message_id, assistant, tokens, base + timedelta(seconds=i))
                )
                parent_id = message_id
            conversation.current_leaf_id = parent_id
            await session.execute(
                update(User)
                .where(User.id == user.id)
                .values(
                    conversation_count=User.conversation_count + 1,
                    message_count=User.message_count + len(messages),
                )
            )
            await session.commit()
        return conversation

    return _make


def _event(
    user: User, message_id: uuid.UUID, answer: bool, tokens: tuple[int, int], at: datetime
) -> UsageEvent:
    """The ledger's row for a message, as migration 0024's backfill writes it."""
    return UsageEvent(
        user_id=user.id,
        created_at=at,
        source="web",
        model="llama3.1:8b" if answer else None,
        status="complete",
        prompt_tokens=tokens[0] if answer else 0,
        completion_tokens=tokens[1] if answer else 0,
        messages=1,
        answers=int(answer),
        message_id=message_id,
    )


async def search_ids(
    client: httpx.AsyncClient, path: str, q: str, headers: dict[str, str]
) -> set[str]:
    """The ids a list (``/conversations``, ``/admin/users``) answers for the search ``q``."""
    response = await client.get(path, params={"q": q}, headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}
