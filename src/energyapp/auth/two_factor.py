"""Two-factor authentication: the login's second step, self-service setup and removal, and the
admin reset for a lost phone. TOTP codes are accepted once (``users.totp_last_step``), recovery
codes once each, and a login challenge at most five times, all by atomic conditional UPDATEs so
concurrent requests cannot reuse what one of them spent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from starlette.requests import Request

from energyapp.audit import service as audit
from energyapp.auth import throttle, totp, totp_secrets, two_factor_policy
from energyapp.auth.models import LoginChallenge, RecoveryCode, User
from energyapp.auth.security import sha256_hex
from energyapp.auth.service import (
    account_for_console,
    confirm_password,
    email_domain,
    end_pending_logins,
    revoke_all_sessions,
)
from energyapp.auth.sessions import IssuedTokens, open_session
from energyapp.config import Settings
from energyapp.core.client_ip import client_ip
from energyapp.core.crypto import Keyring
from energyapp.core.ratelimit import RateLimiter
from energyapp.db import affected_rows, utcnow
from energyapp.errors import Conflict, Forbidden, NotFound, Unauthorized, kept

MAX_CHALLENGE_ATTEMPTS = 5


async def accept_totp(session: AsyncSession, keyring: Keyring, user: User, code: str) -> bool:
    """True once per time step: a valid code whose step is not newer than the last accepted one
    is a replay and fails."""
    secret = totp_secrets.secret_of(keyring, user)
    if secret is None:
        return False
    step = totp.matching_step(secret, code)
    if step is None:
        return False
    result = await affected_rows(
        session,
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False),
    )
    if result != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


async def use_recovery_code(session: AsyncSession, user_id: uuid.UUID, code: str) -> bool:
    result = await affected_rows(
        session,
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == totp.hash_recovery_code(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False),
    )
    return result == 1


async def check_second_factor(
    session: AsyncSession, keyring: Keyring, user: User, code: str
) -> str | None:
    """``"totp"`` or ``"recovery_code"`` when ``code`` is accepted (and now spent), else None."""
    if not (user.totp_enabled and user.totp_secret):
        return None
    code = "".join(code.split())
    if totp.is_totp_format(code):
        return "totp" if await accept_totp(session, keyring, user, code) else None
    if await use_recovery_code(session, user.id, code):
        return "recovery_code"
    return None


def _dead_challenge() -> Unauthorized:
    return Unauthorized(
        "La verificación expiró o ya no es válida. Inicie sesión de nuevo.",
        code="challenge_invalid",
    )


async def live_challenge(
    session: AsyncSession, token: str, now: datetime, *, purpose: str = "verify"
) -> Any:
    """The challenge row of ``token``, unless it is unknown, of another purpose, spent, expired
    or out of tries."""
    challenge = (
        await session.execute(
            LoginChallenge.__table__.select().where(LoginChallenge.token_hash == sha256_hex(token))
        )
    ).first()
    if (
        challenge is None
        or challenge.purpose != purpose
        or challenge.used_at is not None
        or challenge.expires_at <= now
        or challenge.attempts >= MAX_CHALLENGE_ATTEMPTS
    ):
        raise _dead_challenge()
    return challenge


async def count_attempt(session: AsyncSession, challenge_id: uuid.UUID) -> None:
    """Spend one of the challenge's tries (atomically: concurrent tries cannot exceed five)."""
    counted = await affected_rows(
        session,
        update(LoginChallenge)
        .where(
            LoginChallenge.id == challenge_id,
            LoginChallenge.used_at.is_(None),
            LoginChallenge.attempts < MAX_CHALLENGE_ATTEMPTS,
        )
        .values(attempts=LoginChallenge.attempts + 1)
        .execution_options(synchronize_session=False),
    )
    if counted != 1:
        raise _dead_challenge()


async def spend_challenge(session: AsyncSession, challenge_id: uuid.UUID, now: datetime) -> None:
    """Mark the challenge used; a concurrent request that spent it first wins."""
    spent = await affected_rows(
        session,
        update(LoginChallenge)
        .where(LoginChallenge.id == challenge_id, LoginChallenge.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False),
    )
    if spent != 1:
        raise _dead_challenge()


async def verify_login(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    request: Request,
    *,
    challenge_token: str,
    code: str,
) -> IssuedTokens:
    """The second step of a login: a TOTP code or a recovery code against a live challenge."""
    now = utcnow()
    challenge = await live_challenge(session, challenge_token, now)
    ip = client_ip(request, settings.trusted_proxies)
    guard = throttle.Throttle(limiter, settings, throttle.TWO_FACTOR)
    await guard.before_attempt(account=str(challenge.user_id), ip=ip)
    await count_attempt(session, challenge.id)
    user = await session.get(User, challenge.user_id)
    assert user is not None  # the challenge row cascades with its user
    method = await check_second_factor(session, settings.data_keyring, user, code)
    if method is None:
        await guard.failed(ip=ip)
        audit.record_account_event(
            session,
            "login_failed",
            user.id,
            request,
            details={"email": user.email, "reason": "invalid_2fa_code"},
        )
        raise kept(Unauthorized("El código no es correcto.", code="invalid_code"))
    await guard.succeeded(account=str(user.id))
    await spend_challenge(session, challenge.id, now)
    if not user.is_active:
        raise Forbidden(
            "Su cuenta está desactivada. Contacte a un administrador.", code="account_disabled"
        )
    return await open_session(session, settings, request, user, method=method)


