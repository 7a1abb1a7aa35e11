"""HTTP routes of the admin panel (admins and supervisors, each within scope)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from energyapp.admin import service
from energyapp.admin import usage as usage_service
from energyapp.admin.deps import ScopedConversation
from energyapp.admin.schemas import (
    AdminConversationOut,
    AdminMessageOut,
    AdminUserOut,
    AdminUserUpdate,
    ReassignRequest,
    UsageReport,
)
from energyapp.auth.deps import AdminOrSupervisor, AdminUser, require_roles
from energyapp.auth.models import User
from energyapp.chat.deps import ChatEngineDep
from energyapp.conversations.models import Conversation
from energyapp.core import dates, search
from energyapp.core.deps import RateLimiterDep, SettingsDep
from energyapp.core.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Item,
    Page,
    PageDep,
)
from energyapp.core.roles import Role
from energyapp.db import SessionDep
from energyapp.instructions.schemas import ConversationInstructionsOut, snapshot_out

# Every route answers 403 to a trabajador before anything else is looked at.
router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(require_roles(Role.ADMIN, Role.SUPERVISOR))],
)


def _conversation_out(
    conversation: Conversation, email: str, full_name: str
) -> AdminConversationOut:
    return AdminConversationOut(
        id=conversation.id,
        title=conversation.title,
        title_source=conversation.title_source,
        user_id=conversation.user_id,
        owner_email=email,
        owner_full_name=full_name,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        message_count=conversation.message_count,
        pinned=conversation.pinned,
        archived=conversation.archived,
        temporary=conversation.temporary,
    )


@router.get("/users", response_model=Page[AdminUserOut])
async def list_users(
    viewer: AdminOrSupervisor,
    session: SessionDep,
    page: PageDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=200, description="Correo o nombre.")] = None,
    role: Role | None = None,
) -> dict[str, list[Item] | str | None]:
    """Users in scope, most recently active first; a search (``q``) counts against
    ``search_rate_limit_per_minute``."""
    query = (q or "").strip() or None
    await search.check_rate(limiter, settings, viewer.id, query)
    items, next_cursor = await service.list_users(session, viewer, page, query=query, role=role)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/users/{user_id}", response_model=AdminUserOut)
async def get_user(user_id: uuid.UUID, viewer: AdminOrSupervisor, session: SessionDep) -> User:
    """One user in scope (404 ``user_not_found`` otherwise): the heading of their page."""
    return await service.get_user_in_scope(session, viewer, user_id)


@router.patch("/users/{user_id}", response_model=AdminUserOut)
async def update_user(
    user_id: uuid.UUID,
    body: AdminUserUpdate,
    actor: AdminUser,
    session: SessionDep,
    request: Request,
    engine: ChatEngineDep,
) -> AdminUserOut:
    """Change role, active state or whether 2FA is required (admins only); a deactivated
    account's running and queued answers stop."""
    user = await service.update_user(session, actor, user_id, body, request=request)
    if body.is_active is False:
        engine.stop_answers_of(session, user.id)
    return AdminUserOut.model_validate(user)


@router.get("/conversations", response_model=Page[AdminConversationOut])
async def list_conversations(
    viewer: AdminOrSupervisor,
    session: SessionDep,
    page: PageDep,
    request: Request,
    user_id: uuid.UUID | None = None,
) -> dict[str, list[Item] | str | None]:
    """Conversations in scope (of one user with ``user_id``), most recently updated first."""
    items, next_cursor = await service.list_conversations(
        session, viewer, page, user_id=user_id, request=request
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get("/conversations/{conversation_id}", response_model=AdminConversationOut)
async def get_conversation(
    conversation_id: uuid.UUID, viewer: AdminOrSupervisor, session: SessionDep
) -> AdminConversationOut:
    """One conversation in scope with its owner (the viewer's heading; not audited: no
    message is read)."""
    return _conversation_out(
        *await service.get_conversation_in_scope(session, viewer, conversation_id)
    )


@router.get("/conversations/{conversation_id}/messages", response_model=Page[AdminMessageOut])
async def list_messages(
    conversation: ScopedConversation,
    viewer: AdminOrSupervisor,
    session: SessionDep,
    page: PageDep,
    request: Request,
) -> dict[str, list[Item] | str | None]:
    """Messages of a conversation in scope, oldest first (every page of someone else's
    conversation is audited)."""
    items, next_cursor = await service.list_conversation_messages(
        session, viewer, conversation, page, request=request
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/conversations/{conversation_id}/instructions", response_model=ConversationInstructionsOut
)
async def conversation_instructions(
    conversation: ScopedConversation,
    viewer: AdminOrSupervisor,
    session: SessionDep,
    request: Request,
) -> ConversationInstructionsOut:
    """The owner's custom instructions this conversation keeps from its creation (null: none;
    audited like its messages). A person's current instructions are theirs alone."""
    kept = service.conversation_instructions(session, viewer, conversation, request=request)
    return ConversationInstructionsOut(custom_instructions=snapshot_out(kept))


@router.post("/conversations/{conversation_id}/reassign", response_model=AdminConversationOut)
async def reassign_conversation(
    conversation_id: uuid.UUID,
    body: ReassignRequest,
    viewer: AdminOrSupervisor,
    session: SessionDep,
    request: Request,
) -> AdminConversationOut:
    """Give the conversation to another active user (both owners in the caller's scope)."""
    row = await service.reassign_conversation(
        session, viewer, conversation_id, body.user_id, request=request
    )
    return _conversation_out(*row)


@router.get("/usage", response_model=UsageReport)
async def usage(
    viewer: AdminOrSupervisor,
    session: SessionDep,
    from_: dates.FromDay = None,
    to: dates.ToDay = None,
    group_by: Literal["user", "day"] = "day",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> UsageReport:
    """Tokens, messages and answers per day or per user (last 30 days by default)."""
    from_date, to_date = dates.day_range(from_, to)
    return await usage_service.usage_report(
        session, viewer, from_date=from_date, to_date=to_date, group_by=group_by, limit=limit
    )
