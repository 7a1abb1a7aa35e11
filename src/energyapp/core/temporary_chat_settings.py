"""Settings of temporary chats (``ENERGYAPP_TEMPORARY_CHAT_HOURS``): fields of
:class:`energyapp.config.Settings`, kept here so that the one settings class stays readable."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TemporaryChatSettings(BaseModel):
    # A temporary chat ("Chat temporal") is deleted this many hours after its last message, and
    # its owner reads it as missing from then on. As little as 1: the quota reads the usage
    # ledger, which a deletion does not touch, and the retention timer runs every hour.
    temporary_chat_hours: int = Field(default=24, ge=1, le=24 * 365)
