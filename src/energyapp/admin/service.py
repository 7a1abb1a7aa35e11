"""The admin panel's services and the scope rules behind every one of them.

- ``admin`` sees every user, conversation and message.
- ``supervisor`` sees users with role ``trabajador`` and itself, and their conversations.
- Anything outside the viewer's scope is reported as missing (404), never as forbidden, so its
  existence is not revealed.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    ColumnElement,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.admin.schemas import (
    AdminConversationOut,
    AdminUserOut,
    AdminUserUpdate,
)
from energyapp.audit import service as audit_service
from energyapp.auth import service as auth_service
from energyapp.auth import two_factor_policy
from energyapp.auth.models import USERS, User
from energyapp.conversations import counters
from energyapp.conversations import service as conversations_service
from energyapp.conversations.models import CONVERSATIONS, MESSAGES, Conversation
from energyapp.conversations.schemas import MessageOut
from energyapp.core import search
from energyapp.core.head import is_head
from energyapp.core.pagination import Item, PageRequest, fetch_page, item_columns
from energyapp.core.roles import Role
from energyapp.db import for_update, utcnow
from energyapp.errors import Conflict, NotFound, Unprocessable
from energyapp.instructions import service as instructions_service
from energyapp.sharing import service as sharing_service

USER_CURSOR = "admin.users"
CONVERSATION_CURSOR = "admin.conversations"
MESSAGE_CURSOR = "admin.messages"

USER_LIST_COLUMNS = item_columns(AdminUserOut, USERS)
CONVERSATION_LIST_COLUMNS = item_columns(
    AdminConversationOut,
    CONVERSATIONS,
    owner_email=USERS.c.email,
    owner_full_name=USERS.c.full_name,
)
# ``AdminMessageOut``: the message's columns and who caused it (``sibling_ids`` is added by
# the list itself).
MESSAGE_LIST_COLUMNS = (*item_columns(MessageOut, MESSAGES), MESSAGES.c.user_id)


def user_scope(viewer: User) -> ColumnElement[bool]:
    """The users ``viewer`` may see (a condition on the ``users`` table, so it serves ORM and
    plain-row queries alike)."""
    return _scope(viewer.role == Role.ADMIN, viewer.id)


def _scope(sees_everyone: bool, viewer_id: uuid.UUID) -> ColumnElement[bool]:
    # Administrators see everyone; a supervisor sees the workers and themselves.
    if sees_everyone:
        return true()
    return or_(USERS.c.role == Role.TRABAJADOR, USERS.c.id == viewer_id)


# --- users -------------------------------------------------------------------------------------


_USER_ORDER = (USERS.c.last_active_at, USERS.c.id)


async def list_users(
    session: AsyncSession,
    viewer: User,
    page: PageRequest,
    *,
    query: str | None = None,
    role: str | None = None,
) -> tuple[list[Item], str | None]:
    """Users in scope (``AdminUserOut`` fields), most recently active first."""
    stmt = select(*USER_LIST_COLUMNS).where(user_scope(viewer))
    if query:
        stmt = stmt.where(search.any_contains((USERS.c.email, USERS.c.full_name), query))
    if role is not None:
        stmt = stmt.where(USERS.c.role == role)
    return await fetch_page(
        session,
        stmt,
        _USER_ORDER,
        page,
        USER_CURSOR,
        descending=True,
        viewer_id=viewer.id,
        context={"q": query, "role": role},
    )


def _user_not_found() -> NotFound:
    return NotFound("No se encontró el usuario.", code="user_not_found")


async def get_user_in_scope(
    session: AsyncSession, viewer: User, user_id: uuid.UUID, *, lock: bool = False
) -> User:
    stmt = select(User).where(User.id == user_id, user_scope(viewer))
    if lock:
        stmt = for_update(stmt)
    user = await session.scalar(stmt)
    if user is None:
        raise _user_not_found()
    return user


async def check_user_in_scope(session: AsyncSession, viewer: User, user_id: uuid.UUID) -> None:
    """404 ``user_not_found`` unless ``viewer`` may see the user (reads the id only)."""
    if (
        await session.scalar(select(USERS.c.id).where(USERS.c.id == user_id, user_scope(viewer)))
        is None
    ):
        raise _user_not_found()


async def update_user(
    session: AsyncSession,
    actor: User,
    user_id: uuid.UUID,
    changes: AdminUserUpdate,
    *,
    request: Request | None,
) -> User:
    """Change a user's role, active state, 2FA requirement or mark the address verified
    (admins only), keeping at least one active admin.

    Deactivation closes every session of the user at once; each change is audited.
    """
    target = await get_user_in_scope(session, actor, user_id, lock=True)
    if target.id == actor.id and changes.is_active is False:
        raise Conflict(
            "No puede desactivar su propia cuenta. Pida a otro administrador que lo haga.",
            code="cannot_deactivate_self",
        )
    await _change_account(
        session, target, changes.role, changes.is_active, actor_id=actor.id, request=request
    )
    if changes.require_2fa is not None:
        two_factor_policy.set_user_requirement(
            session, actor, target, changes.require_2fa, request=request
        )
    if changes.email_verified and target.email_verified_at is None:
        target.email_verified_at = utcnow()
        audit_service.record(
            session,
            "user.email_verified",
            actor_id=actor.id,
            request=request,
            target_type="user",
            target_id=target.id,
        )
    await session.flush()
    return target


async def change_from_console(
    session: AsyncSession, email: str, *, role: Role | None = None, is_active: bool | None = None
) -> User:
    """``energyapp set-role`` and ``deactivate-user``: the panel's rules (the last active admin
    stays) and its trail, with no actor and ``details.via = "console"``."""
    target = await auth_service.account_for_console(session, email)
    await _change_account(session, target, role, is_active, actor_id=None, request=None)
    await session.flush()
    return target


async def _change_account(
    session: AsyncSession,
    target: User,
    role: Role | None,
    is_active: bool | None,
    *,
    actor_id: uuid.UUID | None,
    request: Request | None,
) -> None:
    """Apply a role or active-state change: last active admin kept, audited, sessions closed on
    deactivation. No actor: the server's console."""
    new_role = role if role is not None else target.role
    new_active = is_active if is_active is not None else target.is_active
    stays_admin = new_role == Role.ADMIN and new_active
    if target.role == Role.ADMIN and target.is_active and not stays_admin:
        await _keep_an_active_admin(session, target)
    via = {} if actor_id else {"via": "console"}
    if new_role != target.role:
        audit_service.record(
            session,
            "user.role_changed",
            actor_id=actor_id,
            request=request,
            target_type="user",
            target_id=target.id,
            details={"from": target.role, "to": new_role, **via},
        )
        target.role = new_role
        # A role outside ``api_keys_roles`` ends the person's /v1 streams: told at once (any
        # change is told: the notice carries no authority, chat/revocation.py).
        auth_service.announce_credentials_ended(session, target.id)
    if new_active != target.is_active:
        audit_service.record(
            session,
            "user.activated" if new_active else "user.deactivated",
            actor_id=actor_id,
            request=request,
            target_type="user",
            target_id=target.id,
            details=via or None,
        )
        target.is_active = new_active
        if not new_active:
            # Not announced: the answers themselves stop (``engine.stop_answers_of``), and their
            # streams end with them, saying so.
            await auth_service.revoke_all_sessions(
                session, target.id, "deactivated", announce=False
            )


