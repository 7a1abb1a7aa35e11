"""Personal API keys and the addresses each key was used from (what the API answered is in
the usage ledger, ``usage/models.py``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Table, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from energyapp.db import Base, UTCDateTime, new_id, utcnow


class ApiKey(Base):
    """A key is never stored: only its SHA-256 digest (to find it) and its first characters
    (to recognise it in a list)."""

    __tablename__ = "api_keys"
    __table_args__ = (
        Index("ix_api_keys_user_created", "user_id", "created_at"),
        # The admin panel's list, newest first (keyset pages on created_at, id).
        Index("ix_api_keys_created", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


API_KEYS: Table = ApiKey.__table__  # type: ignore[assignment]


class ApiKeyAddress(Base):
    """An address a key was used from: the first use from a new one is audited."""

    __tablename__ = "api_key_addresses"

    key_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    ip: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
