"""Account recovery without email: an administrator (or the server's console) issues a one-time
password-reset link and hands it to the person, who sets a new password with it.

A link is 256 random bits shown once; only its SHA-256 is stored. It lasts
:data:`RESET_LINK_HOURS`, works once (spent by a conditional UPDATE, so two simultaneous uses
cannot both succeed), and a newer link for the same person replaces it. Using it closes every
session of the account. The token travels in the address's fragment (``/#/restablecer/...``)
and in request bodies, never in a path a log would keep."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.audit import service as audit
from energyapp.auth import links, throttle
from energyapp.auth.models import PasswordReset, User
from energyapp.auth.passwords import check_new_password
from energyapp.auth.security import hash_password
from energyapp.auth.service import account_for_console, end_pending_logins, revoke_all_sessions
from energyapp.config import Settings
from energyapp.core.client_ip import client_ip
from energyapp.core.ratelimit import RateLimiter
from energyapp.core.roles import Role
from energyapp.db import get_for_update, utcnow
from energyapp.errors import AppError, Conflict, Forbidden, NotFound

# How long a link works. A module constant, not a setting: a day covers "hand it over in
# person", and nobody asked to change it.
RESET_LINK_HOURS = 24
# The page of the web app that takes the link (static/js/views/reset_password.js).
RESET_PAGE = "/#/restablecer/"


@dataclass(frozen=True)
class IssuedLink:
    token: str
    expires_at: datetime
    user: User
    link_id: uuid.UUID

    @property
    def path(self) -> str:
        return f"{RESET_PAGE}{self.token}"


def _link_invalid(mail_enabled: bool = False) -> AppError:
    # With mail on, the person can ask for a new link at the login without an administrator.
    where = (
        "con «¿Olvidó su contraseña?» al iniciar sesión" if mail_enabled else "a un administrador"
    )
    return AppError(
        f"El enlace ya no es válido: pida uno nuevo {where}.", code="reset_link_invalid"
    )


async def issue_link(
    session: AsyncSession, admin: User, user_id: uuid.UUID, request: Request
) -> IssuedLink:
    """An administrator's link for another person's account: 403 for any other role, 404
    ``user_not_found``, 409 for their own account or a deactivated one."""
    if admin.role != Role.ADMIN:
        raise Forbidden()
    if user_id == admin.id:
        # With a stolen session one could otherwise set the admin's password without knowing it.
        raise Conflict(
            "No puede crear un enlace para su propia cuenta. Cambie su contraseña en "
            "«Configuración», o pida el enlace a otro administrador.",
            code="cannot_reset_own_password",
        )
    user = await get_for_update(session, User, user_id)
    if user is None:
        raise NotFound("No se encontró el usuario.", code="user_not_found")
    return await issue(session, user, actor_id=admin.id, request=request)


async def issue_from_console(session: AsyncSession, email: str) -> IssuedLink:
    """``energyapp reset-password``: a link with no actor (``details.via = "console"``)."""
    user = await account_for_console(session, email)
    return await issue(session, user, actor_id=None, request=None, via="console")


async def issue(
    session: AsyncSession,
    user: User,
    *,
    actor_id: uuid.UUID | None,
    request: Request | None,
    via: str | None = None,
) -> IssuedLink:
    """A new link for ``user`` (whose row the caller locked), replacing every earlier one;
    ``via`` (``console``, ``email``) is recorded in the audit row of a link with no actor."""
    if not user.is_active:
        raise Conflict(
            "La cuenta está desactivada: actívela antes de crear un enlace.",
            code="account_disabled",
        )
    token, link = await links.replace(
        session, PasswordReset, user, RESET_LINK_HOURS, created_by=actor_id
    )
    via_detail = {"via": via} if via else {}
    audit.record(
        session,
        "password_reset_link_created",
        actor_id=actor_id,
        request=request,
        target_type="user",
        target_id=user.id,
        details={"link_id": str(link.id), **via_detail},
    )
    return IssuedLink(token, link.expires_at, user, link.id)


async def _usable_link(
    session: AsyncSession, settings: Settings, token: str
) -> tuple[PasswordReset, User]:
    """The unspent, unexpired link of an active account behind ``token``; 400 otherwise."""
    return await links.usable(session, PasswordReset, token, _invalid_for(settings))


def _invalid_for(settings: Settings) -> Callable[[], AppError]:
    return partial(_link_invalid, settings.mail_enabled)


async def check_link(
    session: AsyncSession, settings: Settings, limiter: RateLimiter, request: Request, token: str
) -> User:
    """Whose account a link is for (so the page can say it), or 400 ``reset_link_invalid``."""
    await _count_attempt(settings, limiter, request)
    return (await _usable_link(session, settings, token))[1]


async def reset_password(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    request: Request,
    *,
    token: str,
    new_password: str,
) -> None:
    """Set a new password with a link (whatever ``password_change_domains`` says: that is about
    self-service changes). The link is spent, every session of the account and every login
    waiting for its second step end; 2FA stays as it was."""
    await _count_attempt(settings, limiter, request)
    link, user = await _usable_link(session, settings, token)
    # Checked before the link is spent: a refused password leaves it usable.
    check_new_password(new_password, email=user.email)
    new_hash = await hash_password(new_password)  # slow: before the link's row is locked
    await links.spend(session, PasswordReset, link, _invalid_for(settings))
    user.password_hash = new_hash
    if user.email_verified_at is None:
        # The link reached this person: by email from their mailbox, or from an administrator.
        user.email_verified_at = utcnow()
    await revoke_all_sessions(session, user.id, "password_reset")
    await end_pending_logins(session, user.id)
    audit.record_account_event(
        session, "password_reset", user.id, request, details={"link_id": str(link.id)}
    )


async def _count_attempt(settings: Settings, limiter: RateLimiter, request: Request) -> None:
    ip = client_ip(request, settings.trusted_proxies)
    await throttle.before_password_reset(limiter, settings, ip=ip)