async def _keep_an_active_admin(session: AsyncSession, target: User) -> None:
    """409 ``last_admin`` unless another admin is active. The active admins are locked so two
    concurrent demotions cannot both pass this check."""
    admins = (
        await session.scalars(
            for_update(
                select(User.id).where(
                    User.role == Role.ADMIN, User.is_active.is_(True), User.id != target.id
                )
            )
        )
    ).all()
    if not admins:
        raise Conflict(
            "No se puede quitar el rol ni desactivar al último administrador activo. "
            "Designe antes a otro administrador.",
            code="last_admin",
        )


# --- conversations -----------------------------------------------------------------------------

ConversationRow = tuple[Conversation, str, str]


def _conversation_select() -> Any:
    return select(Conversation, User.email, User.full_name).join(
        User, User.id == Conversation.user_id
    )


async def get_conversation_in_scope(
    session: AsyncSession, viewer: User, conversation_id: uuid.UUID, *, lock: bool = False
) -> ConversationRow:
    if lock:
        # The row alone, then the join: PostgreSQL re-checks a locked row that changed while it
        # waited against the rows it had joined, so a conversation reassigned meanwhile looked
        # missing (404) instead of being read with its new owner.
        await session.execute(
            for_update(select(Conversation.id).where(Conversation.id == conversation_id))
        )
    stmt = _conversation_select().where(Conversation.id == conversation_id, user_scope(viewer))
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound("No se encontró la conversación.")
    return (row[0], row[1], row[2])


