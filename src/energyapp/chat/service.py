"""Chat persistence: starting an answer, saving it as it grows and ends, crash recovery, quotas.

Every function takes the session explicitly and never commits: the caller owns the transaction.
A request starts an answer in its own session (:func:`start_chat`); the generation then writes
through short sessions of its own. The writes of an answer are Core statements on the tables:
rows that no loaded instance needs to follow, written without the ORM's unit of work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth.models import User
from energyapp.chat.prompt import provisional_title
from energyapp.config import Settings
from energyapp.conversations import counters, tree
from energyapp.conversations import service as conversations_service
from energyapp.conversations.models import CONVERSATIONS, MESSAGES, Conversation, Message
from energyapp.core import dates
from energyapp.core.ratelimit import RateLimiter
from energyapp.core.text import nfc
from energyapp.core.tokens import message_limit
from energyapp.db import affected_rows, new_id, utcnow
from energyapp.errors import AppError, NotFound, PayloadTooLarge, Unprocessable
from energyapp.instructions import service as instructions_service
from energyapp.usage import quota as usage_quota
from energyapp.usage import service as usage_service

# "Last active" is shown to administrators at minute resolution: a user chatting every few
# seconds does not need a write of that column per message.
LAST_ACTIVE_RESOLUTION = timedelta(seconds=60)
HISTORY_LIMIT = 200  # newest messages read to build a prompt; num_ctx keeps far fewer


@dataclass(frozen=True, slots=True)
class Turn:
    """Where a request puts its message in the conversation's tree (docs/chat.md)."""

    # None: after the current branch's last message; tree.NO_PARENT: a new first message.
    parent_message_id: uuid.UUID | None = None
    regenerate: bool = False  # a new answer to the question ``parent_message_id``
    temporary: bool = False  # a new conversation is a temporary chat (conversations/temporary.py)


NEXT_TURN = Turn()


@dataclass(frozen=True, slots=True)
class StartedChat:
    conversation_id: uuid.UUID
    user_message_id: uuid.UUID
    assistant_message_id: uuid.UUID
    new_conversation: bool
    message: str  # the question answered (the stored one when regenerating)
    # The conversation's copy of the custom instructions (docs/chat.md), None: it has none.
    instructions: instructions_service.Instructions | None
    messages_added: int = 2  # the question and its answer; 1 when regenerating


def clean_message(raw: str, settings: Settings) -> str:
    """The message without surrounding blanks, in NFC (``core.text.nfc``: one form for what is
    stored and searched); 422 when empty, 413 when longer than ``core.tokens.message_limit``."""
    message = nfc(raw.strip())
    if not message:
        raise Unprocessable("El mensaje está vacío.", code="message_empty")
    if len(message) > (limit := message_limit(settings)):
        raise too_long(len(message), limit)
    return message


def too_long(length: int, limit: int, why: str = "") -> PayloadTooLarge:
    return PayloadTooLarge(
        f"El mensaje es demasiado largo ({length} caracteres; el máximo{why} es {limit}). "
        "Divídalo en partes.",
        code="message_too_long",
    )


async def conversation_for(
    session: AsyncSession, user: User, conversation_id: uuid.UUID | None, settings: Settings
) -> Conversation | None:
    """The caller's conversation to continue (404 when missing, someone else's or an expired
    temporary chat), or None to start a new one."""
    if conversation_id is None:
        return None
    return await conversations_service.get_owned_conversation(
        session, user, conversation_id, settings
    )


async def check_rate(limiter: RateLimiter, user: User, settings: Settings) -> None:
    """429 ``rate_limited`` past the user's messages per minute (the web UI and the API share
    the count)."""
    await limiter.enforce(
        "chat", str(user.id), limit=settings.chat_rate_limit_per_minute, window_seconds=60,
        detail="Envió demasiados mensajes seguidos. Espere {seconds} s e intente de nuevo.",
    )  # fmt: skip


async def check_quota(session: AsyncSession, user: User, settings: Settings) -> None:
    """429 ``quota_exceeded`` once the user's role has used its daily tokens."""
    quota = settings.daily_token_quota.get(user.role)
    if quota is None:  # no ledger read for a role without a quota
        return
    today = await usage_quota.today(session, user, settings)
    if today.remaining:
        return
    reset = today.resets_at
    seconds = max(1, int((reset - utcnow()).total_seconds()))
    raise AppError(
        f"Alcanzó su cuota diaria de {quota:,} tokens. Se renueva el "
        f"{reset.strftime(f'{dates.DAY_FORMAT} a las %H:%M')} (hora de Chile).".replace(",", "."),
        code="quota_exceeded",
        status_code=429,
        # x-should-retry: OpenAI's SDKs otherwise retry a 429 at once, twice, to no avail.
        headers={
            "Retry-After": str(seconds),
            "X-Quota-Reset": reset.isoformat(),
            "x-should-retry": "false",
        },
    )


