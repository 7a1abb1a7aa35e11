"""An announcement the administrators show at the top of the app, and who dismissed it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Table, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from energyapp.core.roles import ROLE_VALUES
from energyapp.db import Base, UTCDateTime, new_id, utcnow

LEVELS: tuple[str, ...] = ("info", "warning")
# "all", or one role: who sees it (core/roles.py owns the roles).
AUDIENCES: tuple[str, ...] = ("all", *ROLE_VALUES)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Announcement(Base):
    """One announcement, shown to its audience between ``starts_at`` and ``ends_at`` (none:
    until an administrator ends it). ``created_by`` is null for the console's (``energyapp
    announce``) and when its author's account goes."""

    __tablename__ = "announcements"
    __table_args__ = (
        CheckConstraint(_one_of("level", LEVELS), name="level_valid"),
        CheckConstraint(_one_of("audience", AUDIENCES), name="audience_valid"),
        # The API wants the end after the start; "Terminar ahora" on a scheduled one ends it
        # at its start (both now).
        CheckConstraint("ends_at IS NULL OR ends_at >= starts_at", name="ends_after_start"),
        # The active ones: started, not ended (few rows; the index keeps the read cheap anyway).
        Index("ix_announcements_starts_at", "starts_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    body: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))
    audience: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AnnouncementDismissal(Base):
    """A person closed an announcement: it stays closed on every device of theirs. Goes with
    the announcement and with the account."""

    __tablename__ = "announcement_dismissals"
    __table_args__ = (Index("ix_announcement_dismissals_user_id", "user_id"),)

    announcement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("announcements.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    dismissed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


ANNOUNCEMENTS: Table = Announcement.__table__  # type: ignore[assignment]
DISMISSALS: Table = AnnouncementDismissal.__table__  # type: ignore[assignment]
