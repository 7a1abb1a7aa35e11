"""Self-service password reset by email: a person who forgot the password asks for a link at
the login, and the server emails it (when the operator configured an SMTP relay; otherwise
the person asks an administrator, auth/recovery.py).

The answer is the same for every address (no account enumeration): 202 whether an account
has it or not, whether it is deactivated, whether the relay then takes the email. The link is
recovery's own (24 h, single use, only its SHA-256 stored), audited with ``via = "email"``."""

from __future__ import annotations

from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.auth import emails, recovery, throttle
from energyapp.auth.models import User
from energyapp.auth.service import normalize_email
from energyapp.config import Settings
from energyapp.core.client_ip import client_ip
from energyapp.core.ratelimit import RateLimiter
from energyapp.db import for_update
from energyapp.errors import Conflict

ACCEPTED = (
    "Si existe una cuenta activa con ese correo, le enviamos un enlace para restablecer la "
    "contraseña. Revise su bandeja de entrada (y la carpeta de spam)."
)


def mail_disabled(
    detail: str = "Este servidor no envía correos. Pida a un administrador un enlace para "
    "restablecer su contraseña.",
) -> Conflict:
    return Conflict(detail, code="mail_disabled")


async def request_reset(
    settings: Settings, limiter: RateLimiter, request: Request, email: str
) -> emails.Compose:
    """What finds the account and issues its link once the answer is out
    (:func:`emails.compose_later`); 409 ``mail_disabled`` when the server sends no email, 429
    past the limits."""
    if not settings.mail_enabled:
        raise mail_disabled()
    address = normalize_email(email)
    ip = client_ip(request, settings.trusted_proxies)
    await throttle.before_email_request(
        limiter, settings, throttle.RESET_EMAIL, ip=ip, email=address
    )
    return partial(_reset_email, settings=settings, request=request, address=address)


async def _reset_email(
    session: AsyncSession, *, settings: Settings, request: Request, address: str
) -> emails.Outgoing | None:
    """The email for the active account of ``address``, its link issued; ``None`` without one."""
    user = await session.scalar(for_update(select(User).where(User.email == address)))
    if user is None or not user.is_active:
        return None
    link = await recovery.issue(session, user, actor_id=None, request=request, via="email")
    return emails.reset_email(
        settings,
        to=user.email,
        name=user.full_name if user.email_verified_at else None,
        path=link.path,
        hours=recovery.RESET_LINK_HOURS,
        link_id=link.link_id,
    )
