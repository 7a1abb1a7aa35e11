"""Shared links ("Compartir"): the owner of a conversation gives a read-only link to one of its
branches, as it stands when shared; any signed-in, active account that has the link reads it,
and may copy it into a conversation of its own ("Continuar en mi cuenta").

The link is a capability (``secrets.token_urlsafe(32)``) that still needs an account: the
content never leaves the platform's accounts. It reads as missing (404
``shared_link_not_found``) once revoked, with its conversation deleted (``ON DELETE
CASCADE``), reassigned (:func:`forget_link`), its sharer's account deactivated, or with
``sharing_enabled`` off. The token is never written to the audit trail or the logs.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, delete, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.audit import service as audit_service
from energyapp.auth.models import USERS, User
from energyapp.config import Settings
from energyapp.conversations import counters, temporary, tree
from energyapp.conversations import service as conversations_service
from energyapp.conversations.models import CONVERSATIONS, MESSAGES, Conversation
from energyapp.conversations.schemas import TITLE_MAX
from energyapp.core.pagination import Item, PageRequest, fetch_page
from energyapp.core.ratelimit import RateLimiter
from energyapp.db import for_update, new_id, utcnow
from energyapp.errors import Conflict, Forbidden, NotFound
from energyapp.sharing.models import SHARED_LINKS, SharedLink

# Where the web UI opens a link: the token stays in the address's fragment, never in a path
# the server or a proxy logs (as the password-reset links, auth/links.py).
SHARED_PATH = "/#/compartida/"
COPY_SUFFIX = " (copia)"
LINK_CURSOR = "shared_links"
# What secrets.token_urlsafe can make, within the column: anything else (too long, a NUL byte
# PostgreSQL refuses, another alphabet) is no link, answered as one unknown.
TOKEN_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class SharedView:
    """What a reader sees: the snapshot's branch and who shared it, when."""

    link: SharedLink
    title: str
    shared_by: str
    messages: Sequence[Row[Any, Any, Any, Any, Any]]


def link_path(token: str) -> str:
    return f"{SHARED_PATH}{token}"


def link_not_found() -> NotFound:
    return NotFound("Este enlace no existe o dejó de compartirse.", code="shared_link_not_found")


async def get_link(session: AsyncSession, conversation: Conversation) -> SharedLink:
    """The link of the caller's own ``conversation``; 404 ``not_shared`` when it has none."""
    link = await session.scalar(
        select(SharedLink).where(SharedLink.conversation_id == conversation.id)
    )
    if link is None:
        raise NotFound("Esta conversación no está compartida.", code="not_shared")
    return link


async def share(
    session: AsyncSession,
    settings: Settings,
    user: User,
    conversation: Conversation,
    *,
    request: Request | None,
) -> SharedLink:
    """Share the branch of ``conversation`` shown now, or move an existing link's snapshot to
    it (same token). 403 ``sharing_disabled``; 409 ``conversation_temporary`` for a temporary
    chat, ``nothing_to_share`` for a conversation
    without messages, ``answer_in_progress`` while an answer of that branch is written."""
    if not settings.sharing_enabled:
        raise Forbidden(
            "Compartir conversaciones está desactivado en este servidor.", code="sharing_disabled"
        )
    # Locked: two "Crear enlace" at once (two tabs) take turns instead of both inserting. A
    # reassignment or a deletion that held the lock first leaves nothing of the caller's to share
    # (the link would name a sharer who no longer owns it, or no conversation at all).
    owner_id = await session.scalar(for_update(select(CONVERSATIONS.c.user_id).where(
        CONVERSATIONS.c.id == conversation.id)))  # fmt: skip
    if owner_id != user.id:
        raise NotFound("No se encontró la conversación.")
    if conversation.temporary:
        raise temporary.refused("compartir")
    await session.refresh(conversation, ["current_leaf_id"])
    leaf = conversation.current_leaf_id
    if leaf is None:
        raise Conflict(
            "La conversación no tiene mensajes: escriba algo antes de compartirla.",
            code="nothing_to_share",
        )
    branch = (await tree.load_tree(session, conversation.id)).branch(leaf)
    m = MESSAGES.c
    running = await session.scalar(
        select(m.id).where(m.id.in_(branch), m.status == "streaming").limit(1)
    )
    if running is not None:
        raise Conflict(
            "Hay una respuesta en curso en esta conversación. Compártala cuando termine.",
            code="answer_in_progress",
        )
    now = utcnow()
    link = await session.scalar(
        select(SharedLink).where(SharedLink.conversation_id == conversation.id)
    )
    updated = link is not None
    if link is None:
        link = SharedLink(
            token=secrets.token_urlsafe(32),
            conversation_id=conversation.id,
            user_id=user.id,
            created_at=now,
        )
        session.add(link)
    link.leaf_message_id, link.updated_at = leaf, now
    await session.flush()
    _record(session, "conversation.shared", user, conversation.id, request, updated=updated)
    return link


async def unshare(
    session: AsyncSession, user: User, conversation: Conversation, *, request: Request | None
) -> None:
    """Stop sharing the caller's own ``conversation`` (not shared: nothing changes)."""
    removed = await session.execute(
        delete(SHARED_LINKS)
        .where(SHARED_LINKS.c.conversation_id == conversation.id)
        .returning(SHARED_LINKS.c.id)
    )
    if removed.first() is not None:
        _record(session, "conversation.unshared", user, conversation.id, request)