async def start_chat(
    session: AsyncSession,
    user: User,
    conversation: Conversation | None,
    message: str,
    model: str,
    turn: Turn = NEXT_TURN,
    *,
    custom_instructions: bool = False,
) -> StartedChat:
    """Store the user's message (none when regenerating) and an empty ``streaming`` answer
    where ``turn`` says (creating the conversation when there is none: with
    ``custom_instructions``, the web's, it keeps a copy of the user's instructions in force;
    ``/v1`` never applies them), make that branch the current one, keep the counters right and
    mark the user active."""
    now = utcnow()
    new_conversation = conversation is None
    conversation_id = new_id() if conversation is None else conversation.id
    parent_id, question = await _place(session, conversation, turn)
    question_id, answer_id = question.id if question else new_id(), new_id()
    if conversation is not None and not conversation.has_versions:
        under = question_id if question else parent_id
        conversation.has_versions = await tree.has_children(session, conversation.id, under)
    if conversation is None:
        kept = instructions_service.columns_in_force(user.id) if custom_instructions else {}
        created = await session.execute(
            insert(CONVERSATIONS)
            .values(
                id=conversation_id,
                user_id=user.id,
                title=provisional_title(message),
                # A temporary chat keeps its first words: no request to the model for its title.
                title_source="auto" if turn.temporary else "pending",
                temporary=turn.temporary,
                created_at=now,
                updated_at=now,
                current_leaf_id=answer_id,
                **counters.first_messages(2),
                **kept,
            )
            .returning(
                CONVERSATIONS.c.instructions_about_user,
                CONVERSATIONS.c.instructions_response_style,
            )
        )
        instructions = instructions_service.kept_in(*created.one())
    else:
        conversation.current_leaf_id = answer_id
        instructions = instructions_service.of_conversation(conversation)
    turn_values = {"conversation_id": conversation_id, "user_id": user.id, "updated_at": now}
    rows = [
        # The answer sorts right after its question.
        {**turn_values, "id": answer_id, "parent_id": question_id, "role": "assistant",
         "content": "", "model": model, "status": "streaming",
         "created_at": now + timedelta(microseconds=1)},
    ]  # fmt: skip
    if question is None:
        rows.insert(0, {**turn_values, "id": question_id, "parent_id": parent_id, "role": "user",
                        "content": message, "model": None, "status": "complete",
                        "created_at": now})  # fmt: skip
    await session.execute(insert(MESSAGES), rows)
    await counters.messages_added(
        session, conversation_id, user.id, len(rows), at=now, new_conversation=new_conversation
    )
    if now - user.last_active_at >= LAST_ACTIVE_RESOLUTION:
        user.last_active_at = now
    return StartedChat(
        conversation_id=conversation_id,
        user_message_id=question_id,
        assistant_message_id=answer_id,
        new_conversation=new_conversation,
        message=question.content if question else message,
        instructions=instructions,
        messages_added=len(rows),
    )


async def _place(
    session: AsyncSession, conversation: Conversation | None, turn: Turn
) -> tuple[uuid.UUID | None, Message | None]:
    """(parent of the new question, None) or, when regenerating, (None, the question answered
    again). 404 when the message named is not in this conversation, 422 when it cannot take
    that kind of child."""
    if conversation is None:
        if turn.parent_message_id is not None or turn.regenerate:
            raise Unprocessable(
                "Para editar o regenerar indique la conversación.", code="conversation_required"
            )
        return None, None
    if turn.parent_message_id is None:
        if turn.regenerate:
            raise Unprocessable(
                "Para regenerar indique la pregunta a responder de nuevo.", code="parent_required"
            )
        return conversation.current_leaf_id, None
    if turn.parent_message_id == tree.NO_PARENT and not turn.regenerate:
        return None, None
    parent = await session.scalar(
        select(Message).where(
            Message.id == turn.parent_message_id, Message.conversation_id == conversation.id
        )
    )
    if parent is None:
        raise NotFound("No se encontró el mensaje en esta conversación.", code="message_not_found")
    if turn.regenerate != (parent.role == "user"):
        raise Unprocessable(
            "Se regenera la respuesta a una pregunta, y un mensaje nuevo sigue a una respuesta.",
            code="invalid_parent",
        )
    return (None, parent) if turn.regenerate else (parent.id, None)


async def history(
    session: AsyncSession, conversation_id: uuid.UUID, before_id: uuid.UUID
) -> list[tuple[str, str]]:
    """The branch that leads to ``before_id`` (the question asked), oldest first, as
    (role, content): other versions are not part of it; empty answers are left out."""
    stmt = select(Message.role, Message.content).where(
        Message.role.in_(("user", "assistant")), Message.content != ""
    )
    conversation = await session.get(Conversation, conversation_id)
    if conversation is not None and conversation.has_versions:
        branch = (await tree.load_tree(session, conversation_id)).branch(before_id)[:-1]
        stmt = stmt.where(Message.id.in_(branch[-HISTORY_LIMIT:]))
    else:  # one branch: every message before the question
        stmt = stmt.where(Message.conversation_id == conversation_id, Message.id < before_id)
    rows = await session.execute(
        stmt.order_by(Message.created_at.desc(), Message.id.desc()).limit(HISTORY_LIMIT)
    )
    return [(role, content) for role, content in reversed(rows.all())]


