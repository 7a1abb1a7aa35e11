"""A person's custom instructions ("Instrucciones personalizadas"): one row per user."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from energyapp.db import Base, UTCDateTime, utcnow


class CustomInstructions(Base):
    """What the person wants the assistant to know and how to answer. A conversation takes a
    copy of them when it is created (``conversations.instructions_*``, see docs/chat.md), so
    editing this row never changes a conversation already started."""

    __tablename__ = "custom_instructions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    about_user: Mapped[str] = mapped_column(Text, default="")
    response_style: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


CUSTOM_INSTRUCTIONS: Table = CustomInstructions.__table__  # type: ignore[assignment]
