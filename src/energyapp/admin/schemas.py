"""What crosses the admin API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from energyapp.conversations.schemas import MessageOut
from energyapp.core.roles import Role


class AdminUserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    totp_enabled: bool
    created_at: datetime
    last_active_at: datetime
    conversation_count: int
    message_count: int


class AdminUserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    is_active: bool | None = None


class AdminConversationOut(BaseModel):
    id: uuid.UUID
    title: str
    title_source: str
    user_id: uuid.UUID
    owner_email: str
    owner_full_name: str
    created_at: datetime
    updated_at: datetime
    message_count: int
    pinned: bool
    archived: bool


class AdminMessageOut(MessageOut):
    # Who caused the message (kept when the conversation changes owner).
    user_id: uuid.UUID | None


class ReassignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID


class AuditEventOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    actor_id: uuid.UUID | None
    actor_email: str | None
    action: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    user_agent: str | None
    details: dict[str, Any] | None


class UsageItem(BaseModel):
    """One bar of the usage chart: a day (``group_by=day``) or a user (``group_by=user``)."""

    day: date | None = None
    user_id: uuid.UUID | None = None
    email: str | None = None
    full_name: str | None = None
    prompt_tokens: int
    completion_tokens: int
    messages: int
    # group_by=day: the average wait for the first token of that day's answers (ms), None when
    # no answer got one.
    avg_first_token_ms: float | None = None


class UsageTotals(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    messages: int


class UsageReport(BaseModel):
    from_date: date = Field(serialization_alias="from")
    to_date: date = Field(serialization_alias="to")
    group_by: Literal["user", "day"]
    items: list[UsageItem]
    totals: UsageTotals
