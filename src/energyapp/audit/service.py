"""Writing the audit trail: :func:`record` adds a row to the caller's transaction, so an
event is stored exactly when what it describes is."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.audit.models import AuditEvent
from energyapp.core.client_ip import client_ip, user_agent
from energyapp.db import utcnow

# Browsing a list (the same one, with the same filters) leaves one event per this window.
LIST_COOLDOWN = timedelta(minutes=10)


def record(
    session: AsyncSession,
    action: str,
    *,
    actor_id: uuid.UUID | None,
    request: Request | None = None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event (committed with the caller's transaction). Never pass secrets in
    ``details``."""
    ip, ua = _origin(request)
    event = AuditEvent(
        action=action,
        actor_id=actor_id,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        ip=ip,
        user_agent=ua,
        details=details,
    )
    session.add(event)
    return event


def _origin(request: Request | None) -> tuple[str | None, str | None]:
    if request is None:
        return None, None
    return client_ip(request, request.app.state.settings.trusted_proxies), user_agent(request)


def record_account_event(
    session: AsyncSession,
    action: str,
    user_id: uuid.UUID,
    request: Request,
    *,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """An event a user caused on their own account (login, logout, 2FA, password)."""
    return record(
        session,
        action,
        actor_id=user_id,
        request=request,
        target_type="user",
        target_id=user_id,
        details=details,
    )


async def record_once(
    session: AsyncSession,
    action: str,
    *,
    actor_id: uuid.UUID,
    request: Request | None,
    filters: dict[str, Any],
    target_type: str | None = None,
    target_id: uuid.UUID | None = None,
) -> bool:
    """Record browsing a list at most once per actor, list and ``filters`` per
    :data:`LIST_COOLDOWN`; whether an event was added.

    The audit table itself is the memory (no process state), so the rule holds across workers:
    the last window of the actor's events of this action is read through the actor index.
    """
    since = utcnow() - LIST_COOLDOWN
    target = str(target_id) if target_id is not None else None
    recent = await session.execute(
        select(AuditEvent.target_id, AuditEvent.details).where(
            AuditEvent.actor_id == actor_id,
            AuditEvent.action == action,
            AuditEvent.created_at >= since,
        )
    )
    for row_target, details in recent.all():
        if row_target == target and (details or {}).get("filters") == filters:
            return False
    record(
        session,
        action,
        actor_id=actor_id,
        request=request,
        target_type=target_type,
        target_id=target,
        details={"filters": filters},
    )
    return True
