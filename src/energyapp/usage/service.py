"""Writing and reading the usage ledger (``usage_events``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, exists, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from energyapp.conversations.models import Message
from energyapp.usage.models import USAGE_EVENTS


@dataclass(frozen=True, slots=True)
class Charge:
    """One generation's own counts (a continuation's, not the sum its answer shows)."""

    user_id: uuid.UUID
    source: str
    model: str | None
    status: str
    prompt_tokens: int
    completion_tokens: int
    first_token_ms: int | None = None
    messages: int = 0
    answers: int = 1
    message_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None
    # Fixed when the generation ends: a save retried after a commit that held but whose reply
    # was lost finds its row there and does not charge the generation twice.
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def without_counts(self) -> Charge:
        """The same event with no tokens nor times (what a refused end can still record)."""
        return replace(self, prompt_tokens=0, completion_tokens=0, first_token_ms=None)


async def record(session: AsyncSession, charge: Charge) -> None:
    """Append ``charge`` to the ledger in the caller's transaction (the one that saves the
    answer's end, so the two hold or fail together), unless a retried save put it there."""
    values = {
        "id": charge.id,
        "user_id": charge.user_id,
        "source": charge.source,
        "key_id": charge.key_id,
        "model": charge.model,
        "status": charge.status,
        "prompt_tokens": charge.prompt_tokens,
        "completion_tokens": charge.completion_tokens,
        "first_token_ms": charge.first_token_ms,
        "messages": charge.messages,
        "answers": charge.answers,
        "message_id": charge.message_id,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # One statement, no read first: each answer pays its round trips (test_round_trips.py).
    statement = dialect.insert(USAGE_EVENTS).values(**values)
    await session.execute(statement.on_conflict_do_nothing(index_elements=["id"]))


def used_since_query(user_id: uuid.UUID, since: datetime) -> Select[Any]:
    """The quota check's query: a range of ``ix_usage_events_user_created``."""
    c = USAGE_EVENTS.c
    return select(func.coalesce(func.sum(c.prompt_tokens + c.completion_tokens), 0)).where(
        c.user_id == user_id, c.created_at >= since
    )


async def tokens_used_since(session: AsyncSession, user_id: uuid.UUID, since: datetime) -> int:
    """Prompt plus completion tokens (as Ollama counted them) the user's generations cost
    since ``since``, web and API, whether their answers are still kept or not."""
    used = await session.scalar(used_since_query(user_id, since))
    return int(used or 0)


async def record_interrupted(session: AsyncSession, answer_ids: list[uuid.UUID]) -> None:
    """One event for each answer a crash left ``streaming`` that the recovery just marked
    ``interrupted`` (``answer_ids``), in its transaction: no counts (Ollama gives them at the
    end), but the answer and the messages its request added. A continued answer (its earlier
    generation saved counts, and was charged) adds none; an answer with siblings was a new
    answer to a stored question (1); else it came with its question (2)."""
    if not answer_ids:
        return
    answer = aliased(Message)
    siblings = (
        select(func.count())
        .select_from(answer)
        .where(answer.parent_id == Message.parent_id)
        .scalar_subquery()
    )
    continued = Message.prompt_tokens.is_not(None) | Message.completion_tokens.is_not(None)
    rows = select(
        Message.id,
        Message.user_id,
        Message.created_at,
        literal("web"),
        Message.model,
        literal("interrupted"),
        literal(0),
        literal(0),
        case((continued, 0), (siblings > 1, 1), else_=2),
        case((continued, 0), else_=1),
        Message.id,
    ).where(
        Message.id.in_(answer_ids),
        Message.role == "assistant",
        ~exists().where(USAGE_EVENTS.c.id == Message.id),
    )
    columns = ["id", "user_id", "created_at", "source", "model", "status", "prompt_tokens",
               "completion_tokens", "messages", "answers", "message_id"]  # fmt: skip
    await session.execute(insert(USAGE_EVENTS).from_select(columns, rows))
