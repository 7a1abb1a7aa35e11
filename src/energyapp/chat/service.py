"""Chat persistence: short transactions on the messages of an answer, crash recovery, quotas.

Every function takes the connection (or session) explicitly and never commits: the caller owns
the transaction. The generation works on Core connections of ``app.state.engine``, one short
transaction per step; the request handlers use their request session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from energyapp.auth.models import User
from energyapp.chat.prompt import provisional_title
from energyapp.conversations.models import Conversation, Message
from energyapp.db import new_id, utcnow
from energyapp.errors import NotFound

# Daily quotas reset at midnight, Chilean time (the company's working day).
QUOTA_TIMEZONE = ZoneInfo("America/Santiago")
# "Last active" is shown to administrators at minute resolution: a user chatting every few
# seconds does not need a write per message.
LAST_ACTIVE_RESOLUTION = timedelta(seconds=60)
HISTORY_LIMIT = 200  # newest messages read to build a prompt; num_ctx keeps far fewer
MESSAGES: Table = Message.__table__  # type: ignore[assignment]
CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
USERS: Table = User.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class StartedChat:
    conversation_id: uuid.UUID
    user_message_id: uuid.UUID
    assistant_message_id: uuid.UUID
    title_pending: bool


async def start_chat(
    conn: AsyncConnection,
    user: User,
    conversation: Conversation | None,
    message: str,
    model: str,
) -> StartedChat:
    """Store the user's message and an empty ``streaming`` answer (creating the conversation
    when there is none), keep the counters right and mark the user active.

    Three Core statements in the caller's transaction, whatever the case: the answer path pays
    for every statement, and the ORM's unit of work adds nothing here.
    """
    now = utcnow()
    question_id, answer_id = new_id(), new_id()
    if conversation is None:
        conversation_id = new_id()
        title_pending = True
        await conn.execute(
            insert(CONVERSATIONS).values(
                id=conversation_id,
                user_id=user.id,
                title=provisional_title(message),
                title_source="pending",
                pinned=False,
                archived=False,
                message_count=2,
                created_at=now,
                updated_at=now,
            )
        )
    else:
        conversation_id = conversation.id
        title_pending = conversation.title_source == "pending"
        await conn.execute(
            update(CONVERSATIONS)
            .where(CONVERSATIONS.c.id == conversation_id)
            .values(message_count=CONVERSATIONS.c.message_count + 2, updated_at=now)
        )
    common = {"conversation_id": conversation_id, "user_id": user.id, "updated_at": now}
    await conn.execute(
        insert(MESSAGES).values(
            [
                dict(
                    common,
                    id=question_id,
                    role="user",
                    content=message,
                    status="complete",
                    model=None,
                    created_at=now,
                ),
                dict(
                    common,
                    id=answer_id,
                    role="assistant",
                    content="",
                    status="streaming",
                    model=model,
                    created_at=now + timedelta(microseconds=1),
                ),
            ]
        )
    )
    counters: dict[str, Any] = {"message_count": USERS.c.message_count + 2}
    if conversation is None:
        counters["conversation_count"] = USERS.c.conversation_count + 1
    if now - user.last_active_at >= LAST_ACTIVE_RESOLUTION:
        counters["last_active_at"] = now
    await conn.execute(update(USERS).where(USERS.c.id == user.id).values(**counters))
    return StartedChat(
        conversation_id=conversation_id,
        user_message_id=question_id,
        assistant_message_id=answer_id,
        title_pending=title_pending,
    )


async def history(
    conn: AsyncConnection, conversation_id: uuid.UUID, before_id: uuid.UUID
) -> list[tuple[str, str]]:
    """The conversation before ``before_id`` (the new question), oldest first, as
    (role, content); empty and failed answers are left out."""
    rows = (
        await conn.execute(
            select(MESSAGES.c.role, MESSAGES.c.content)
            .where(
                MESSAGES.c.conversation_id == conversation_id,
                MESSAGES.c.id < before_id,
                MESSAGES.c.role.in_(("user", "assistant")),
                MESSAGES.c.content != "",
            )
            .order_by(MESSAGES.c.created_at.desc(), MESSAGES.c.id.desc())
            .limit(HISTORY_LIMIT)
        )
    ).all()
    return [(role, content) for role, content in reversed(rows)]


async def save_progress(conn: AsyncConnection, answer_id: uuid.UUID, text: str) -> None:
    await conn.execute(
        update(MESSAGES).where(MESSAGES.c.id == answer_id).values(content=text, updated_at=utcnow())
    )


async def finish_answer(
    conn: AsyncConnection,
    answer_id: uuid.UUID,
    *,
    status: str,
    text: str,
    error_code: str | None,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    duration_ms: int,
    first_token_ms: int | None,
) -> None:
    await conn.execute(
        update(MESSAGES)
        .where(MESSAGES.c.id == answer_id)
        .values(
            content=text,
            status=status,
            error_code=error_code,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            duration_ms=duration_ms,
            first_token_ms=first_token_ms,
            updated_at=utcnow(),
        )
    )


async def save_auto_title(conn: AsyncConnection, conversation_id: uuid.UUID, title: str) -> bool:
    """Name a conversation unless a person named it meanwhile (``title_source`` "user")."""
    result = await conn.execute(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation_id, CONVERSATIONS.c.title_source == "pending")
        .values(title=title, title_source="auto")
    )
    return bool(result.rowcount)


async def recover_interrupted(session: AsyncSession) -> int:
    """Answers left ``streaming`` by a crash become ``interrupted`` (their saved text kept)."""
    result = await session.execute(
        update(Message)
        .where(Message.status == "streaming")
        .values(status="interrupted", error_code="app_restarted", updated_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def owned_answer(session: AsyncSession, user: User, answer_id: uuid.UUID) -> Message:
    """An assistant message in one of the caller's conversations, or 404."""
    answer = await session.scalar(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.id == answer_id,
            Message.role == "assistant",
            Conversation.user_id == user.id,
        )
    )
    if answer is None:
        raise NotFound("No se encontró la respuesta.")
    return answer


def quota_day_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Start and end (next reset) of today's quota day."""
    local = (now or utcnow()).astimezone(QUOTA_TIMEZONE)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=1, hours=2)).replace(hour=0)  # safe across DST changes
    return start, end


async def tokens_used_since(session: AsyncSession, user_id: uuid.UUID, since: datetime) -> int:
    """Prompt plus completion tokens (as Ollama counted them) of the user's answers."""
    total = await session.scalar(
        select(
            func.coalesce(func.sum(Message.prompt_tokens), 0)
            + func.coalesce(func.sum(Message.completion_tokens), 0)
        ).where(
            Message.user_id == user_id,
            Message.created_at >= since,
            Message.role == "assistant",
        )
    )
    return int(total or 0)


async def question_of(session: AsyncSession, answer: Message) -> uuid.UUID | None:
    """The user message an answer replies to (the one just before it)."""
    return await session.scalar(
        select(Message.id)
        .where(
            Message.conversation_id == answer.conversation_id,
            Message.role == "user",
            Message.id < answer.id,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
