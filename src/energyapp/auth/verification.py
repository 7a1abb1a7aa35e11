"""Verified addresses at registration: with mail on, a self-registered account must open the
link emailed to its address before it can sign in, so nobody can take a colleague's
not-yet-used address (registration is open to whole domains).

A link is 256 random bits, only its SHA-256 stored (table ``email_verifications``), lasts
:data:`VERIFY_LINK_HOURS`, works once; a newer one replaces it. Accounts an administrator, the
console or the seed create are verified at creation; an emailed password-reset link used on an
unverified account verifies it too (it reached the mailbox). With mail off nothing is asked.

Squatting: an address held by an account that was never verified nor signed in, registered more
than :data:`VERIFY_LINK_HOURS` ago, holding no link still usable and nothing an administrator
gave it (a role, a conversation), can be registered again: the stale account is deleted and
replaced. Within that time the owner takes the address back with "¿Olvidó su contraseña?"."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Exists, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.audit import service as audit
from energyapp.auth import email_recovery, emails, links, throttle
from energyapp.auth import service as auth_service
from energyapp.auth.models import EmailVerification, PasswordReset, User
from energyapp.config import Settings
from energyapp.core.client_ip import client_ip
from energyapp.core.ratelimit import RateLimiter
from energyapp.core.roles import Role
from energyapp.db import for_update, utcnow
from energyapp.errors import AppError, Forbidden

VERIFY_LINK_HOURS = 48
VERIFY_PAGE = "/#/verificar/"
VERIFY_EMAIL = "auth-verify-email"  # the throttle's name for resends
VERIFY_LINK = "auth-verify-link"  # and for uses of a link

RESENT = (
    "Si la cuenta existe y falta confirmar su correo, le enviamos un enlace nuevo. Revise su "
    "bandeja de entrada (y la carpeta de spam)."
)


def _link_invalid() -> AppError:
    return AppError(
        "El enlace de verificación ya no es válido. Inicie sesión para pedir uno nuevo.",
        code="verification_link_invalid",
    )


async def _issue(session: AsyncSession, settings: Settings, user: User) -> emails.Outgoing:
    token, link = await links.replace(session, EmailVerification, user, VERIFY_LINK_HOURS)
    return emails.verification_email(
        settings,
        to=user.email,
        path=f"{VERIFY_PAGE}{token}",
        hours=VERIFY_LINK_HOURS,
        link_id=link.id,
    )


def _live_link(model: type[links.Link], now: datetime) -> Exists:
    # A link the account's owner may still open: replacing the account would void it.
    return exists().where(model.user_id == User.id, model.used_at.is_(None), model.expires_at > now)


async def replace_stale(
    session: AsyncSession, settings: Settings, address: str
) -> uuid.UUID | None:
    """Before a registration (mail on): delete the account holding ``address`` if it was never
    verified nor signed in, registered long enough ago, holds no link still usable (a resent
    verification link, a reset link) and nothing an administrator gave it (a role, a
    conversation), so the address's owner can register."""
    if not settings.mail_enabled:
        return None
    now = utcnow()
    stale = await session.scalar(
        for_update(
            select(User).where(
                User.email == address,
                User.email_verified_at.is_(None),
                User.last_login_at.is_(None),
                User.created_at < now - timedelta(hours=VERIFY_LINK_HOURS),
                User.role == Role.TRABAJADOR,
                User.conversation_count == 0,
                ~_live_link(EmailVerification, now),
                ~_live_link(PasswordReset, now),
            )
        )
    )
    if stale is None:
        return None
    await session.execute(delete(User).where(User.id == stale.id))
    await session.flush()
    return stale.id


async def register(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    request: Request,
    *,
    email: str,
    password: str,
    full_name: str,
) -> tuple[User, emails.Outgoing | None]:
    """Self-service account (role ``trabajador``) for the allowed domains, unverified; with
    mail on, the email that verifies it (sent once the request is committed)."""
    address = await auth_service.check_registration(
        settings, limiter, request, email=email, password=password
    )
    replaced = await replace_stale(session, settings, address)
    user = await auth_service.create_user(
        session, email=address, password=password, full_name=full_name
    )
    user.email_verified_at = None
    details = {"replaced_unverified_user": str(replaced)} if replaced else None
    audit.record_account_event(session, "register", user.id, request, details=details)
    if not settings.mail_enabled:
        return user, None
    return user, await _issue(session, settings, user)


def needs_verification(settings: Settings, user: User) -> bool:
    """Whether ``user`` may not sign in yet: mail on and the address never verified."""
    return settings.mail_enabled and user.email_verified_at is None


def not_verified() -> Forbidden:
    """The login's 403, given only after the right password (auth/sessions.py)."""
    return Forbidden(
        "Falta confirmar su correo: abra el enlace que le enviamos al registrarse. "
        "Si no lo encuentra, pida uno nuevo.",
        code="email_not_verified",
    )


async def verify(
    session: AsyncSession, settings: Settings, limiter: RateLimiter, request: Request, token: str
) -> None:
    """Spend a verification link: the account's address is verified. 400
    ``verification_link_invalid`` when unknown, spent, expired or of a deactivated account."""
    ip = client_ip(request, settings.trusted_proxies)
    await throttle.count_every_attempt(limiter, settings, VERIFY_LINK, ip)
    link, user = await links.usable(session, EmailVerification, token, _link_invalid)
    await links.spend(session, EmailVerification, link, _link_invalid)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    audit.record_account_event(
        session, "email_verified", user.id, request, details={"link_id": str(link.id)}
    )


async def resend(
    settings: Settings, limiter: RateLimiter, request: Request, email: str
) -> emails.Compose:
    """What issues a new link for the unverified active account of ``email``, if there is one,
    once the answer is out (the same 202 either way); 409 ``mail_disabled``; 429 past the
    limits per IP and per address."""
    if not settings.mail_enabled:
        raise email_recovery.mail_disabled(
            "Este servidor no envía correos: su cuenta no necesita confirmar el correo."
        )
    address = auth_service.normalize_email(email)
    ip = client_ip(request, settings.trusted_proxies)
    await throttle.before_email_request(limiter, settings, VERIFY_EMAIL, ip=ip, email=address)
    return partial(_resent_email, settings=settings, address=address)


async def _resent_email(
    session: AsyncSession, *, settings: Settings, address: str
) -> emails.Outgoing | None:
    user = await session.scalar(for_update(select(User).where(User.email == address)))
    if user is None or not user.is_active or user.email_verified_at is not None:
        return None
    return await _issue(session, settings, user)
