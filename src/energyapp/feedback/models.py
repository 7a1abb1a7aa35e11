"""A person's rating of an answer (👍/👎) with an optional comment: one row per answer."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from energyapp.db import Base, UTCDateTime, utcnow


class MessageFeedback(Base):
    """The rating the conversation's owner gave one of its answers. It goes with the answer
    (``ON DELETE CASCADE``: deleting the conversation, by hand or by retention, deletes it) and
    keeps the rating when the person's account goes (``user_id`` null), as ``messages`` does.
    The answer's model is the message's own ``model``."""

    __tablename__ = "message_feedback"
    __table_args__ = (
        CheckConstraint("rating IN ('up', 'down')", name="rating_valid"),
        # The admin's "Respuestas mal valoradas": one rating, newest first, keyset on the id.
        Index("ix_message_feedback_rating_updated", "rating", "updated_at", "message_id"),
        # The ratings of a period, per day.
        Index("ix_message_feedback_updated", "updated_at"),
    )

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    # Who rated it (the conversation's owner at the time).
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


MESSAGE_FEEDBACK: Table = MessageFeedback.__table__  # type: ignore[assignment]
