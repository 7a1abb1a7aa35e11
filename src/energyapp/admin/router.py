"""HTTP routes of the admin panel (admins and supervisors, each within scope)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
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
    AuditEventOut,
    ReassignRequest,
    UsageReport,
)
from energyapp.auth.deps import AdminOrSupervisor, AdminUser, require_roles
from energyapp.conversations.models import Conversation
from energyapp.core import dates
from energyapp.core.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Item,
    Page,
    PageDep,
)
from energyapp.core.roles import Role
from energyapp.db import SessionDep, utcnow

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
    )


@router.get("/users", response_model=Page[AdminUserOut])
async def list_users(
    viewer: AdminOrSupervisor,
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="Correo o nombre.")] = None,
    role: Role | None = None,
) -> dict[str, list[Item] | str | None]:
    """Users in scope, most recently active first."""
    items, next_cursor = await service.list_users(
        session, viewer, page, query=(q or "").strip() or None, role=role
    )
    return {"items": items, "next_cursor": next_cursor}


@router.patch("/users/{user_id}", response_model=AdminUserOut)
async def update_user(
    user_id: uuid.UUID,
    body: AdminUserUpdate,
    actor: AdminUser,
    session: SessionDep,
    request: Request,
) -> AdminUserOut:
    """Change role, active state or whether 2FA is required (admins only)."""
    user = await service.update_user(session, actor, user_id, body, request=request)
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


@router.get("/audit", response_model=Page[AuditEventOut])
async def list_audit(
    admin: AdminUser,
    session: SessionDep,
    page: PageDep,
    actor_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, list[Item] | str | None]:
    """The audit trail, newest first (admins only)."""
    items, next_cursor = await service.list_audit(
        session, admin, page, actor_id=actor_id, action=action
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get("/usage", response_model=UsageReport)
async def usage(
    viewer: AdminOrSupervisor,
    session: SessionDep,
    from_: Annotated[date | None, Query(alias="from", description="Día inicial (UTC).")] = None,
    to: Annotated[date | None, Query(description="Día final, incluido (UTC).")] = None,
    group_by: Literal["user", "day"] = "day",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> UsageReport:
    """Prompt/completion tokens and messages per day or per user (last 30 days by default)."""
    # Bounded first: the defaults and the report's day arithmetic cannot overflow.
    to_date = dates.bounded_day(to, "to") or utcnow().date()
    from_date = dates.bounded_day(from_, "from") or to_date - timedelta(days=29)
    return await usage_service.usage_report(
        session, viewer, from_date=from_date, to_date=to_date, group_by=group_by, limit=limit
    )