async def forget_link(session: AsyncSession, conversation_id: uuid.UUID) -> None:
    """A conversation changes owner: its link goes (the new owner never shared it)."""
    await session.execute(
        delete(SHARED_LINKS).where(SHARED_LINKS.c.conversation_id == conversation_id)
    )


async def check_read_rate(limiter: RateLimiter, settings: Settings, user: User) -> None:
    """429 ``rate_limited`` beyond ``shared_reads_per_minute`` links opened or copied."""
    await limiter.enforce(
        "shared.read", str(user.id), limit=settings.shared_reads_per_minute, window_seconds=60,
        detail="Abrió demasiadas conversaciones compartidas seguidas. Espere {seconds} s y "
        "vuelva a intentarlo.",
    )  # fmt: skip


async def open_shared(
    session: AsyncSession, settings: Settings, viewer: User, token: str, *, count: bool = True
) -> SharedView:
    """The snapshot behind ``token`` for a signed-in ``viewer``: the title, the sharer's name and
    the branch's messages, oldest first. A reading by someone other than the sharer counts as a
    view (``count``). 404 ``shared_link_not_found`` as the module says."""
    if not settings.sharing_enabled or TOKEN_FORMAT.fullmatch(token) is None:
        raise link_not_found()
    c, u = CONVERSATIONS.c, USERS.c
    row = (
        await session.execute(
            select(SharedLink, c.title, u.full_name)
            .join(CONVERSATIONS, c.id == SharedLink.conversation_id)
            .join(USERS, u.id == SharedLink.user_id)
            .where(SharedLink.token == token, c.user_id == SharedLink.user_id, u.is_active)
        )
    ).first()
    if row is None:
        raise link_not_found()
    link, title, shared_by = row
    branch = (await tree.load_tree(session, link.conversation_id)).branch(link.leaf_message_id)
    m = MESSAGES.c
    messages = (
        await session.execute(
            select(m.role, m.content, m.status, m.created_at, m.model)
            .add_columns(m.error_code, m.finish_reason)
            .where(m.conversation_id == link.conversation_id, m.id.in_(branch))
            .order_by(m.created_at, m.id)
        )
    ).all()
    if not messages:
        raise link_not_found()
    if count and viewer.id != link.user_id:
        await session.execute(
            update(SHARED_LINKS)
            .where(SHARED_LINKS.c.id == link.id)
            .values(view_count=SHARED_LINKS.c.view_count + 1)
        )
    return SharedView(link, title, shared_by, messages)


def copy_title(title: str) -> str:
    """The copy's title: "<title> (copia)", cut so that the whole fits the title limit."""
    return title[: TITLE_MAX - len(COPY_SUFFIX)].rstrip() + COPY_SUFFIX


async def copy_shared(
    session: AsyncSession, settings: Settings, reader: User, token: str, *, request: Request | None
) -> Conversation:
    """Continuar en mi cuenta: the snapshot's branch as a new conversation of ``reader``, one
    linear branch of the same roles and texts (new ids, nothing generated, no tokens counted:
    the copies carry no token counts and no ``user_id``, so neither usage nor the daily quota
    counts them). The copy keeps ``reader``'s custom instructions in force, as any new one."""
    view = await open_shared(session, settings, reader, token, count=False)
    conversation = await conversations_service.create_conversation(
        session, reader, copy_title(view.title)
    )
    now = utcnow()
    rows, parent_id = [], None
    for i, message in enumerate(view.messages):
        message_id = new_id()
        rows.append(
            {"id": message_id, "conversation_id": conversation.id, "user_id": None,
             "parent_id": parent_id, "role": message.role, "content": message.content,
             # An answer continued since it was shared may be running: its copy ends here.
             "status": "interrupted" if message.status == "streaming" else message.status,
             "error_code": message.error_code, "finish_reason": message.finish_reason,
             "model": message.model, "created_at": now + timedelta(microseconds=i),
             "updated_at": now}
        )  # fmt: skip
        parent_id = message_id
    await session.execute(insert(MESSAGES), rows)
    conversation.current_leaf_id = parent_id
    await session.flush()
    await counters.messages_added(session, conversation.id, reader.id, len(rows), at=now)
    await session.refresh(conversation)
    audit_service.record(
        session,
        "conversation.copied",
        actor_id=reader.id,
        request=request,
        target_type="conversation",
        target_id=view.link.conversation_id,
        details={"owner_id": str(view.link.user_id), "copy_id": str(conversation.id)},
    )
    return conversation


async def list_links(
    session: AsyncSession, user: User, page: PageRequest
) -> tuple[list[Item], str | None]:
    """The caller's shared links (``SharedLinkItem`` fields), newest first."""
    s, c = SHARED_LINKS.c, CONVERSATIONS.c
    stmt = (
        select(
            s.id,
            s.conversation_id,
            c.title,
            literal(SHARED_PATH).concat(s.token).label("path"),
            s.view_count,
            s.created_at,
            s.updated_at,
        )  # fmt: skip
        .join_from(SHARED_LINKS, CONVERSATIONS, c.id == s.conversation_id)
        .where(s.user_id == user.id, c.user_id == user.id)
    )
    return await fetch_page(
        session,
        stmt,
        (s.created_at, s.id),
        page,
        LINK_CURSOR,
        descending=True,
        viewer_id=user.id,
        context={},
    )


def _record(
    session: AsyncSession,
    action: str,
    user: User,
    conversation_id: uuid.UUID,
    request: Request | None,
    **details: object,
) -> None:
    audit_service.record(
        session,
        action,
        actor_id=user.id,
        request=request,
        target_type="conversation",
        target_id=conversation_id,
        details={"owner_id": str(user.id), **details},
    )
