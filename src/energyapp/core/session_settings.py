"""Settings of refresh-token rotation (``ENERGYAPP_REFRESH_REUSE_GRACE_SECONDS``): fields of
:class:`energyapp.config.Settings`, kept here so that the one settings class stays readable."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SessionSettings(BaseModel):
    # A refresh token rotated at most this long ago may be presented again once more while its
    # successor is unused: the answer to the first refresh was lost (mobile network, proxy
    # timeout), not stolen. 0 turns the grace off: every reuse revokes the session.
    # (auth/sessions.py, docs/security.md "Rotation and reuse detection")
    refresh_reuse_grace_seconds: int = Field(default=30, ge=0, le=300)
