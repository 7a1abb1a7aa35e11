"""Conversations and their messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from energyapp.db import Base, UTCDateTime, new_id, utcnow

# How an answer stands; "streaming" while it is being generated.
MessageStatus = Literal["complete", "streaming", "stopped", "interrupted", "error"]


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # A user's sidebar: pinned first, then newest, keyset on (pinned, updated_at, id),
        # archived apart.
        Index("ix_conversations_user_list", "user_id", "archived", "pinned", "updated_at", "id"),
        # One user's conversations in the admin panel, archived or not.
        Index("ix_conversations_user_updated", "user_id", "updated_at", "id"),
        Index("ix_conversations_updated", "updated_at", "id"),
        # One folder's conversations in the sidebar, the same keyset as the whole list; it also
        # serves the foreign key's ON DELETE SET NULL.
        Index(
            "ix_conversations_folder_list", "folder_id", "archived", "pinned", "updated_at", "id"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(200))
    # "pending": provisional title from the first words, the model has not named it yet;
    # "auto": named by the model; "user": set by a person (never overwritten).
    title_source: Mapped[str] = mapped_column(String(16), default="pending")
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    # The owner's folder (folders/), null: none. Always one of the owner's: a conversation that
    # changes hands leaves it (``leave_owner``).
    folder_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("folders.id", ondelete="SET NULL"), default=None
    )
    # A temporary chat ("Chat temporal"): chosen at creation only, left out of its owner's lists,
    # search and ZIP export, deleted ``temporary_chat_hours`` after ``updated_at`` (its last
    # message) by the retention run, and read as missing by its owner from then on.
    temporary: Mapped[bool] = mapped_column(Boolean, default=False)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    # The last message of the branch shown and continued (messages form a tree through
    # ``Message.parent_id``; docs/chat.md). No foreign key: the two tables would refer to each
    # other. Null only for a conversation without messages.
    current_leaf_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    # Some message has versions (an edit or a regenerated answer): only then is the branch
    # shown a subset of the messages, read through the tree. It never goes back to false.
    has_versions: Mapped[bool] = mapped_column(Boolean, default=False)
    # The owner's custom instructions in force when the conversation was created, kept for its
    # whole life so the start of its prompt never changes (docs/chat.md); both null: none.
    instructions_about_user: Mapped[str | None] = mapped_column(Text, default=None)
    instructions_response_style: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'assistant', 'system')", name="role_valid"),
        CheckConstraint(
            "status IN ('complete', 'streaming', 'stopped', 'interrupted', 'error')",
            name="status_valid",
        ),
        Index("ix_messages_conversation_created", "conversation_id", "created_at", "id"),
        Index("ix_messages_status", "status"),
        Index("ix_messages_user_created", "user_id", "created_at"),
        Index("ix_messages_created", "created_at"),
        Index("ix_messages_parent", "parent_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    # Who caused the message (kept when a conversation is reassigned, for usage accounting).
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # The message this one follows (its question for an answer, the answer before for a
    # question); null for a first message. Always in the same conversation, and deleted only
    # with it, so it has no foreign key (see migration 0007).
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="complete")
    model: Mapped[str | None] = mapped_column(String(100), default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    # How a complete answer ended: "stop" (the model ended it) or "length" (the length cap,
    # ``num_predict``, cut it: it can be continued); null otherwise (docs/chat.md).
    finish_reason: Mapped[str | None] = mapped_column(String(16), default=None)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    first_token_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LegalHold(Base):
    """A conversation an admin placed on legal hold: kept whatever the retention policy."""

    __tablename__ = "legal_holds"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


# The tables themselves, for Core statements (lists, the chat's writes).
CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
MESSAGES: Table = Message.__table__  # type: ignore[assignment]
LEGAL_HOLDS: Table = LegalHold.__table__  # type: ignore[assignment]
