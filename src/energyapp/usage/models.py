"""The usage ledger: one row per generation of an answer, web or API, written in the
transaction that saves the answer's final counts, and never changed or deleted with the
history (docs/chat.md, "Usage and quotas")."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Table, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from energyapp.db import Base, UTCDateTime, new_id, utcnow


class UsageEvent(Base):
    """What one generation cost: the daily quota, the admin's usage report and an API key's
    use read these rows only, so deleting a conversation (or the retention sweep, or a key's
    deletion) does not give tokens back or change past figures."""

    __tablename__ = "usage_events"
    __table_args__ = (
        Index("ix_usage_events_user_created", "user_id", "created_at"),  # the quota check
        Index("ix_usage_events_created", "created_at"),  # the reports, by day
        Index("ix_usage_events_key_created", "key_id", "created_at"),  # a key's last 30 days
        Index("ix_usage_events_message", "message_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Kept when the account is deleted (like the messages' author): the admin's report still
    # counts what was used, under no one.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(8))  # "web" or "api"
    # The API key that asked; a deleted key leaves its usage behind, unattributed.
    key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), default=None
    )
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[str] = mapped_column(String(20))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    first_token_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    # Messages the generation added to the history (a question and its answer: 2; a new
    # answer to the same question: 1; a continuation or an API answer not stored: 0) and
    # whether it was an answer (a continuation is not a second one).
    messages: Mapped[int] = mapped_column(Integer, default=0)
    answers: Mapped[int] = mapped_column(Integer, default=1)
    # The answer's message when it was kept: no foreign key, the row outlives the message.
    message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)


USAGE_EVENTS: Table = UsageEvent.__table__  # type: ignore[assignment]