def _require_self_service(settings: Settings, user: User) -> None:
    if email_domain(user.email) not in settings.self_service_2fa_domains:
        raise Forbidden(
            "La verificación en dos pasos no está disponible para su cuenta.",
            code="2fa_not_allowed",
        )


async def start_setup(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    request: Request,
    user: User,
    *,
    password: str,
) -> tuple[str, str, str]:
    """A new pending secret: (secret, otpauth URI, QR code as SVG). Not active until confirmed."""
    _require_self_service(settings, user)
    if user.totp_enabled:
        raise Conflict(
            "La verificación en dos pasos ya está activa. Desactívela antes de configurarla de "
            "nuevo.",
            code="2fa_already_enabled",
        )
    await confirm_password(session, settings, limiter, request, user, password)
    secret = totp.new_secret()
    user.totp_secret = totp_secrets.seal(settings.data_keyring, user.id, secret)
    user.totp_last_step = None
    audit.record_account_event(session, "2fa_setup_started", user.id, request)
    uri = totp.provisioning_uri(secret, user.email)
    return secret, uri, totp.qr_svg(uri)


async def check_code_throttled(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    request: Request,
    user: User,
    code: str,
    *,
    allow_recovery: bool,
) -> None:
    ip = client_ip(request, settings.trusted_proxies)
    guard = throttle.Throttle(limiter, settings, throttle.TWO_FACTOR)
    await guard.before_attempt(account=str(user.id), ip=ip)
    code = "".join(code.split())
    keyring = settings.data_keyring
    if allow_recovery:
        accepted = await check_second_factor(session, keyring, user, code) is not None
    else:
        accepted = totp.is_totp_format(code) and await accept_totp(session, keyring, user, code)
    if not accepted:
        await guard.failed(ip=ip)
        audit.record_account_event(session, "2fa_code_failed", user.id, request)
        raise kept(Forbidden("El código no es correcto.", code="invalid_code"))
    await guard.succeeded(account=str(user.id))


async def replace_recovery_codes(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = totp.new_recovery_codes()
    session.add_all(
        RecoveryCode(user_id=user_id, code_hash=totp.hash_recovery_code(c)) for c in codes
    )
    return codes


async def confirm_setup(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    request: Request,
    user: User,
    *,
    code: str,
) -> list[str]:
    """Turn 2FA on with a first valid code; return 10 recovery codes (shown only now)."""
    _require_self_service(settings, user)
    if user.totp_enabled:
        raise Conflict("La verificación en dos pasos ya está activa.", code="2fa_already_enabled")
    if not user.totp_secret:
        raise Conflict(
            "Primero inicie la configuración de la verificación en dos pasos.",
            code="2fa_setup_not_started",
        )
    await check_code_throttled(
        session, settings, limiter, request, user, code, allow_recovery=False
    )
    user.totp_enabled = True
    codes = await replace_recovery_codes(session, user.id)
    audit.record_account_event(session, "2fa_enabled", user.id, request)
    return codes


async def _clear(session: AsyncSession, user: User) -> None:
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_last_step = None
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await end_pending_logins(session, user.id)


async def disable(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    request: Request,
    user: User,
    *,
    password: str,
    code: str,
) -> None:
    """Turn 2FA off: needs the password and a current code (or a recovery code)."""
    _require_self_service(settings, user)
    if not user.totp_enabled:
        raise Conflict("La verificación en dos pasos no está activa.", code="2fa_not_enabled")
    if await two_factor_policy.is_required(session, user):
        raise Conflict(
            "Un administrador exige la verificación en dos pasos para su cuenta: no se puede "
            "desactivar.",
            code="2fa_required",
        )
    await confirm_password(session, settings, limiter, request, user, password)
    await check_code_throttled(session, settings, limiter, request, user, code, allow_recovery=True)
    await _clear(session, user)
    audit.record_account_event(session, "2fa_disabled", user.id, request)


async def admin_reset(
    session: AsyncSession, request: Request, admin: User, user_id: uuid.UUID
) -> User:
    """An admin removes a user's 2FA (lost phone); the user's sessions are closed too. Not
    their own: that would turn off, without the password and a code, the second step that
    guards their account (whoever holds a stolen session could then log in with the password
    alone, or enrol their own phone where 2FA is required)."""
    if user_id == admin.id:
        raise Conflict(
            "No puede restablecer su propia verificación en dos pasos. Desactívela en "
            "«Configuración» con su contraseña y un código, o pida a otro administrador que la "
            "restablezca.",
            code="cannot_reset_own_2fa",
        )
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No se encontró el usuario.", code="user_not_found")
    return await _reset(session, user, actor_id=admin.id, request=request)


async def reset_from_console(session: AsyncSession, email: str) -> User:
    """``energyapp reset-2fa``: the admin reset, with no actor and ``details.via = "console"``
    in the trail."""
    user = await account_for_console(session, email)
    return await _reset(session, user, actor_id=None, request=None)


async def _reset(
    session: AsyncSession, user: User, *, actor_id: uuid.UUID | None, request: Request | None
) -> User:
    was_enabled = user.totp_enabled
    await _clear(session, user)
    await revoke_all_sessions(session, user.id, "2fa_reset")
    via = {} if actor_id else {"via": "console"}
    audit.record(
        session,
        "2fa_reset",
        actor_id=actor_id,
        request=request,
        target_type="user",
        target_id=user.id,
        details={"was_enabled": was_enabled, **via},
    )
    return user
