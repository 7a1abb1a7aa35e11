"""Setting 2FA up during a login, for a user an admin requires it of (``two_factor_policy``).

The login answered with a setup challenge instead of tokens: the challenge stands for the
password just checked. ``start`` gives a new pending secret (QR and key), ``confirm`` takes the
first code, turns 2FA on, returns the recovery codes and opens the session. Both spend one of
the challenge's five tries; the code check is throttled like any 2FA code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.audit import service as audit
from energyapp.auth import totp, totp_secrets, two_factor
from energyapp.auth.models import User
from energyapp.auth.sessions import IssuedTokens, open_session
from energyapp.config import Settings
from energyapp.core.ratelimit import RateLimiter
from energyapp.db import utcnow
from energyapp.errors import Conflict, Forbidden

SETUP = "setup"


@dataclass(frozen=True)
class PendingSecret:
    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class SetUp:
    tokens: IssuedTokens
    recovery_codes: list[str]


async def _challenge_user(session: AsyncSession, setup_token: str) -> tuple[User, uuid.UUID]:
    challenge = await two_factor.live_challenge(session, setup_token, utcnow(), purpose=SETUP)
    await two_factor.count_attempt(session, challenge.id)
    user = await session.get(User, challenge.user_id)
    assert user is not None  # the challenge row cascades with its user
    if not user.is_active:
        raise Forbidden(
            "Su cuenta está desactivada. Contacte a un administrador.", code="account_disabled"
        )
    if user.totp_enabled:
        raise Conflict(
            "La verificación en dos pasos ya está activa. Inicie sesión de nuevo.",
            code="2fa_already_enabled",
        )
    return user, challenge.id


async def start(
    session: AsyncSession, settings: Settings, request: Request, *, setup_token: str
) -> PendingSecret:
    """A new pending secret for the challenge's user (replacing any earlier pending one)."""
    user, _ = await _challenge_user(session, setup_token)
    secret = totp.new_secret()
    user.totp_secret = totp_secrets.seal(settings.data_keyring, user.id, secret)
    user.totp_last_step = None
    audit.record_account_event(session, "2fa_setup_started", user.id, request)
    uri = totp.provisioning_uri(secret, user.email)
    return PendingSecret(secret, uri, totp.qr_svg(uri))


async def confirm(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    request: Request,
    *,
    setup_token: str,
    code: str,
) -> SetUp:
    """Turn 2FA on with a first valid code, then sign the user in; the recovery codes are
    returned only now."""
    user, challenge_id = await _challenge_user(session, setup_token)
    if not user.totp_secret:
        raise Conflict(
            "Primero inicie la configuración de la verificación en dos pasos.",
            code="2fa_setup_not_started",
        )
    await two_factor.check_code_throttled(
        session, settings, limiter, request, user, code, allow_recovery=False
    )
    await two_factor.spend_challenge(session, challenge_id, utcnow())
    user.totp_enabled = True
    codes = await two_factor.replace_recovery_codes(session, user.id)
    audit.record_account_event(session, "2fa_enabled", user.id, request, details={"required": True})
    tokens = await open_session(session, settings, request, user, method="2fa_setup")
    return SetUp(tokens, codes)
