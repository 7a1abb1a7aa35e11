"""Settings of shared conversation links (``ENERGYAPP_SHARING_ENABLED``,
``ENERGYAPP_SHARED_READS_PER_MINUTE``): fields of :class:`energyapp.config.Settings`, kept here
so that the one settings class stays readable."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SharingSettings(BaseModel):
    # "Compartir" (sharing/): an owner may give a read-only link to a conversation, which any
    # signed-in account opens. False: sharing is refused (403 sharing_disabled) and every link
    # reads as missing (404), without deleting them, so turning it on again restores them.
    sharing_enabled: bool = True
    # Shared conversations one person opens (or copies) a minute before 429: a person follows a
    # few links; a script walking guessed tokens meets a wall (the tokens carry 192 bits anyway).
    shared_reads_per_minute: int = Field(default=60, ge=1, le=100_000)
