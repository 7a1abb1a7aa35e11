"""Custom instructions: reading and saving a person's own, and the copy a new conversation keeps.

The rule that keeps the model server's prompt cache useful (docs/chat.md, "Custom
instructions"): instructions apply to the conversations created after they are saved. A
conversation keeps a copy of the ones in force when it was created (:func:`columns_in_force`
at creation, :func:`of_conversation` at every later turn), so the start of its prompt, the
system message, never changes during its life: a regenerated answer or an edited question is
sent the same system message as the first turn.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ScalarSelect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth import service as auth_service
from energyapp.auth.models import User
from energyapp.conversations.models import Conversation
from energyapp.core.text import multiline, within
from energyapp.db import utcnow
from energyapp.instructions.models import CUSTOM_INSTRUCTIONS, CustomInstructions

MAX_CHARS = 1000  # per text, counted in characters (code points) after cleaning
ABOUT_LABEL = "¿Qué debería saber EnergyApp sobre usted?"
STYLE_LABEL = "¿Cómo quiere que EnergyApp responda?"


@dataclass(frozen=True, slots=True)
class Instructions:
    """The two texts as a conversation keeps them (either may be empty, not both)."""

    about_user: str
    response_style: str


@dataclass(frozen=True, slots=True)
class SavedInstructions:
    """A person's own instructions as the settings screen shows them."""

    about_user: str
    response_style: str
    enabled: bool
    updated_at: datetime | None  # None when never saved


def clean_text(raw: str, label: str) -> str:
    """``raw`` cleaned as :func:`energyapp.core.text.multiline`; 422 ``instructions_too_long``
    beyond :data:`MAX_CHARS` characters."""
    return within(multiline(raw), MAX_CHARS, f"«{label}»", "instructions_too_long")


async def get_own(session: AsyncSession, user: User) -> SavedInstructions:
    """The caller's instructions; empty and enabled when never saved."""
    row = await session.get(CustomInstructions, user.id)
    if row is None:
        return SavedInstructions("", "", enabled=True, updated_at=None)
    return SavedInstructions(row.about_user, row.response_style, row.enabled, row.updated_at)


async def save_own(
    session: AsyncSession, user: User, *, about_user: str, response_style: str, enabled: bool
) -> SavedInstructions:
    """Replace the caller's instructions (cleaned by :func:`clean_text`). Conversations
    already created keep the copy they took; the next new one takes these."""
    about = clean_text(about_user, ABOUT_LABEL)
    style = clean_text(response_style, STYLE_LABEL)
    # The person's row locked first: two first saves at once would both insert.
    await auth_service.hold_person(session, user.id)
    row = await session.get(CustomInstructions, user.id)
    if row is None:
        row = CustomInstructions(user_id=user.id)
        session.add(row)
    row.about_user, row.response_style, row.enabled = about, style, enabled
    row.updated_at = utcnow()
    await session.flush()
    return SavedInstructions(about, style, enabled, row.updated_at)


def columns_in_force(user_id: uuid.UUID) -> dict[str, ScalarSelect[str | None]]:
    """The columns of a conversation ``user_id`` creates now: the copy of their instructions
    when switched on and not both empty, else nulls (the model then gets the global system
    prompt alone). Subqueries, so the INSERT itself reads them: no statement of its own."""
    ci = CUSTOM_INSTRUCTIONS.c
    in_force = select(ci.about_user).where(
        ci.user_id == user_id, ci.enabled, or_(ci.about_user != "", ci.response_style != "")
    )
    return {
        "instructions_about_user": in_force.scalar_subquery(),
        "instructions_response_style": in_force.with_only_columns(
            ci.response_style
        ).scalar_subquery(),
    }


async def in_force(session: AsyncSession, user: User) -> Instructions | None:
    """What a conversation ``user`` creates now would keep (as :func:`columns_in_force`)."""
    row = await session.get(CustomInstructions, user.id)
    if row is None or not row.enabled or not (row.about_user or row.response_style):
        return None
    return Instructions(row.about_user, row.response_style)


def of_conversation(conversation: Conversation) -> Instructions | None:
    """The copy ``conversation`` took when it was created (None: it has none)."""
    return kept_in(conversation.instructions_about_user, conversation.instructions_response_style)


def kept_in(about_user: str | None, response_style: str | None) -> Instructions | None:
    """The copy a conversation's two columns hold (None: both null, it has none)."""
    if about_user is None and response_style is None:
        return None
    return Instructions(about_user or "", response_style or "")
