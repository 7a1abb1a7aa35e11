"""Folders ("Carpetas"): a person's own groups of conversations."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from energyapp.db import Base, UTCDateTime, new_id, utcnow


class Folder(Base):
    """A folder of one person (``ON DELETE CASCADE`` with the account). Names are unique per
    person ignoring case and accents, checked by the service after locking the person's row
    (docs/conversations-and-admin.md). A conversation points to its folder through
    ``conversations.folder_id`` (``ON DELETE SET NULL``: deleting a folder deletes no
    conversation)."""

    __tablename__ = "folders"
    __table_args__ = (Index("ix_folders_user_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
