"""What crosses the API-key routes. The secret appears in exactly one of them: the creation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from energyapp.apikeys.service import MAX_DAYS
from energyapp.core import text

NAME_MAX = 100


def clean_name(value: str) -> str:
    """1 to 100 characters after trimming, with no control or invisible characters."""
    name = text.nfc(value).strip()
    if not name:
        raise ValueError("el nombre está vacío")
    if len(name) > NAME_MAX:
        raise ValueError(f"el nombre supera {NAME_MAX} caracteres")
    return text.check_visible(name, "el nombre")


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=400), AfterValidator(clean_name)]
    expires_in_days: StrictInt | None = Field(default=None, ge=1, le=MAX_DAYS)


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    requests_30d: int = Field(default=0, description="Respuestas de la API en 30 días.")
    tokens_30d: int = Field(default=0, description="Tokens de la API en 30 días.")


class ApiKeyCreated(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    key: str = Field(description="La clave completa. Se muestra solo esta vez.")
    expires_at: datetime


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]
    active: int = Field(description="Claves ni revocadas ni vencidas.")


class AdminApiKeyOut(ApiKeyOut):
    user_id: uuid.UUID
    owner_email: str
    owner_full_name: str


class ApiAccessUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool


class ApiAccessOut(BaseModel):
    user_id: uuid.UUID
    api_keys_enabled: bool
