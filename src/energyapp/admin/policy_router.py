"""Admin-only policies: which roles must use 2FA, and legal holds on conversations (kept
whatever the retention policy). Supervisors get 403 on every route here."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response, status

from energyapp.admin import service
from energyapp.admin.schemas import (
    LegalHoldOut,
    LegalHoldRequest,
    RolePolicyOut,
    RolePolicyUpdate,
)
from energyapp.auth import two_factor_policy
from energyapp.auth.deps import AdminUser, require_roles
from energyapp.conversations import legal_hold
from energyapp.core.roles import Role
from energyapp.db import SessionDep
from energyapp.errors import NotFound

router = APIRouter(
    prefix="/admin", tags=["admin"], dependencies=[Depends(require_roles(Role.ADMIN))]
)


@router.get("/two-factor/roles", response_model=list[RolePolicyOut])
async def list_role_policies(admin: AdminUser, session: SessionDep) -> list[RolePolicyOut]:
    """Whether each role must use 2FA."""
    policies = await two_factor_policy.role_policies(session)
    return [RolePolicyOut(role=role, require_2fa=value) for role, value in policies.items()]


@router.put("/two-factor/roles/{role}", response_model=RolePolicyOut)
async def set_role_policy(
    role: Role, body: RolePolicyUpdate, admin: AdminUser, session: SessionDep, request: Request
) -> RolePolicyOut:
    """Require 2FA for everyone with ``role`` (or stop requiring it); audited."""
    await two_factor_policy.set_role_policy(session, admin, role, body.require_2fa, request=request)
    return RolePolicyOut(role=role, require_2fa=body.require_2fa)


@router.get("/conversations/{conversation_id}/legal-hold", response_model=LegalHoldOut)
async def get_legal_hold(
    conversation_id: uuid.UUID, admin: AdminUser, session: SessionDep
) -> LegalHoldOut:
    """The conversation's hold; 404 ``hold_not_found`` when it has none."""
    conversation, _, _ = await service.get_conversation_in_scope(session, admin, conversation_id)
    hold = await legal_hold.get_hold(session, conversation.id)
    if hold is None:
        raise NotFound("La conversación no está bajo retención legal.", code="hold_not_found")
    return LegalHoldOut.model_validate(hold)


@router.put("/conversations/{conversation_id}/legal-hold", response_model=LegalHoldOut)
async def place_legal_hold(
    conversation_id: uuid.UUID,
    body: LegalHoldRequest,
    admin: AdminUser,
    session: SessionDep,
    request: Request,
) -> LegalHoldOut:
    """Keep the conversation whatever the retention policy, with a reason; audited."""
    conversation, _, _ = await service.get_conversation_in_scope(session, admin, conversation_id)
    hold = await legal_hold.place_hold(session, admin, conversation, body.reason, request=request)
    return LegalHoldOut.model_validate(hold)


@router.delete(
    "/conversations/{conversation_id}/legal-hold", status_code=status.HTTP_204_NO_CONTENT
)
async def release_legal_hold(
    conversation_id: uuid.UUID, admin: AdminUser, session: SessionDep, request: Request
) -> Response:
    """End the hold: the conversation follows the retention policy again; audited."""
    conversation, _, _ = await service.get_conversation_in_scope(session, admin, conversation_id)
    await legal_hold.release_hold(session, admin, conversation, request=request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
