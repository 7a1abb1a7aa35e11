"""Settings of temporary chats (``ENERGYAPP_TEMPORARY_CHAT_HOURS``): fields of
:class:`energyapp.config.Settings`, kept here so that the one settings class stays readable."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TemporaryChatSettings(BaseModel):
    # A temporary chat ("Chat temporal") is deleted this many hours after its last message, and
    # its owner reads it as missing from then on. At least 24 since the quota counted stored
    # answers (a shorter life gave tokens back); the usage ledger no longer depends on it.
    temporary_chat_hours: int = Field(default=24, ge=24, le=24 * 365)
