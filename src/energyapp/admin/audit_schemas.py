"""What the audit trail's API sends: each event with its Spanish label and the people named."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel

Outcome = Literal["success", "failure"]


class AuditRow(BaseModel):
    """The stored event and its actor, as read for one list item."""

    id: uuid.UUID
    created_at: datetime
    actor_id: uuid.UUID | None
    actor_name: str | None
    actor_email: str | None
    action: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    user_agent: str | None
    details: dict[str, Any] | None


class AuditEventOut(AuditRow):
    label: str  # "Vio la conversación «Presupuesto» de Juan Pérez"
    action_name: str  # the action's name in the filter list
    outcome: Outcome
    target_name: str | None  # the user or conversation the event is about, when known
    target_email: str | None


class AuditAction(BaseModel):
    code: str
    name: str


class AuditFilters(BaseModel):
    """The filters of the trail (and of its CSV export)."""

    q: str | None = None
    actor_id: uuid.UUID | None = None
    action: str | None = None
    from_date: date | None = None
    to_date: date | None = None
    outcome: Outcome | None = None

    def binding(self) -> dict[str, str | None]:
        """The filters as plain text, for cursors and the audit of browsing."""
        return {key: None if value is None else str(value) for key, value in self}
