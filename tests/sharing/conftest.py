"""Fixtures of the shared link tests: conversations inserted directly, and messages added to
them the way the chat adds them (a new leaf, the counters kept)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations.models import Conversation, Message
from energyapp.db import utcnow
from tests.conversations.conftest import make_conversation

__all__ = ["make_conversation", "add_message", "Adder"]

Adder = Callable[..., Awaitable[uuid.UUID]]


@pytest.fixture
def add_message(sessionmaker: async_sessionmaker[AsyncSession]) -> Adder:
    """Add a message under ``parent_id`` (default: the current leaf) and make it the leaf."""

    async def _add(
        conversation: Conversation,
        content: str,
        *,
        role: str = "user",
        parent_id: uuid.UUID | str | None = None,
        status: str = "complete",
    ) -> uuid.UUID:
        async with sessionmaker() as session:
            row = await session.get(Conversation, conversation.id)
            assert row is not None
            parent = uuid.UUID(str(parent_id)) if parent_id else row.current_leaf_id
            siblings = await session.scalar(
                select(Message.id).where(
                    Message.conversation_id == row.id, Message.parent_id == parent
                )
            )
            message = Message(
                conversation_id=row.id,
                user_id=row.user_id,
                parent_id=parent,
                role=role,
                content=content,
                status=status,
                model="llama3.1:8b" if role == "assistant" else None,
                created_at=utcnow() + timedelta(seconds=1),
            )
            session.add(message)
            await session.flush()
            await session.execute(
                update(Conversation)
                .where(Conversation.id == row.id)
                .values(
                    current_leaf_id=message.id,
                    message_count=Conversation.message_count + 1,
                    has_versions=Conversation.has_versions | (siblings is not None),
                )
            )
            await session.commit()
            return message.id

    return _add
