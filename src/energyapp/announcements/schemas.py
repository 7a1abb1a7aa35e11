"""What crosses the API for announcements."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from energyapp.announcements.service import MAX_BODY_CHARS, Audience, Level, State

_WHEN = "Fecha y hora ISO 8601; sin zona horaria se lee como hora de Santiago (America/Santiago)."


class AnnouncementOut(BaseModel):
    """An announcement as everyone signed in reads it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    body: str = Field(description="Texto plano (mostrar como texto, nunca como HTML).")
    level: Level
    starts_at: datetime
    ends_at: datetime | None


class AdminAnnouncementOut(AnnouncementOut):
    """An announcement in the admin's list, with its audience and state."""

    audience: Audience
    state: State = Field(description="programado, activo o terminado, según la hora del servidor.")
    created_by: uuid.UUID | None = Field(description="null: creado desde la consola del servidor.")
    created_at: datetime
    updated_at: datetime


class AnnouncementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(
        max_length=4 * MAX_BODY_CHARS,  # the real limit is counted after cleaning
        description=(
            f"Texto plano, de 1 a {MAX_BODY_CHARS} caracteres tras normalizar (NFC) y quitar "
            "los espacios del principio y del final."
        ),
    )
    level: Level = "info"
    audience: Audience = Field(
        default="all", description="all: todos; o un rol (admin, supervisor, trabajador)."
    )
    starts_at: datetime | None = Field(default=None, description=f"Omitido: ahora. {_WHEN}")
    ends_at: datetime | None = Field(
        default=None, description=f"Posterior al inicio y futuro; null: sin término. {_WHEN}"
    )


class AnnouncementUpdate(BaseModel):
    """Only the fields sent change; ``starts_at: null`` is now (as when creating one),
    ``ends_at: null`` removes the end."""

    model_config = ConfigDict(extra="forbid")

    body: str | None = Field(default=None, max_length=4 * MAX_BODY_CHARS)
    level: Level | None = None
    audience: Audience | None = None
    starts_at: datetime | None = Field(default=None, description=f"null: ahora. {_WHEN}")
    ends_at: datetime | None = Field(default=None, description=f"null: sin término. {_WHEN}")
