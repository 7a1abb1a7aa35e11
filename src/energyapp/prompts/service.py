"""Saved prompts: a person's own (create, edit, delete, at most :data:`MAX_PROMPTS`) and the
ones an admin publishes for everyone (audited). Both lists are read together by
:func:`visible_to`.

A body is counted as the chat counts a message (``chat.service.clean_message``: NFC, the
surrounding blanks stripped, code points) and may be as long as the message limit in force
for its reader: a person's own, the limit of the conversation they would create now (their
custom instructions shorten it, ``chat.limits.limit_for``); a published one, the global limit
(``core.tokens.message_limit``). A prompt that fits can then always be sent as it is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.audit import service as audit
from energyapp.auth import service as auth_service
from energyapp.auth.models import User
from energyapp.chat import limits as chat_limits
from energyapp.config import Settings
from energyapp.core.search import fold
from energyapp.core.text import nfc, short_label, within
from energyapp.core.tokens import message_limit
from energyapp.db import take_turns, utcnow
from energyapp.errors import Conflict, NotFound, Unprocessable
from energyapp.prompts.models import SAVED_PROMPTS, SavedPrompt

MAX_TITLE_CHARS = 80
MAX_PROMPTS = 100  # per person, and for the published ones together
# The published prompts' writers take this transaction-scoped PostgreSQL advisory lock (the
# key space is shared by the database: a fixed key, "prompts!" in ASCII).
PUBLISHED_LOCK_KEY = 0x70726F6D_70747321


@dataclass(frozen=True, slots=True)
class PromptView:
    """A prompt as its reader sees it."""

    id: uuid.UUID
    title: str
    body: str
    published: bool
    created_at: datetime
    updated_at: datetime


def view(row: SavedPrompt) -> PromptView:
    return PromptView(
        row.id, row.title, row.body, row.user_id is None, row.created_at, row.updated_at
    )


def clean_title(raw: str) -> str:
    """``raw`` without surrounding blanks, in NFC, 1 to :data:`MAX_TITLE_CHARS` visible
    characters (``core.text.short_label``); else 422 ``prompt_title_invalid``."""
    return short_label(
        raw,
        MAX_TITLE_CHARS,
        subject="El título",
        missing="Escriba un título para la indicación",
        code="prompt_title_invalid",
    )


def clean_body(raw: str, limit: int) -> str:
    """``raw`` as the chat cleans a message; 422 ``prompt_body_empty`` or
    ``prompt_body_too_long`` (beyond ``limit`` characters)."""
    body = nfc(raw.strip())
    if not body:
        raise Unprocessable("Escriba el texto de la indicación.", code="prompt_body_empty")
    return within(body, limit, "El texto", "prompt_body_too_long", why=", lo mismo que un mensaje")


async def body_limit(session: AsyncSession, settings: Settings, owner: User | None) -> int:
    """The longest body for ``owner``'s prompts (None: the published ones)."""
    if owner is None:
        return message_limit(settings)
    return await chat_limits.limit_for(session, settings, owner, None)


def _owned_by(owner_id: uuid.UUID | None) -> ColumnElement[bool]:
    column = SavedPrompt.user_id
    return column.is_(None) if owner_id is None else column == owner_id


async def _titles_of(
    session: AsyncSession, owner_id: uuid.UUID | None, but: uuid.UUID | None = None
) -> list[str]:
    query = select(SavedPrompt.title).where(_owned_by(owner_id))
    if but is not None:
        query = query.where(SavedPrompt.id != but)
    return list((await session.scalars(query)).all())


async def _check_title_free(
    session: AsyncSession, owner_id: uuid.UUID | None, title: str, but: uuid.UUID | None = None
) -> None:
    wanted = fold(title)
    if any(fold(taken) == wanted for taken in await _titles_of(session, owner_id, but)):
        raise Conflict(
            f"Ya existe una indicación con el título «{title}». Elija otro título.",
            code="prompt_title_taken",
        )


async def _lock_owner(session: AsyncSession, actor: User, *, published: bool) -> None:
    # The writer's row locked first: two saves at once would both pass the count and the
    # title checks. Published ones belong to no row that every admin locks: on PostgreSQL an
    # advisory lock held to the end of the transaction (two admins publishing one title at
    # once got two); SQLite's locking select already serializes every writer.
    await auth_service.hold_person(session, actor.id)
    if published:
        await take_turns(session, SAVED_PROMPTS, PUBLISHED_LOCK_KEY)


