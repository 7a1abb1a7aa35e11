"""Writing the audit trail: :func:`record` adds a row to the caller's transaction, so an
event is stored exactly when what it describes is."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.audit.models import AuditEvent
from energyapp.core.client_ip import client_ip, user_agent


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