async def list_conversations(
    session: AsyncSession,
    viewer: User,
    page: PageRequest,
    *,
    user_id: uuid.UUID | None,
    request: Request | None,
) -> tuple[list[Item], str | None]:
    """Conversations in scope (of one user when ``user_id`` is given, ``AdminConversationOut``
    fields), newest first.

    Opening another user's list (the first page) is audited once per viewer and user per
    ten minutes (``audit_service.record_once``); later pages need the cursor that page returned
    (signed and bound to the viewer and ``user_id``), so they are covered by that event.
    """
    c = CONVERSATIONS.c
    stmt = (
        select(*CONVERSATION_LIST_COLUMNS)
        .select_from(CONVERSATIONS.join(USERS, USERS.c.id == c.user_id))
        .where(user_scope(viewer))
    )
    if user_id is not None:
        stmt = stmt.where(c.user_id == user_id)
    items, next_cursor = await fetch_page(
        session,
        stmt,
        (c.updated_at, c.id),
        page,
        CONVERSATION_CURSOR,
        descending=True,
        viewer_id=viewer.id,
        context={"user_id": user_id},
    )
    if user_id is not None and not items:
        # Rows found prove the user is in scope (the query filters on it); an empty page must
        # still tell an unknown or out-of-scope user (404) from one without conversations.
        await check_user_in_scope(session, viewer, user_id)
    if page.cursor is None and user_id != viewer.id:
        await audit_service.record_once(
            session,
            "conversations.listed",
            actor_id=viewer.id,
            request=request,
            filters={},
            target_type="user" if user_id else None,
            target_id=user_id,
        )
    return items, next_cursor


async def list_conversation_messages(
    session: AsyncSession,
    viewer: User,
    conversation: Conversation,
    page: PageRequest,
    *,
    request: Request | None,
) -> tuple[list[Item], str | None]:
    """The current branch of a conversation in scope (``AdminMessageOut`` fields), oldest first,
    with each message's versions (``sibling_ids``).

    Every page of someone else's conversation is audited (``conversation.viewed``, with
    ``details.continuation`` true after the first page): reading any part of it leaves a trace,
    whatever cursor the request carries.
    """
    items, next_cursor = await conversations_service.list_messages(
        session, viewer, conversation, page, name=MESSAGE_CURSOR, columns=MESSAGE_LIST_COLUMNS
    )
    _record_viewed(session, viewer, conversation, request, continuation=page.cursor is not None)
    return items, next_cursor


def conversation_instructions(
    session: AsyncSession, viewer: User, conversation: Conversation, *, request: Request | None
) -> instructions_service.Instructions | None:
    """The custom instructions a conversation in scope keeps from its creation (part of the
    conversation: audited as a reading of it, ``details.part`` "instructions")."""
    _record_viewed(session, viewer, conversation, request, part="instructions")
    return instructions_service.of_conversation(conversation)


def _record_viewed(
    session: AsyncSession,
    viewer: User,
    conversation: Conversation,
    request: Request | None,
    **details: object,
) -> None:
    # A HEAD's body is dropped (core/head.py): nothing was read, so nothing is recorded.
    if conversation.user_id != viewer.id and not (request is not None and is_head(request)):
        audit_service.record(
            session,
            "conversation.viewed",
            actor_id=viewer.id,
            request=request,
            target_type="conversation",
            target_id=conversation.id,
            details={"owner_id": str(conversation.user_id), **details},
        )


async def reassign_conversation(
    session: AsyncSession,
    viewer: User,
    conversation_id: uuid.UUID,
    new_owner_id: uuid.UUID,
    *,
    request: Request | None,
) -> ConversationRow:
    """Give a conversation to another active user in scope, moving the counters with it."""
    conversation = (await get_conversation_in_scope(session, viewer, conversation_id, lock=True))[0]
    try:
        target = await get_user_in_scope(session, viewer, new_owner_id)
    except NotFound:
        raise NotFound(
            "No se encontró el usuario al que quiere reasignar la conversación.",
            code="user_not_found",
        ) from None
    if not target.is_active:
        raise Unprocessable(
            "El usuario destino está desactivado: reactívelo o elija otro usuario.",
            code="user_inactive",
        )
    previous_owner = conversation.user_id
    if previous_owner != target.id:
        conversations_service.leave_owner(conversation, target.id)  # its folder; 409 temporary
        await counters.conversation_moved(
            session, previous_owner, target.id, conversation.message_count
        )
        await sharing_service.forget_link(session, conversation.id)  # the new owner never shared
        audit_service.record(
            session,
            "conversation.reassigned",
            actor_id=viewer.id,
            request=request,
            target_type="conversation",
            target_id=conversation.id,
            details={"from_user_id": str(previous_owner), "to_user_id": str(target.id)},
        )
        await session.flush()
    return await get_conversation_in_scope(session, viewer, conversation_id)
