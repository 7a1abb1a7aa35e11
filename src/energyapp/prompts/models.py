"""Saved prompts ("Indicaciones guardadas"): texts a person inserts into the composer."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Table, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from energyapp.db import Base, UTCDateTime, new_id, utcnow


class SavedPrompt(Base):
    """A person's own prompt (``user_id`` set: it goes with their account, ``ON DELETE
    CASCADE``), or one an admin published for everyone (``user_id`` null; ``created_by`` names
    the admin and is nulled when that account goes). Titles are unique per owner ignoring case
    and accents, checked by the service (docs/conversations-and-admin.md)."""

    __tablename__ = "saved_prompts"
    __table_args__ = (Index("ix_saved_prompts_user_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    title: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


SAVED_PROMPTS: Table = SavedPrompt.__table__  # type: ignore[assignment]
