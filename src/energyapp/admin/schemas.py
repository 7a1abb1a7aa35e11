"""What crosses the admin API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from energyapp.conversations.schemas import BranchMessageOut
from energyapp.core import text
from energyapp.core.roles import Role


class AdminUserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    totp_enabled: bool
    require_2fa: bool
    api_keys_enabled: bool  # false: an admin turned this person's API keys off
    created_at: datetime
    last_active_at: datetime
    last_login_at: datetime | None  # null: never signed in
    # Null: the address was never confirmed (a self-registration whose emailed link was not
    # opened); with mail on, such an account cannot sign in.
    email_verified_at: datetime | None
    conversation_count: int
    message_count: int


class AdminUserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    is_active: StrictBool | None = None
    require_2fa: StrictBool | None = None
    # Only true: an administrator vouches for the address (a mailbox that rejects the relay).
    email_verified: Literal[True] | None = None


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
    # A temporary chat of its owner (the panel marks it "Temporal"): deleted
    # temporary_chat_hours after its last message, seen here while it exists.
    temporary: bool


class AdminMessageOut(BranchMessageOut):
    # Who caused the message (kept when the conversation changes owner).
    user_id: uuid.UUID | None


class ReassignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID


class RolePolicyOut(BaseModel):
    role: Role
    require_2fa: bool


class RolePolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_2fa: StrictBool


def _clean_reason(value: str) -> str:
    reason = " ".join(text.check_visible(value, "el motivo").split())
    if not reason:
        raise ValueError("el motivo no puede estar vacío")
    return reason


class LegalHoldRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_clean_reason)]


class LegalHoldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    conversation_id: uuid.UUID
    reason: str
    created_at: datetime
    created_by: uuid.UUID | None


class UsageItem(BaseModel):
    """One bar of the usage chart: a day (``group_by=day``) or a user (``group_by=user``)."""

    day: date | None = None
    user_id: uuid.UUID | None = None
    email: str | None = None
    full_name: str | None = None
    prompt_tokens: int
    completion_tokens: int
    messages: int
    answers: int  # the assistant's messages among ``messages``
    # group_by=day: the average wait for the first token of that day's answers (ms), None when
    # no answer got one.
    avg_first_token_ms: float | None = None


class UsageTotals(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    messages: int
    answers: int


class UsageReport(BaseModel):
    from_date: date = Field(serialization_alias="from")
    to_date: date = Field(serialization_alias="to")
    group_by: Literal["user", "day"]
    items: list[UsageItem]
    totals: UsageTotals


class RatingsDay(BaseModel):
    """The answers rated on one Santiago day (a rating counts on the day it was last set)."""

    day: date
    up: int
    down: int


class RatingsTotals(BaseModel):
    up: int
    down: int


class RatingsReport(BaseModel):
    from_date: date = Field(serialization_alias="from")
    to_date: date = Field(serialization_alias="to")
    items: list[RatingsDay]
    totals: RatingsTotals


class PoorAnswerOut(BaseModel):
    """An answer rated 👎: who rated it, when, the answer's model and the comment (the rater's
    own words: render as text)."""

    message_id: uuid.UUID
    conversation_id: uuid.UUID
    updated_at: datetime = Field(description="Cuándo se valoró (la última vez).")
    user_id: uuid.UUID | None = Field(description="Quien la valoró (null: cuenta eliminada).")
    full_name: str | None
    email: str | None
    model: str | None
    comment: str | None
