"""Fixtures and helpers of the admin tests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.audit.models import AuditEvent
from energyapp.conversations.models import Conversation, Message
from energyapp.usage.models import UsageEvent
from tests.chat.conftest import fake, http, live_app
from tests.conversations.conftest import make_conversation

# The stand-in Ollama and the app over HTTP, for the status tab (test_status.py).
__all__ = ["audit_events", "fake", "http", "live_app", "make_conversation", "move_messages"]


async def audit_events(
    sessionmaker: async_sessionmaker[AsyncSession], action: str
) -> list[AuditEvent]:
    """The stored events of ``action``, oldest first."""
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.created_at)
        )
        return list(rows.all())


async def move_messages(
    sessionmaker: async_sessionmaker[AsyncSession],
    conversation: Conversation,
    *moments: datetime,
) -> None:
    """Date the conversation's messages and their usage, oldest first, ``moments`` in turn (the
    last one for the messages left)."""
    async with sessionmaker() as session:
        messages = (
            await session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation.id)
                .order_by(Message.created_at)
            )
        ).all()
        for i, message in enumerate(messages):
            message.created_at = moments[min(i, len(moments) - 1)]
            await session.execute(
                update(UsageEvent)
                .where(UsageEvent.message_id == message.id)
                .values(created_at=message.created_at)
            )
        await session.commit()
