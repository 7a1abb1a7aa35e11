"""Authentication dependencies: every credential is checked here and only here."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth.models import AuthSession, User
from energyapp.auth.security import decode_access_token
from energyapp.config import Settings
from energyapp.core.deps import RateLimiterDep, SettingsDep
from energyapp.core.roles import Role
from energyapp.db import SessionDep, utcnow
from energyapp.errors import Forbidden, Unauthorized

bearer = HTTPBearer(auto_error=False, description="Access token from POST /auth/login")

BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def authenticate(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    credentials: HTTPAuthorizationCredentials | None,
) -> User:
    """The active user behind a valid access token whose session is still open; 401 otherwise.

    Checked on every request (one query), so a deactivation, a role change or a logout takes
    effect at once. The user's and the session's ids are kept on ``request.state`` for the
    access log and the audit trail.
    """
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized()
    claims = decode_access_token(settings, credentials.credentials)
    row = (
        await session.execute(
            select(User, AuthSession.revoked_at, AuthSession.expires_at)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(User.id == claims.user_id, AuthSession.id == claims.session_id)
        )
    ).first()
    if row is None:
        raise Unauthorized("Credenciales inválidas. Inicie sesión de nuevo.", code="invalid_token")
    user, revoked_at, expires_at = row
    if revoked_at is not None:
        raise Unauthorized("Su sesión fue cerrada. Inicie sesión de nuevo.", code="session_revoked")
    if expires_at <= utcnow():
        raise Unauthorized("Su sesión expiró. Inicie sesión de nuevo.", code="session_expired")
    if not user.is_active:
        raise Unauthorized("Su cuenta está desactivada.", code="account_disabled")
    request.state.user_id = user.id
    request.state.session_id = claims.session_id
    return user


async def get_current_user(
    request: Request, session: SessionDep, settings: SettingsDep, credentials: BearerCredentials
) -> User:
    return await authenticate(request, session, settings, credentials)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def current_session_id(request: Request, _user: CurrentUser) -> uuid.UUID:
    """The session behind the request's access token (checked with the user)."""
    session_id: uuid.UUID = request.state.session_id
    return session_id


CurrentSessionId = Annotated[uuid.UUID, Depends(current_session_id)]

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


async def limit_changes(
    request: Request, user: CurrentUser, limiter: RateLimiterDep, settings: SettingsDep
) -> None:
    """429 ``rate_limited`` past ``write_rate_limit_per_minute`` changes by one person (the
    chat and the ``/v1`` API have limits of their own); reads are not counted."""
    if request.method in _READS:
        return
    await limiter.enforce(
        "writes", str(user.id), limit=settings.write_rate_limit_per_minute, window_seconds=60,
        detail="Hizo demasiados cambios seguidos. Espere {seconds} s e intente de nuevo.",
    )  # fmt: skip


ChangesLimited = Depends(limit_changes)


def require_roles(*roles: Role) -> Callable[[User], Awaitable[User]]:
    async def _check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden()
        return user

    return _check


AdminUser = Annotated[User, Depends(require_roles(Role.ADMIN))]
AdminOrSupervisor = Annotated[User, Depends(require_roles(Role.ADMIN, Role.SUPERVISOR))]
