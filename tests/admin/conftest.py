"""Fixtures and helpers of the admin tests."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.audit.models import AuditEvent
from tests.conversations.conftest import make_conversation

__all__ = ["audit_events", "make_conversation"]


async def audit_events(
    sessionmaker: async_sessionmaker[AsyncSession], action: str
) -> list[AuditEvent]:
    """The stored events of ``action``, oldest first."""
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.created_at)
        )
        return list(rows.all())
