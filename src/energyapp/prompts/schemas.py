"""What crosses the API for saved prompts."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from energyapp.prompts.service import MAX_TITLE_CHARS

_TITLE = (
    f"Título de 1 a {MAX_TITLE_CHARS} caracteres visibles, único por persona (sin distinguir "
    "mayúsculas ni tildes: 409 prompt_title_taken)."
)
_BODY = (
    "El texto que se inserta en el cuadro del mensaje: hasta el límite de un mensaje "
    "(GET /chat/limit), contado como se cuenta un mensaje. Más largo: 422 prompt_body_too_long."
)


class PromptCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(description=_TITLE)
    body: str = Field(description=_BODY)


class PromptUpdate(BaseModel):
    """Only the fields sent change; at least one (422 prompt_nothing_to_change)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, description=_TITLE)
    body: str | None = Field(default=None, description=_BODY)


class PromptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    body: str
    published: bool = Field(description="Publicada por un administrador para todos.")
    created_at: datetime
    updated_at: datetime