async def visible_to(session: AsyncSession, user: User) -> list[PromptView]:
    """The caller's own prompts and the published ones: own first, each part by title
    ignoring case and accents (``core.search.fold``; no es collation on every database)."""
    rows = await session.scalars(
        select(SavedPrompt).where((SavedPrompt.user_id == user.id) | SavedPrompt.user_id.is_(None))
    )
    views = [view(row) for row in rows]
    views.sort(key=lambda p: (p.published, fold(p.title), p.title, str(p.id)))
    return views


async def published(session: AsyncSession) -> list[PromptView]:
    """The published prompts by title (the admin panel's list)."""
    rows = await session.scalars(select(SavedPrompt).where(SavedPrompt.user_id.is_(None)))
    return sorted((view(row) for row in rows), key=lambda p: (fold(p.title), p.title))


async def get_prompt(
    session: AsyncSession, owner_id: uuid.UUID | None, prompt_id: uuid.UUID
) -> SavedPrompt:
    """``owner_id``'s prompt (None: a published one); 404 ``prompt_not_found`` when missing or
    someone else's, so a prompt id tells nothing about others."""
    row = await session.get(SavedPrompt, prompt_id)
    if row is None or row.user_id != owner_id:
        raise NotFound(
            "No existe esa indicación o no es suya. Recargue la lista.", code="prompt_not_found"
        )
    return row


async def create(
    session: AsyncSession, settings: Settings, actor: User, *, title: str, body: str, publish: bool
) -> SavedPrompt:
    """A new prompt of ``actor``'s own, or (``publish``, admins only: the router checks)
    published for everyone. 409 ``prompt_limit`` past :data:`MAX_PROMPTS`, 409
    ``prompt_title_taken`` when the owner has the title already."""
    owner = None if publish else actor
    owner_id = None if owner is None else owner.id
    clean = clean_title(title)
    text = clean_body(body, await body_limit(session, settings, owner))
    await _lock_owner(session, actor, published=publish)
    count = await session.scalar(
        select(func.count()).select_from(SavedPrompt).where(_owned_by(owner_id))
    )
    if (count or 0) >= MAX_PROMPTS:
        whose = "publicadas" if publish else "guardadas por persona"
        raise Conflict(
            f"Se admiten como máximo {MAX_PROMPTS} indicaciones {whose}. Elimine alguna que ya "
            "no use e intente de nuevo.",
            code="prompt_limit",
        )
    await _check_title_free(session, owner_id, clean)
    now = utcnow()
    row = SavedPrompt(
        user_id=owner_id,
        title=clean,
        body=text,
        created_at=now,
        updated_at=now,
        created_by=actor.id if publish else None,
    )
    session.add(row)
    await session.flush()
    return row


async def update(
    session: AsyncSession,
    settings: Settings,
    actor: User,
    row: SavedPrompt,
    *,
    title: str | None,
    body: str | None,
) -> bool:
    """Change the title and/or the body of ``row`` (already loaded in scope); whether anything
    changed (the same values again change nothing, not even ``updated_at``: a published one's
    audit row would record a change that was none); 422 ``prompt_nothing_to_change`` when
    neither is given."""
    if title is None and body is None:
        raise Unprocessable(
            "Indique el título o el texto que cambia.", code="prompt_nothing_to_change"
        )
    owner = None if row.user_id is None else actor
    clean = clean_title(title) if title is not None else None
    text = (
        clean_body(body, await body_limit(session, settings, owner)) if body is not None else None
    )
    if (clean is None or clean == row.title) and (text is None or text == row.body):
        return False
    await _lock_owner(session, actor, published=row.user_id is None)
    if clean is not None:
        await _check_title_free(session, row.user_id, clean, but=row.id)
        row.title = clean
    if text is not None:
        row.body = text
    row.updated_at = utcnow()
    await session.flush()
    return True


async def delete(session: AsyncSession, row: SavedPrompt) -> None:
    await session.delete(row)
    await session.flush()


def audit_published(
    session: AsyncSession, action: str, admin: User, row: SavedPrompt, request: Request
) -> None:
    """The audit row of a change to a published prompt (its title; never its body)."""
    audit.record(
        session,
        action,
        actor_id=admin.id,
        request=request,
        target_type="saved_prompt",
        target_id=row.id,
        details={"title": row.title},
    )
