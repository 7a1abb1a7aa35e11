"""Who must use 2FA: a user an admin marked (``users.require_2fa``), or everyone in a role whose
policy says so (``role_2fa_policies``). Required applies to every account, whatever its email
domain: the self-service domains only limit who may turn 2FA on from Config by choice."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.audit import service as audit
from energyapp.auth.models import Role2FAPolicy, User
from energyapp.core.roles import Role
from energyapp.db import get_for_update, utcnow


async def role_requires(session: AsyncSession, role: str) -> bool:
    required = await session.scalar(
        select(Role2FAPolicy.require_2fa).where(Role2FAPolicy.role == role)
    )
    return bool(required)


async def is_required(session: AsyncSession, user: User) -> bool:
    """Whether ``user`` must use 2FA (marked personally or through the role)."""
    return user.require_2fa or await role_requires(session, user.role)


async def needs_setup(session: AsyncSession, user: User) -> bool:
    """Required but not set up: such a user gets a setup challenge instead of tokens."""
    enrolled = user.totp_enabled and user.totp_secret is not None
    return not enrolled and await is_required(session, user)


async def role_policies(session: AsyncSession) -> dict[Role, bool]:
    """Every role with whether it requires 2FA (a role never set does not)."""
    rows = await session.execute(select(Role2FAPolicy.role, Role2FAPolicy.require_2fa))
    stored: dict[str, bool] = dict(rows.all())
    return {role: bool(stored.get(role.value, False)) for role in Role}


async def set_role_policy(
    session: AsyncSession, actor: User, role: Role, required: bool, *, request: Request | None
) -> None:
    """Require 2FA (or stop requiring it) for everyone with ``role``; audited when it changes."""
    policy = await get_for_update(session, Role2FAPolicy, role.value)
    if policy is None:
        if not required:
            return
        policy = Role2FAPolicy(role=role.value, require_2fa=False)
        session.add(policy)
    if policy.require_2fa == required:
        return
    policy.require_2fa = required
    policy.updated_at = utcnow()
    policy.updated_by = actor.id
    audit.record(
        session,
        "role.2fa_required" if required else "role.2fa_requirement_removed",
        actor_id=actor.id,
        request=request,
        target_type="role",
        target_id=role.value,
    )


def set_user_requirement(
    session: AsyncSession, actor: User, target: User, required: bool, *, request: Request | None
) -> None:
    """Require 2FA (or stop requiring it) for one user; audited when it changes. The user's
    open sessions keep working until their next refresh (``sessions.refresh``)."""
    if target.require_2fa == required:
        return
    target.require_2fa = required
    audit.record(
        session,
        "user.2fa_required" if required else "user.2fa_requirement_removed",
        actor_id=actor.id,
        request=request,
        target_type="user",
        target_id=target.id,
    )
