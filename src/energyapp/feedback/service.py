"""Answer feedback: the owner of a conversation rates its finished answers (👍/👎, with an
optional comment), changes or removes the rating; the lists read it back.

Only the conversation's owner rates (the conversation is loaded through
:func:`energyapp.conversations.service.get_owned_conversation`, so staff reading someone else's
conversation cannot), and only an answer that is ``complete``. A conversation reassigned to
someone else keeps its answers' ratings, but each person sees only their own
(:func:`ratings_of`); rating again replaces the row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth.models import User
from energyapp.conversations.models import MESSAGES, Conversation
from energyapp.core.pagination import Item
from energyapp.core.text import multiline, within
from energyapp.db import for_update, utcnow
from energyapp.errors import Conflict, NotFound
from energyapp.feedback.models import MESSAGE_FEEDBACK, MessageFeedback

RatingValue = Literal["up", "down"]  # the column's check constraint
MAX_COMMENT_CHARS = 1000  # counted in characters (code points) after cleaning


@dataclass(frozen=True, slots=True)
class Rating:
    rating: RatingValue
    comment: str | None
    updated_at: datetime


def clean_comment(raw: str | None) -> str | None:
    """``raw`` cleaned as :func:`energyapp.core.text.multiline`; None when nothing is left; 422
    ``comment_too_long`` beyond :data:`MAX_COMMENT_CHARS` characters."""
    if raw is None:
        return None
    text = within(multiline(raw), MAX_COMMENT_CHARS, "El comentario", "comment_too_long")
    return text or None


async def _rateable_answer(
    session: AsyncSession, conversation: Conversation, message_id: uuid.UUID
) -> None:
    """404 ``message_not_found`` unless the message is in ``conversation``; 409
    ``not_an_answer`` for a question, 409 ``answer_not_complete`` for an answer still being
    written, stopped or failed. The message row is locked, so two ratings of it at once
    (two tabs) take turns instead of both inserting."""
    m = MESSAGES.c
    row = (
        await session.execute(
            for_update(
                select(m.role, m.status).where(
                    m.id == message_id, m.conversation_id == conversation.id
                )
            )
        )
    ).first()
    if row is None:
        raise NotFound("No se encontró el mensaje en esta conversación.", code="message_not_found")
    if row.role != "assistant":
        raise Conflict("Solo se pueden valorar las respuestas.", code="not_an_answer")
    if row.status != "complete":
        raise Conflict("Solo se puede valorar una respuesta terminada.", code="answer_not_complete")


async def rate_answer(
    session: AsyncSession,
    user: User,
    conversation: Conversation,
    message_id: uuid.UUID,
    *,
    rating: RatingValue,
    comment: str | None,
    keep_comment: bool = False,
) -> Rating:
    """Set the caller's rating of one answer of their own ``conversation`` (replacing any
    earlier one, its comment included). ``keep_comment`` (no comment sent): the caller's own
    comment stays when the rating is the one already saved, so a second tab that had not seen
    it (and re-chooses it) does not wipe it; another rating, or someone else's row (a
    reassigned conversation), starts without one."""
    text = None if keep_comment else clean_comment(comment)
    await _rateable_answer(session, conversation, message_id)
    now = utcnow()
    row = await session.get(MessageFeedback, message_id)
    if row is None:
        row = MessageFeedback(message_id=message_id, created_at=now)
        session.add(row)
    elif keep_comment and row.user_id == user.id and row.rating == rating:
        text = row.comment
    row.user_id, row.rating, row.comment, row.updated_at = user.id, rating, text, now
    await session.flush()
    return Rating(rating, text, now)


async def remove_rating(
    session: AsyncSession, user: User, conversation: Conversation, message_id: uuid.UUID
) -> None:
    """Remove the caller's rating of one message of their own ``conversation`` (none: nothing
    to do); 404 ``message_not_found`` when the message is not in it."""
    m = MESSAGES.c
    found = await session.scalar(
        select(m.id).where(m.id == message_id, m.conversation_id == conversation.id)
    )
    if found is None:
        raise NotFound("No se encontró el mensaje en esta conversación.", code="message_not_found")
    f = MESSAGE_FEEDBACK.c
    await session.execute(
        delete(MESSAGE_FEEDBACK).where(f.message_id == message_id, f.user_id == user.id)
    )


async def ratings_of(
    session: AsyncSession, user_id: uuid.UUID, message_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Rating]:
    """``user_id``'s ratings of these messages, by message id (one query)."""
    ids = list(message_ids)
    if not ids:
        return {}
    f = MESSAGE_FEEDBACK.c
    rows = await session.execute(
        select(f.message_id, f.rating, f.comment, f.updated_at).where(
            f.message_id.in_(ids), f.user_id == user_id
        )
    )
    return {r.message_id: Rating(r.rating, r.comment, r.updated_at) for r in rows}


async def ratings_in(
    session: AsyncSession, user_id: uuid.UUID, conversation_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Rating]:
    """``user_id``'s ratings of the answers of these conversations, by message id (one query:
    the ZIP export asks once per page of conversations)."""
    ids = list(conversation_ids)
    if not ids:
        return {}
    f, m = MESSAGE_FEEDBACK.c, MESSAGES.c
    rows = await session.execute(
        select(f.message_id, f.rating, f.comment, f.updated_at)
        .join_from(MESSAGE_FEEDBACK, MESSAGES, m.id == f.message_id)
        .where(m.conversation_id.in_(ids), f.user_id == user_id)
    )
    return {r.message_id: Rating(r.rating, r.comment, r.updated_at) for r in rows}


async def with_feedback(session: AsyncSession, user: User, items: Sequence[Item]) -> list[Item]:
    """Message list items with ``feedback``: the caller's rating of each answer, or None."""
    answers = (item["id"] for item in items if item["role"] == "assistant")
    ratings = await ratings_of(session, user.id, answers)
    return [{**item, "feedback": _as_dict(ratings.get(item["id"]))} for item in items]


def _as_dict(rating: Rating | None) -> Mapping[str, object] | None:
    if rating is None:
        return None
    return {"rating": rating.rating, "comment": rating.comment, "updated_at": rating.updated_at}
