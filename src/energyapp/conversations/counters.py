"""The denormalised counters, kept in one place.

``users.conversation_count``, ``users.message_count`` and ``conversations.message_count`` let
the admin lists show totals without counting rows on every page. Every insert, delete and
reassignment of conversations or messages calls one of these functions in the same
transaction, as relative updates (``count = count + n``), so concurrent writers never lose a
change. :func:`reconcile` recomputes all of them from the rows (``energyapp db
reconcile-counters``), should they ever drift.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth.models import User
from energyapp.conversations.models import Conversation, Message


async def conversation_created(session: AsyncSession, owner_id: uuid.UUID) -> None:
    await _move_user(session, owner_id, conversations=1, messages=0)


async def messages_added(
    session: AsyncSession, conversation_id: uuid.UUID, owner_id: uuid.UUID, count: int
) -> None:
    """``count`` messages were stored in a conversation of ``owner_id``."""
    await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(message_count=Conversation.message_count + count)
    )
    await _move_user(session, owner_id, conversations=0, messages=count)


async def conversation_deleted(
    session: AsyncSession, owner_id: uuid.UUID, message_count: int
) -> None:
    """A conversation of ``owner_id`` with ``message_count`` messages was deleted."""
    await _move_user(session, owner_id, conversations=-1, messages=-message_count)


async def conversation_moved(
    session: AsyncSession, from_id: uuid.UUID, to_id: uuid.UUID, message_count: int
) -> None:
    """A conversation with ``message_count`` messages changed owner."""
    await _move_user(session, from_id, conversations=-1, messages=-message_count)
    await _move_user(session, to_id, conversations=1, messages=message_count)


async def _move_user(
    session: AsyncSession, user_id: uuid.UUID, *, conversations: int, messages: int
) -> None:
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            conversation_count=User.conversation_count + conversations,
            message_count=User.message_count + messages,
        )
    )


@dataclass(frozen=True)
class Reconciled:
    users: int  # users whose counters were wrong
    conversations: int  # conversations whose message count was wrong


async def reconcile(session: AsyncSession) -> Reconciled:
    """Recompute every counter from the rows; returns how many rows were wrong."""
    per_conversation = (
        select(func.count(Message.id))
        .where(Message.conversation_id == Conversation.id)
        .scalar_subquery()
    )
    fixed_conversations = await session.execute(
        update(Conversation)
        .where(Conversation.message_count != per_conversation)
        .values(message_count=per_conversation)
        .execution_options(synchronize_session=False)
    )
    conversations_of = (
        select(func.count(Conversation.id)).where(Conversation.user_id == User.id).scalar_subquery()
    )
    messages_of = (
        select(func.coalesce(func.sum(Conversation.message_count), 0))
        .where(Conversation.user_id == User.id)
        .scalar_subquery()
    )
    fixed_users = await session.execute(
        update(User)
        .where((User.conversation_count != conversations_of) | (User.message_count != messages_of))
        .values(conversation_count=conversations_of, message_count=messages_of)
        .execution_options(synchronize_session=False)
    )
    return Reconciled(users=_rowcount(fixed_users), conversations=_rowcount(fixed_conversations))


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
