"""Chat persistence: short transactions on the messages of an answer, crash recovery, quotas.

Every function takes the connection (or session) explicitly and never commits: the caller owns
the transaction. The generation works on Core connections of ``app.state.engine``, one short
transaction per step; the request handlers use their request session.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Insert,
    Integer,
    Text,
    Update,
    Uuid,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from energyapp.auth.models import USERS, Caller, User
from energyapp.chat.prompt import provisional_title
from energyapp.conversations.models import CONVERSATIONS, MESSAGES, Conversation, Message
from energyapp.conversations.service import ConversationRef
from energyapp.core.direct import DirectStatement
from energyapp.db import UTCDateTime, new_id, utcnow
from energyapp.errors import NotFound

# Daily quotas reset at midnight, Chilean time (the company's working day).
QUOTA_TIMEZONE = ZoneInfo("America/Santiago")
# "Last active" is shown to administrators at minute resolution: a user chatting every few
# seconds does not need a write per message.
LAST_ACTIVE_RESOLUTION = timedelta(seconds=60)
HISTORY_LIMIT = 200  # newest messages read to build a prompt; num_ctx keeps far fewer


@dataclass(frozen=True, slots=True)
class StartedChat:
    conversation_id: uuid.UUID
    user_message_id: uuid.UUID
    assistant_message_id: uuid.UUID
    title_pending: bool


# Statements built once (building one costs about a quarter of running it); the values are
# passed at execution. On asyncpg, in autocommit mode (the answer's own writes, and the start
# on the request's connection), they run straight on the driver (core/direct.py).
_ANSWER_ID = MESSAGES.c.id == bindparam("b_id", type_=Uuid)
_SAVE_PROGRESS = DirectStatement(
    update(MESSAGES)
    .where(_ANSWER_ID)
    .values(
        content=bindparam("b_content", type_=Text),
        updated_at=bindparam("b_now", type_=UTCDateTime),
    )
)
_FINISH_ANSWER = DirectStatement(
    update(MESSAGES)
    .where(_ANSWER_ID)
    .values(
        content=bindparam("b_content", type_=Text),
        status=bindparam("b_status", type_=Text),
        error_code=bindparam("b_error_code", type_=Text),
        prompt_tokens=bindparam("b_prompt_tokens", type_=Integer),
        completion_tokens=bindparam("b_completion_tokens", type_=Integer),
        duration_ms=bindparam("b_duration_ms", type_=Integer),
        first_token_ms=bindparam("b_first_token_ms", type_=Integer),
        updated_at=bindparam("b_now", type_=UTCDateTime),
    )
)
_SAVE_AUTO_TITLE = DirectStatement(
    update(CONVERSATIONS)
    .where(
        CONVERSATIONS.c.id == bindparam("b_id", type_=Uuid),
        CONVERSATIONS.c.title_source == "pending",
    )
    .values(title=bindparam("b_title", type_=Text), title_source="auto")
)
_HISTORY = (
    select(MESSAGES.c.role, MESSAGES.c.content)
    .where(
        MESSAGES.c.conversation_id == bindparam("b_conversation"),
        MESSAGES.c.id < bindparam("b_before"),
        MESSAGES.c.role.in_(("user", "assistant")),
        MESSAGES.c.content != "",
    )
    .order_by(MESSAGES.c.created_at.desc(), MESSAGES.c.id.desc())
    .limit(HISTORY_LIMIT)
)


@functools.cache
def _start_statements(
    new_conversation: bool, touch_user: bool
) -> tuple[Insert | Update, Insert, Insert, Update]:
    """The writes that start an answer, sharing one set of ``s_*`` parameters: the
    conversation (created or counted), the question, the empty answer, the owner's counters."""
    now = bindparam("s_now", type_=UTCDateTime)
    if new_conversation:
        conversation: Insert | Update = insert(CONVERSATIONS).values(
            id=bindparam("s_conversation", type_=Uuid),
            user_id=bindparam("s_user", type_=Uuid),
            title=bindparam("s_title", type_=Text),
            title_source="pending",
            pinned=False,
            archived=False,
            message_count=2,
            created_at=now,
            updated_at=now,
        )
    else:
        conversation = (
            update(CONVERSATIONS)
            .where(CONVERSATIONS.c.id == bindparam("s_conversation", type_=Uuid))
            .values(message_count=CONVERSATIONS.c.message_count + 2, updated_at=now)
        )
    common = {
        "conversation_id": bindparam("s_conversation", type_=Uuid),
        "user_id": bindparam("s_user", type_=Uuid),
        "updated_at": now,
    }
    # One single-row INSERT per message: a multi-row VALUES statement is not cacheable by
    # SQLAlchemy and would be compiled again for every answer (measured: 1.7 ms each time).
    question = insert(MESSAGES).values(
        **common,
        id=bindparam("s_question", type_=Uuid),
        role="user",
        content=bindparam("s_message", type_=Text),
        status="complete",
        created_at=now,
    )
    answer = insert(MESSAGES).values(
        **common,
        id=bindparam("s_answer", type_=Uuid),
        role="assistant",
        content="",
        status="streaming",
        model=bindparam("s_model", type_=Text),
        created_at=bindparam("s_answer_created", type_=UTCDateTime),
    )
    counters: dict[str, Any] = {
        "message_count": USERS.c.message_count + 2,
        "conversation_count": USERS.c.conversation_count + int(new_conversation),
        "updated_at": now,  # explicit: column defaults are not applied inside a CTE
    }
    if touch_user:
        counters["last_active_at"] = now
    owner = update(USERS).where(USERS.c.id == bindparam("s_user", type_=Uuid)).values(**counters)
    return conversation, question, answer, owner


