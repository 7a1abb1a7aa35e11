"""What crosses the API for shared links."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class ShareOut(BaseModel):
    """The link of one's own conversation."""

    token: str
    path: str = Field(description="/#/compartida/<token>: la dirección del servidor + path.")
    conversation_id: uuid.UUID
    created_at: datetime
    updated_at: datetime = Field(description="Cuándo se tomó la versión que se comparte.")
    view_count: int
    up_to_date: bool = Field(
        description="false: la conversación cambió después (otros mensajes u otra versión); "
        "«Actualizar enlace» comparte lo que se ve ahora."
    )


class SharedLinkItem(BaseModel):
    """One of the caller's links, for Configuración's "Enlaces compartidos"."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    title: str
    path: str
    view_count: int
    created_at: datetime
    updated_at: datetime


class SharedMessageOut(BaseModel):
    role: str
    content: str
    status: str
    created_at: datetime
    model: str | None
    error_code: str | None = Field(description="Por qué falló una respuesta (docs/chat.md).")
    finish_reason: str | None = Field(
        description='"length": el largo máximo cortó la respuesta; "stop": terminó.'
    )


class SharedConversationOut(BaseModel):
    """A shared conversation as its readers see it: read-only, as it was when shared."""

    title: str
    shared_by: str = Field(description="El nombre de quien la compartió.")
    shared_at: datetime = Field(description="Cuándo se compartió (o se actualizó el enlace).")
    is_owner: bool = Field(description="true: quien lee es quien la compartió.")
    messages: list[SharedMessageOut]


class SharedCopyOut(BaseModel):
    """The reader's new conversation, a copy of the shared one."""

    conversation_id: uuid.UUID
