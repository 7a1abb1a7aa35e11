"""Conversation services (the caller's own conversations)."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth.models import User
from energyapp.conversations.models import Conversation
from energyapp.db import utcnow
from energyapp.errors import NotFound

DEFAULT_TITLE = "Nueva conversación"


async def get_owned_conversation(
    session: AsyncSession, user: User, conversation_id: uuid.UUID
) -> Conversation:
    """The caller's conversation, or 404 whether it is missing or someone else's."""
    conversation = await session.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == user.id
        )
    )
    if conversation is None:
        raise NotFound("No se encontró la conversación.")
    return conversation


async def create_conversation(
    session: AsyncSession, user: User, title: str | None = None
) -> Conversation:
    """Create a conversation owned by ``user`` and keep the user's counter in step."""
    conversation = Conversation(
        user_id=user.id,
        title=title or DEFAULT_TITLE,
        title_source="user" if title else "pending",
    )
    session.add(conversation)
    await session.execute(
        update(User)
        .where(User.id == user.id)
        .values(conversation_count=User.conversation_count + 1)
    )
    await session.flush()
    return conversation


async def count_new_messages(
    session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID, added: int
) -> None:
    """Keep the denormalised message counters (conversation and user) in step with inserts,
    and move the conversation to the top of its owner's list."""
    now = utcnow()
    await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(message_count=Conversation.message_count + added, updated_at=now)
    )
    await session.execute(
        update(User).where(User.id == user_id).values(message_count=User.message_count + added)
    )
