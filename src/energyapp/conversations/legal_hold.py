"""Legal hold: a conversation an admin must keep (a lawsuit, an inspection) is kept whatever the
retention policy, and its owner cannot delete it. Placing, changing and releasing a hold are
audited with the reason."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.audit import service as audit
from energyapp.auth.models import User
from energyapp.conversations.models import CONVERSATIONS, LEGAL_HOLDS, Conversation, LegalHold
from energyapp.db import get_for_update, utcnow
from energyapp.errors import NotFound


def is_held_condition() -> ColumnElement[bool]:
    """True for rows of ``conversations`` that are on hold (for Core statements)."""
    return exists(
        select(LEGAL_HOLDS.c.conversation_id).where(
            LEGAL_HOLDS.c.conversation_id == CONVERSATIONS.c.id
        )
    )


async def get_hold(session: AsyncSession, conversation_id: uuid.UUID) -> LegalHold | None:
    return await session.get(LegalHold, conversation_id)


async def place_hold(
    session: AsyncSession,
    actor: User,
    conversation: Conversation,
    reason: str,
    *,
    request: Request | None,
) -> LegalHold:
    """Put ``conversation`` on hold (or change the reason of its hold); audited."""
    hold = await get_for_update(session, LegalHold, conversation.id)
    if hold is not None and hold.reason == reason:
        return hold
    previous = hold.reason if hold else None
    if hold is None:
        hold = LegalHold(conversation_id=conversation.id, reason=reason, created_by=actor.id)
        session.add(hold)
    else:
        hold.reason = reason
        hold.created_by = actor.id
        hold.created_at = utcnow()
    audit.record(
        session,
        "conversation.legal_hold",
        actor_id=actor.id,
        request=request,
        target_type="conversation",
        target_id=conversation.id,
        details={
            "owner_id": str(conversation.user_id),
            "reason": reason,
            "previous_reason": previous,
        },
    )
    await session.flush()
    return hold


async def release_hold(
    session: AsyncSession, actor: User, conversation: Conversation, *, request: Request | None
) -> None:
    """End the hold: the conversation follows the retention policy again; audited."""
    hold = await get_for_update(session, LegalHold, conversation.id)
    if hold is None:
        raise NotFound("La conversación no está bajo retención legal.", code="hold_not_found")
    await session.delete(hold)
    audit.record(
        session,
        "conversation.legal_hold_released",
        actor_id=actor.id,
        request=request,
        target_type="conversation",
        target_id=conversation.id,
        details={"owner_id": str(conversation.user_id), "reason": hold.reason},
    )
    await session.flush()
