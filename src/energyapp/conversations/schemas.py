"""What crosses the API for conversations and messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

from energyapp.core import text

TITLE_MAX = 200


def clean_title(value: str) -> str:
    """1 to 200 characters after trimming, and the name rule of :mod:`energyapp.core.text` (no
    control or invisible characters: they break the sidebar and the exported file names)."""
    title = value.strip()
    if not title:
        raise ValueError("el título no puede estar vacío")
    if len(title) > TITLE_MAX:
        raise ValueError(f"el título admite como máximo {TITLE_MAX} caracteres")
    return text.check_visible(title, "el título")


Title = Annotated[str, AfterValidator(clean_title)]


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None


class ConversationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    pinned: bool | None = None
    archived: bool | None = None


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    title_source: str
    created_at: datetime
    updated_at: datetime
    message_count: int
    pinned: bool
    archived: bool


class ConversationListItem(ConversationOut):
    """A conversation of the sidebar: ``running`` while one of its answers is being generated."""

    running: bool


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    role: str
    content: str
    status: str
    # Why an answer failed (``llm_unavailable``, ``model_missing``, ``llm_error``,
    # ``app_shutdown``, ``app_restarted``, ``internal_error``; docs/chat.md), null otherwise: the
    # UI explains it in Spanish when the conversation is opened again.
    error_code: str | None
    model: str | None
    created_at: datetime
    prompt_tokens: int | None
    completion_tokens: int | None


class ConversationExport(BaseModel):
    """The JSON export: the conversation and every message, oldest first."""

    format: Literal["energyapp.conversation.v1"] = "energyapp.conversation.v1"
    exported_at: datetime
    conversation: ConversationOut
    messages: list[MessageOut]
