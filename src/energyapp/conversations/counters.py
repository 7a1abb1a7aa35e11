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
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth.models import USERS, User
from energyapp.conversations.models import CONVERSATIONS, Conversation, Message
from energyapp.db import affected_rows


async def conversation_created(session: AsyncSession, owner_id: uuid.UUID) -> None:
    await _move_user(session, owner_id, conversations=1, messages=0)


async def messages_added(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    owner_id: uuid.UUID,
    count: int,
    *,
    at: datetime,
    new_conversation: bool = False,
) -> None:
    """``count`` messages were stored at ``at`` in a conversation of ``owner_id``. The
    conversation's ``updated_at`` follows its messages, so it moves here too. A conversation
    created with them (``new_conversation``) was inserted with :func:`first_messages` already
    counted."""
    if not new_conversation:
        await session.execute(
            update(CONVERSATIONS)
            .where(CONVERSATIONS.c.id == conversation_id)
            .values(message_count=CONVERSATIONS.c.message_count + count, updated_at=at)
        )
    await _move_user(session, owner_id, conversations=int(new_conversation), messages=count)


def first_messages(count: int) -> dict[str, int]:
    """The counter of a conversation inserted together with its first ``count`` messages
    (then reported with :func:`messages_added` and ``new_conversation=True``)."""
    return {"message_count": count}


async def conversation_deleted(
    session: AsyncSession, owner_id: uuid.UUID, message_count: int
) -> None:
    """A conversation of ``owner_id`` with ``message_count`` messages was deleted."""
    await _move_user(session, owner_id, conversations=-1, messages=-message_count)


async def conversations_deleted(
    session: AsyncSession, owner_id: uuid.UUID, conversations: int, messages: int
) -> None:
    """``conversations`` conversations of ``owner_id`` holding ``messages`` messages in all were
    deleted (the retention run deletes in batches)."""
    await _move_user(session, owner_id, conversations=-conversations, messages=-messages)


async def conversation_moved(
    session: AsyncSession, from_id: uuid.UUID, to_id: uuid.UUID, message_count: int
) -> None:
    """A conversation with ``message_count`` messages changed owner."""
    await _move_user(session, from_id, conversations=-1, messages=-message_count)
    await _move_user(session, to_id, conversations=1, messages=message_count)


async def _move_user(
    session: AsyncSession, user_id: uuid.UUID, *, conversations: int, messages: int
) -> None:
    # Core statements on the tables: relative updates that no loaded instance needs to follow
    # (the lists read the counters from the database).
    await session.execute(
        update(USERS)
        .where(USERS.c.id == user_id)
        .values(
            conversation_count=USERS.c.conversation_count + conversations,
            message_count=USERS.c.message_count + messages,
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
    fixed_conversations = await affected_rows(
        session,
        update(Conversation)
        .where(Conversation.message_count != per_conversation)
        .values(message_count=per_conversation)
        .execution_options(synchronize_session=False),
    )
    conversations_of = (
        select(func.count(Conversation.id)).where(Conversation.user_id == User.id).scalar_subquery()
    )
    messages_of = (
        select(func.coalesce(func.sum(Conversation.message_count), 0))
        .where(Conversation.user_id == User.id)
        .scalar_subquery()
    )
    fixed_users = await affected_rows(
        session,
        update(User)
        .where((User.conversation_count != conversations_of) | (User.message_count != messages_of))
        .values(conversation_count=conversations_of, message_count=messages_of)
        .execution_options(synchronize_session=False),
    )
    return Reconciled(users=fixed_users, conversations=fixed_conversations)