async def start_chat(
    conn: AsyncConnection,
    user: Caller,
    conversation: ConversationRef | None,
    message: str,
    model: str,
) -> StartedChat:
    """Store the user's message and an empty ``streaming`` answer (creating the conversation
    when there is none), keep the counters right and mark the user active.

    On PostgreSQL the three writes are one statement (data-modifying CTEs): one round trip,
    atomic without BEGIN/COMMIT, so ``conn`` may be in autocommit mode. On SQLite they run one
    after the other and ``conn`` must be in a transaction.
    """
    now = utcnow()
    question_id, answer_id = new_id(), new_id()
    conversation_id = new_id() if conversation is None else conversation.id
    # The row is written anyway; last_active_at only moves at minute resolution so that most
    # of these updates leave its index alone (PostgreSQL HOT updates).
    touch = now - user.last_active_at >= LAST_ACTIVE_RESOLUTION
    params = {
        "s_now": now,
        "s_conversation": conversation_id,
        "s_user": user.id,
        "s_title": provisional_title(message),
        "s_question": question_id,
        "s_message": message,
        "s_answer": answer_id,
        "s_answer_created": now + timedelta(microseconds=1),
        "s_model": model,
    }
    if starts_in_one_statement(conn.dialect):
        await _single_statement(conversation is None, touch).execute(conn, params)
    else:
        for statement in _start_statements(conversation is None, touch):
            await conn.execute(statement, params)
    return StartedChat(
        conversation_id=conversation_id,
        user_message_id=question_id,
        assistant_message_id=answer_id,
        title_pending=conversation is None or conversation.title_source == "pending",
    )


def starts_in_one_statement(dialect: Dialect) -> bool:
    """Whether :func:`start_chat` is one atomic statement on this database (so its connection
    may be in autocommit mode) or several that need the caller's transaction."""
    return dialect.name == "postgresql"


@functools.cache
def _single_statement(new_conversation: bool, touch_user: bool) -> DirectStatement:
    conversation_write, question, answer, owner = _start_statements(new_conversation, touch_user)
    return DirectStatement(
        owner.add_cte(
            conversation_write.cte("conversation_write"),
            question.cte("new_question"),
            answer.cte("new_answer"),
        )
    )


async def history(
    conn: AsyncConnection, conversation_id: uuid.UUID, before_id: uuid.UUID
) -> list[tuple[str, str]]:
    """The conversation before ``before_id`` (the new question), oldest first, as
    (role, content); empty and failed answers are left out."""
    result = await conn.execute(
        _HISTORY, {"b_conversation": conversation_id, "b_before": before_id}
    )
    return [(role, content) for role, content in reversed(result.all())]


async def save_progress(conn: AsyncConnection, answer_id: uuid.UUID, text: str) -> None:
    await _SAVE_PROGRESS.execute(conn, {"b_id": answer_id, "b_content": text, "b_now": utcnow()})


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
    await _FINISH_ANSWER.execute(
        conn,
        {
            "b_id": answer_id,
            "b_content": text,
            "b_status": status,
            "b_error_code": error_code,
            "b_prompt_tokens": prompt_tokens,
            "b_completion_tokens": completion_tokens,
            "b_duration_ms": duration_ms,
            "b_first_token_ms": first_token_ms,
            "b_now": utcnow(),
        },
    )


async def save_auto_title(conn: AsyncConnection, conversation_id: uuid.UUID, title: str) -> bool:
    """Name a conversation unless a person named it meanwhile (``title_source`` "user")."""
    return bool(await _SAVE_AUTO_TITLE.execute(conn, {"b_id": conversation_id, "b_title": title}))


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


async def tokens_used_since(conn: AsyncConnection, user_id: uuid.UUID, since: datetime) -> int:
    """Prompt plus completion tokens (as Ollama counted them) of the user's answers."""
    total = await conn.scalar(
        select(
            func.coalesce(func.sum(MESSAGES.c.prompt_tokens), 0)
            + func.coalesce(func.sum(MESSAGES.c.completion_tokens), 0)
        ).where(
            MESSAGES.c.user_id == user_id,
            MESSAGES.c.created_at >= since,
            MESSAGES.c.role == "assistant",
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
