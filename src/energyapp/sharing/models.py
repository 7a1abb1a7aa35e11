"""A read-only link to a conversation ("Compartir"): one row per shared conversation."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Table, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from energyapp.db import Base, UTCDateTime, new_id, utcnow


class SharedLink(Base):
    """The capability to read one branch of a conversation, as it was when its owner shared it
    (or last updated the link). It goes with the conversation (``ON DELETE CASCADE``: deletion
    by hand or by retention takes it) and with a reassignment (the new owner never shared it:
    :func:`energyapp.sharing.service.forget_link`)."""

    __tablename__ = "shared_links"
    __table_args__ = (
        # The owner's "Enlaces compartidos": newest first.
        Index("ix_shared_links_user_created", "user_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # secrets.token_urlsafe(32), 43 characters, as every opaque token (the log scan looks for
    # those): whoever holds it (and an account) reads the snapshot.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    # One link per conversation: sharing again moves the snapshot and keeps the token.
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True
    )
    # Who shared it (the owner at the time); an account deleted takes its links.
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The snapshot: the branch from the first message down to this one. No foreign key, as
    # ``conversations.current_leaf_id``: the message goes only with its conversation.
    leaf_message_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


SHARED_LINKS: Table = SharedLink.__table__  # type: ignore[assignment]
