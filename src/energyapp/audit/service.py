"""Writing the audit trail: :func:`record` adds a row to the caller's transaction; a read
request (whose session commits each statement on its own) writes its event with
:func:`record_read`."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, String, Uuid, bindparam, insert
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.audit.models import AUDIT_EVENTS, AuditEvent
from energyapp.core.client_ip import client_ip, user_agent
from energyapp.core.direct import DirectStatement
from energyapp.db import UTCDateTime, new_id, utcnow

# Built once: the ORM's unit of work for one new object costs several times the INSERT itself;
# in a read request (autocommit) it runs straight on asyncpg (core/direct.py).
_INSERT_EVENT = DirectStatement(
    insert(AUDIT_EVENTS).values(
        id=bindparam("a_id", type_=Uuid),
        created_at=bindparam("a_created_at", type_=UTCDateTime),
        actor_id=bindparam("a_actor_id", type_=Uuid),
        action=bindparam("a_action", type_=String),
        target_type=bindparam("a_target_type", type_=String),
        target_id=bindparam("a_target_id", type_=String),
        ip=bindparam("a_ip", type_=String),
        user_agent=bindparam("a_user_agent", type_=String),
        details=bindparam("a_details", type_=JSON),
    )
)


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


async def record_read(
    session: AsyncSession,
    action: str,
    *,
    actor_id: uuid.UUID,
    request: Request | None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write the event of a read (someone's conversations or messages viewed) at once, with one
    prebuilt INSERT on the request's connection: in a read request's session that statement is
    its own transaction. Never pass secrets in ``details``."""
    ip, ua = _origin(request)
    await _INSERT_EVENT.execute(
        await session.connection(),
        {
            "a_id": new_id(),
            "a_created_at": utcnow(),
            "a_actor_id": actor_id,
            "a_action": action,
            "a_target_type": target_type,
            "a_target_id": str(target_id) if target_id is not None else None,
            "a_ip": ip,
            "a_user_agent": ua,
            "a_details": details,
        },
    )


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