async def save_progress(session: AsyncSession, answer_id: uuid.UUID, text: str) -> bool:
    """Save the text so far; False when the answer was marked ``stopped`` from outside the
    process that generates it (:func:`mark_answers_stopped`) or deleted: it must stop."""
    saved = await affected_rows(
        session,
        update(MESSAGES)
        .where(MESSAGES.c.id == answer_id, MESSAGES.c.status != "stopped")
        .values(content=text, updated_at=utcnow()),
    )
    return saved > 0


async def mark_answers_stopped(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Mark ``stopped`` the answers being written or queued for ``user_id``: the way a process
    that runs no chat runtime (``energyapp deactivate-user``) stops them through the database.
    The process generating one sees the mark at its next progress save (within a second of
    text) and stops it there, saving its whole text; a queued one stops once it has a slot."""
    return await affected_rows(
        session,
        update(MESSAGES)
        .where(
            MESSAGES.c.user_id == user_id,
            MESSAGES.c.role == "assistant",
            MESSAGES.c.status == "streaming",
        )
        .values(status="stopped", updated_at=utcnow()),
    )


async def finish_answer(
    session: AsyncSession,
    answer_id: uuid.UUID,
    *,
    status: str,
    text: str,
    error_code: str | None,
    finish_reason: str | None = None,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    duration_ms: int,
    first_token_ms: int | None,
) -> bool:
    """Save how an answer ended. Returns whether its conversation still waits for its
    automatic title (none was given meanwhile, by a person or by an earlier answer's title),
    read by the same statement: the title writer need not ask again."""
    title_source = (
        select(CONVERSATIONS.c.title_source)
        .where(CONVERSATIONS.c.id == MESSAGES.c.conversation_id)
        .scalar_subquery()
    )
    source: str | None = await session.scalar(
        update(MESSAGES)
        .where(MESSAGES.c.id == answer_id)
        .values(
            content=text,
            status=status,
            error_code=error_code,
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            duration_ms=duration_ms,
            first_token_ms=first_token_ms,
            updated_at=utcnow(),
        )
        .returning(title_source)
    )
    return source == "pending"


async def save_auto_title(session: AsyncSession, conversation_id: uuid.UUID, title: str) -> bool:
    """Name a conversation unless a person named it meanwhile (``title_source`` "user")."""
    saved = await affected_rows(
        session,
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation_id, CONVERSATIONS.c.title_source == "pending")
        .values(title=title, title_source="auto"),
    )
    return saved > 0


async def recover_interrupted(session: AsyncSession) -> int:
    """Answers left ``streaming`` by a crash become ``interrupted`` (their saved text kept),
    each charged once in the usage ledger."""
    return await _interrupt(session, Message.status == "streaming")


async def streaming_answers(
    session: AsyncSession,
    *,
    conversation_id: uuid.UUID | None = None,
    limit: int = 500,
) -> list[uuid.UUID]:
    """Answers being written or waiting for a slot (or left ``streaming`` by a process that
    died), optionally only those in ``conversation_id``."""
    stmt = select(Message.id).where(Message.status == "streaming")
    if conversation_id is not None:
        stmt = stmt.where(Message.conversation_id == conversation_id)
    return list(await session.scalars(stmt.limit(limit)))


async def interrupt_answers(session: AsyncSession, answer_ids: list[uuid.UUID]) -> int:
    """The answers of a process that died become ``interrupted`` (their saved text kept),
    each charged once in the usage ledger."""
    return await _interrupt(session, Message.id.in_(answer_ids) & (Message.status == "streaming"))


async def _interrupt(session: AsyncSession, left: ColumnElement[bool]) -> int:
    """Mark the ``left`` answers ``interrupted`` and charge those this statement changed: of
    two processes recovering the same answers, the second's update finds them changed (on
    PostgreSQL it waits for the first's row locks) and charges none."""
    cut = await session.scalars(
        update(Message)
        .where(left)
        .values(status="interrupted", error_code="app_restarted", updated_at=utcnow())
        .returning(Message.id)
    )
    answer_ids = list(cut)
    await usage_service.record_interrupted(session, answer_ids)
    return len(answer_ids)


async def tokens_used_since(session: AsyncSession, user_id: uuid.UUID, since: datetime) -> int:
    """Prompt plus completion tokens of the user's generations since ``since``, from the usage
    ledger: a deleted conversation gives none back."""
    return await usage_service.tokens_used_since(session, user_id, since)
