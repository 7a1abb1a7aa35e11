"""What crosses the API for folders."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from energyapp.folders.service import MAX_NAME_CHARS

_NAME = (
    f"Nombre de 1 a {MAX_NAME_CHARS} caracteres visibles en una línea, único por persona (sin "
    "distinguir mayúsculas ni tildes: 409 folder_name_taken)."
)


class FolderWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description=_NAME)


class FolderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    conversation_count: int = Field(
        description="Conversaciones no archivadas de la carpeta (las archivadas no se cuentan)."
    )
    created_at: datetime
    updated_at: datetime
