"""Login, sessions (refresh-token families) and their tokens: issue, rotate, revoke.

A session is one ``auth_sessions`` row; access tokens carry its id (``sid``) and
``auth.deps.get_current_user`` refuses them once it is revoked."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.audit import service as audit
from energyapp.auth import throttle, two_factor_policy, verification
from energyapp.auth.models import AuthSession, LoginChallenge, RefreshToken, User
from energyapp.auth.security import (
    create_access_token,
    new_opaque_token,
    sha256_hex,
    verify_password,
)
from energyapp.auth.service import (
    announce_credentials_ended,
    end_pending_logins,
    get_user_by_email,
    normalize_email,
    revoke_all_sessions,
)
from energyapp.config import Settings
from energyapp.core.client_ip import client_ip, user_agent
from energyapp.core.ratelimit import RateLimiter
from energyapp.db import affected_rows, new_id, utcnow
from energyapp.errors import Forbidden, Unauthorized, kept

CHALLENGE_SECONDS = 300
INVALID_CREDENTIALS = "Correo o contraseña incorrectos."
# What a failed login typed as its email is audited only when it has an address's shape: a
# password typed into the email field (a common slip) must not land in the trail in clear.
_ADDRESS_SHAPE = re.compile(r"[^@\s]+@[a-z0-9-]+(\.[a-z0-9-]+)+")


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User


@dataclass(frozen=True)
class IssuedChallenge:
    challenge_token: str
    expires_in: int
    # "verify": enter a code; "setup": 2FA is required and must be set up first.
    purpose: str = "verify"


def _add_refresh_token(
    session: AsyncSession,
    settings: Settings,
    auth_session: AuthSession,
    now: datetime,
    token_id: uuid.UUID | None = None,
) -> str:
    raw = new_opaque_token()
    idle_limit = now + timedelta(days=settings.refresh_idle_days)
    session.add(
        RefreshToken(
            id=token_id or new_id(),
            session_id=auth_session.id,
            token_hash=sha256_hex(raw),
            created_at=now,
            expires_at=min(idle_limit, auth_session.expires_at),
        )
    )
    return raw


async def open_session(
    session: AsyncSession, settings: Settings, request: Request, user: User, *, method: str
) -> IssuedTokens:
    """Start a session (a refresh-token family) for a user who proved who they are."""
    now = utcnow()
    auth_session = AuthSession(
        id=new_id(),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(days=settings.refresh_token_days),
        last_used_at=now,
        ip=client_ip(request, settings.trusted_proxies)[:64],
        user_agent=user_agent(request) or None,
    )
    session.add(auth_session)
    refresh = _add_refresh_token(session, settings, auth_session, now)
    user.last_active_at = user.last_login_at = now
    access, expires_in = create_access_token(settings, user.id, auth_session.id, now=now)
    audit.record_account_event(
        session,
        "login",
        user.id,
        request,
        details={"method": method, "session_id": str(auth_session.id)},
    )
    return IssuedTokens(access, refresh, expires_in, user)


def _attempted_email(email: str) -> str | None:
    """The (normalised) email a failed login typed, or None when it is no address: then it may
    well be the password."""
    return email[:320] if _ADDRESS_SHAPE.fullmatch(email) else None


async def login(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    request: Request,
    *,
    email: str,
    password: str,
) -> IssuedTokens | IssuedChallenge:
    """Check email and password; the tokens, or a 2FA challenge when the account has 2FA.

    An unknown email and a wrong password fail alike (same message, same work: the unknown
    account still pays one argon2 verification). A disabled account is only told so after the
    right password."""
    ip = client_ip(request, settings.trusted_proxies)
    email = normalize_email(email)
    guard = throttle.Throttle(limiter, settings, throttle.LOGIN)
    await guard.before_attempt(account=email, ip=ip)
    found = await get_user_by_email(session, email)
    user_id, stored_hash = (found.id, found.password_hash) if found else (None, None)
    # End the read transaction before the deliberately slow argon2 check: a login must not hold a
    # pooled connection for it, or a burst of logins starves every other request of connections.
    # Nothing was written yet.
    await session.rollback()
    valid, new_hash = await verify_password(password, stored_hash)
    user = await session.get(User, user_id) if user_id is not None else None
    if user is None or not valid:
        await guard.failed(ip=ip)
        audit.record(
            session,
            "login_failed",
            actor_id=user.id if user else None,
            request=request,
            target_type="user",
            target_id=user.id if user else None,
            details={"email": _attempted_email(email), "reason": "invalid_credentials"},
        )
        raise kept(Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials"))
    await guard.succeeded(account=email)
    if new_hash is not None:
        user.password_hash = new_hash
    # Only now, after the right password: the status tells nothing to whoever lacks it.
    refusal = None
    if not user.is_active:
        refusal = Forbidden(
            "Su cuenta está desactivada. Contacte a un administrador.", code="account_disabled"
        )
    elif verification.needs_verification(settings, user):
        refusal = verification.not_verified()
    if refusal is not None:
        audit.record_account_event(
            session,
            "login_failed",
            user.id,
            request,
            details={"email": email, "reason": refusal.code},
        )
        raise kept(refusal)
    if user.totp_enabled and user.totp_secret:
        return await _challenge(session, user)
    if await two_factor_policy.needs_setup(session, user):
        return await _challenge(session, user, purpose="setup")
    return await open_session(session, settings, request, user, method="password")


async def _challenge(
    session: AsyncSession, user: User, *, purpose: str = "verify"
) -> IssuedChallenge:
    """The second step of a login with 2FA (or of one that must set 2FA up first): a
    single-use, short-lived challenge."""
    now = utcnow()
    # Spent or expired challenges of this user are of no further use.
    await session.execute(
        delete(LoginChallenge).where(
            LoginChallenge.user_id == user.id,
            or_(LoginChallenge.expires_at <= now, LoginChallenge.used_at.is_not(None)),
        )
    )
    raw = new_opaque_token()
    session.add(
        LoginChallenge(
            user_id=user.id,
            token_hash=sha256_hex(raw),
            expires_at=now + timedelta(seconds=CHALLENGE_SECONDS),
            purpose=purpose,
        )
    )
    return IssuedChallenge(raw, CHALLENGE_SECONDS, purpose)


def _refresh_refused(detail: str, code: str) -> Unauthorized:
    return Unauthorized(detail, code=code)


async def _retry_within_grace(
    session: AsyncSession,
    settings: Settings,
    token: RefreshToken,
    successor_id: uuid.UUID,
    now: datetime,
) -> bool:
    """Whether an already rotated token may be exchanged once more: it was rotated less than
    ``refresh_reuse_grace_seconds`` ago and the token that rotation issued is still unused, so
    whoever presents it most likely never received the answer. That unused successor is spent
    here (it never earns a retry itself: ``replaced_by_id`` stays None) and the old token now
    points to ``successor_id``, the token about to be issued.

    Two compare-and-set UPDATEs make it safe under concurrency and across processes: of two
    retries at once, or a retry racing the successor's own use, one wins and the other finds
    the successor spent, which is the theft answer. docs/security.md explains why a thief
    gains nothing lasting from the grace."""
    grace = timedelta(seconds=settings.refresh_reuse_grace_seconds)
    previous = token.replaced_by_id
    if previous is None or token.rotated_at is None or now - token.rotated_at >= grace:
        return False
    replaced = await affected_rows(
        session,
        update(RefreshToken)
        .where(
            RefreshToken.id == previous,
            RefreshToken.session_id == token.session_id,
            RefreshToken.rotated_at.is_(None),
        )
        .values(rotated_at=now)
        .execution_options(synchronize_session=False),
    )
    if replaced != 1:  # used (or replaced by a concurrent retry): two parties hold the family
        return False
    moved = await affected_rows(
        session,
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.replaced_by_id == previous)
        .values(replaced_by_id=successor_id)
        .execution_options(synchronize_session=False),
    )
    return moved == 1


async def refresh(
    session: AsyncSession, settings: Settings, request: Request, raw_token: str
) -> IssuedTokens:
    """Rotate a refresh token: the old one is spent, a new pair is returned.

    A token presented a second time means it was copied: the whole family (the session, and
    with it every access token it issued) is revoked, for the thief and the victim alike. Except
    for a retry (:func:`_retry_within_grace`): the answer to the first use was lost."""
    now = utcnow()
    row = (
        await session.execute(
            select(RefreshToken, AuthSession, User)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .join(User, User.id == AuthSession.user_id)
            .where(RefreshToken.token_hash == sha256_hex(raw_token))
        )
    ).first()
    if row is None:
        raise _refresh_refused("Sesión no válida. Inicie sesión de nuevo.", "invalid_refresh_token")
    token, auth_session, user = row
    if auth_session.revoked_at is not None:
        raise _refresh_refused("Su sesión fue cerrada. Inicie sesión de nuevo.", "session_revoked")
    successor_id = new_id()
    retry = token.rotated_at is not None
    if not retry:
        spent = await affected_rows(
            session,
            update(RefreshToken)
            .where(RefreshToken.id == token.id, RefreshToken.rotated_at.is_(None))
            .values(rotated_at=now, replaced_by_id=successor_id)
            .execution_options(synchronize_session=False),
        )
        reused = spent != 1  # a concurrent request spent it first
    else:
        reused = not await _retry_within_grace(session, settings, token, successor_id, now)
    if reused:
        auth_session.revoked_at = now
        auth_session.revoked_reason = "refresh_reuse"
        announce_credentials_ended(session, user.id)
        audit.record(
            session,
            "refresh_token_reused",
            actor_id=user.id,
            request=request,
            target_type="session",
            target_id=auth_session.id,
        )
        raise kept(
            _refresh_refused(
                "Por seguridad se cerró su sesión. Inicie sesión de nuevo.",
                "refresh_token_reused",
            )
        )
    if token.expires_at <= now or auth_session.expires_at <= now:
        raise _refresh_refused("Su sesión expiró. Inicie sesión de nuevo.", "session_expired")
    if not user.is_active:
        raise _refresh_refused("Su cuenta está desactivada.", "account_disabled")
    if await two_factor_policy.needs_setup(session, user):
        # Rolled back with the request: the token is not spent, the session stays open.
        raise Forbidden(
            "Un administrador exige la verificación en dos pasos para su cuenta. Inicie sesión "
            "de nuevo para configurarla.",
            code="2fa_setup_required",
        )
    if retry:  # who got a pair by the grace: if it was a thief, the trail shows from where
        audit.record(
            session,
            "refresh_token_retried",
            actor_id=user.id,
            request=request,
            target_type="session",
            target_id=auth_session.id,
        )
    new_raw = _add_refresh_token(session, settings, auth_session, now, successor_id)
    auth_session.last_used_at = now
    user.last_active_at = now  # activity, not a sign-in: last_login_at stays
    access, expires_in = create_access_token(settings, user.id, auth_session.id, now=now)
    return IssuedTokens(access, new_raw, expires_in, user)


async def logout(session: AsyncSession, request: Request, raw_token: str) -> None:
    """Revoke the session a refresh token belongs to. Unknown tokens are ignored (204 anyway)."""
    row = (
        await session.execute(
            select(AuthSession)
            .join(RefreshToken, RefreshToken.session_id == AuthSession.id)
            .where(RefreshToken.token_hash == sha256_hex(raw_token))
        )
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    row.revoked_reason = "logout"
    announce_credentials_ended(session, row.user_id)
    audit.record(
        session,
        "logout",
        actor_id=row.user_id,
        request=request,
        target_type="session",
        target_id=row.id,
    )


async def logout_all(session: AsyncSession, request: Request, user: User) -> None:
    """End every session of the user, and every login of theirs still waiting for its second
    step: whoever stopped there with the password must start again."""
    await revoke_all_sessions(session, user.id, "logout_all")
    await end_pending_logins(session, user.id)
    audit.record_account_event(session, "logout_all", user.id, request)
