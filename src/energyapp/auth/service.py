"""Account services: plain typed functions that take the session explicitly. Login and tokens
are in ``sessions``, 2FA in ``two_factor``.

Failures that must leave a trace (a failed login's audit row, a revoked stolen refresh family)
raise errors with ``keep_changes`` so the request's transaction is committed anyway."""

from __future__ import annotations

import uuid

import email_validator
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.audit import service as audit
from energyapp.auth import throttle
from energyapp.auth.models import AuthSession, LoginChallenge, User
from energyapp.auth.passwords import check_new_password
from energyapp.auth.schemas import clean_full_name
from energyapp.auth.security import (
    hash_password,
    verify_password,
)
from energyapp.config import Settings
from energyapp.core.client_ip import client_ip
from energyapp.core.ratelimit import RateLimiter
from energyapp.core.roles import ROLE_VALUES, Role
from energyapp.db import after_commit, for_update, utcnow
from energyapp.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
    kept,
)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == normalize_email(email)))
    return result.scalar_one_or_none()


async def account_for_console(session: AsyncSession, email: str) -> User:
    """The account an ``energyapp`` command names by email, its row locked; 404 if none."""
    user = await session.scalar(
        for_update(select(User).where(User.email == normalize_email(email)))
    )
    if user is None:
        raise NotFound("No existe una cuenta con ese correo.", code="user_not_found")
    return user


async def create_user(
    session: AsyncSession, *, email: str, password: str, full_name: str, role: str = Role.TRABAJADOR
) -> User:
    """Create an account (the caller validated the password policy). 409 if the email exists;
    422 when the name breaks the name rule (the CLI's names take the API's rule too)."""
    name, checked_role = checked_account_fields(full_name, role)
    if await get_user_by_email(session, email) is not None:
        raise Conflict("Ya existe una cuenta con ese correo.", code="email_taken")
    user = User(
        email=normalize_email(email),
        full_name=name,
        password_hash=await hash_password(password),
        role=checked_role,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent registration of the same address won the race
        raise Conflict("Ya existe una cuenta con ese correo.", code="email_taken") from None
    return user


def checked_account_fields(full_name: str, role: str) -> tuple[str, Role]:
    """The cleaned full name and the role of a new account; 422 naming the one that is wrong."""
    if role not in ROLE_VALUES:
        raise Unprocessable(f"Rol desconocido: {role}.", code="invalid_role")
    try:
        return clean_full_name(full_name), Role(role)
    except ValueError as exc:
        raise Unprocessable(f"Nombre completo: {exc}.") from None


# The key of ``session.info`` under which the app (``chat/lifecycle.py``) sets what to call with
# a person's id once a transaction that ended one of their sessions or API keys is committed.
CREDENTIALS_ENDED = "energyapp.credentials_ended"


def announce_credentials_ended(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Once the transaction is committed, tell the open answer streams of ``user_id`` (on every
    app process) to check now whether their session or key still holds (``chat/revocation.py``).
    A session with no listener (the console's) leaves it to their periodic check."""
    listener = session.info.get(CREDENTIALS_ENDED)
    if listener is not None:
        after_commit(session, on_commit=lambda: listener(user_id), on_rollback=lambda: None)


async def session_is_open(session: AsyncSession, session_id: uuid.UUID) -> bool:
    """Whether the session ``session_id`` is neither revoked nor expired."""
    row = (
        await session.execute(
            select(AuthSession.revoked_at, AuthSession.expires_at).where(
                AuthSession.id == session_id
            )
        )
    ).first()
    return row is not None and row.revoked_at is None and row.expires_at > utcnow()


async def revoke_all_sessions(
    session: AsyncSession,
    user_id: uuid.UUID,
    reason: str,
    *,
    keep: uuid.UUID | None = None,
    announce: bool = True,
) -> None:
    """Close every open session of a user (optionally all but ``keep``); their open answer
    streams end (``announce``: at once, else at their next periodic check)."""
    rows = await session.execute(
        select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    )
    now = utcnow()
    for auth_session in rows.scalars():
        if keep is not None and auth_session.id == keep:
            continue
        auth_session.revoked_at = now
        auth_session.revoked_reason = reason
    if announce:
        announce_credentials_ended(session, user_id)


async def end_pending_logins(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Drop every login challenge of a user: a login still waiting for its second step (a 2FA
    code, or the setup an admin requires) can no longer be finished."""
    await session.execute(delete(LoginChallenge).where(LoginChallenge.user_id == user_id))


# --- registration and profile -------------------------------------------------------------


def registration_email(raw: str, allowed_domains: list[str] | None) -> str:
    """The normalised address if it is a plain address of an allowed domain (of any domain
    when ``allowed_domains`` is ``None``: an account an administrator creates on purpose).

    Only ASCII is accepted (no look-alike letters, no IDN), no quoted local part, no IP literal;
    the domain must equal an allowed one exactly (no sub-domain, no suffix trick)."""
    raw = raw.strip()
    if not raw.isascii():
        raise Unprocessable(
            "El correo solo puede tener letras sin tilde, números y los signos . _ - +.",
            code="invalid_email",
        )
    try:
        parsed = email_validator.validate_email(
            raw,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except email_validator.EmailNotValidError:
        raise Unprocessable("El correo no es una dirección válida.", code="invalid_email") from None
    domain = parsed.ascii_domain.lower()
    if allowed_domains is not None and domain not in allowed_domains:
        listed = ", ".join(f"@{d}" for d in allowed_domains)
        raise Forbidden(
            f"Solo se pueden registrar correos de estos dominios: {listed}.",
            code="domain_not_allowed",
        )
    return f"{parsed.local_part.lower()}@{domain}"


async def check_registration(
    settings: Settings, limiter: RateLimiter, request: Request, *, email: str, password: str
) -> str:
    """The checks of a self-service registration (throttled per IP, an allowed domain, the
    password policy); the normalised address. The account itself: ``verification.register``."""
    await throttle.before_registration(
        limiter, settings, ip=client_ip(request, settings.trusted_proxies)
    )
    address = registration_email(email, settings.registration_domains)
    check_new_password(password, email=address)
    return address


async def update_profile(
    session: AsyncSession, request: Request, user: User, *, full_name: str
) -> User:
    user.full_name = full_name
    audit.record_account_event(session, "profile_updated", user.id, request)
    return user


async def confirm_password(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    request: Request,
    user: User,
    password: str,
) -> None:
    """Re-check the password of a signed-in user (2FA changes, password change), throttled
    like a login; 403 ``invalid_password`` when wrong."""
    ip = client_ip(request, settings.trusted_proxies)
    guard = throttle.Throttle(limiter, settings, throttle.LOGIN)
    await guard.before_attempt(account=user.email, ip=ip)
    valid, new_hash = await verify_password(password, user.password_hash)
    if not valid:
        await guard.failed(ip=ip)
        audit.record_account_event(session, "password_check_failed", user.id, request)
        raise kept(Forbidden("La contraseña actual no es correcta.", code="invalid_password"))
    await guard.succeeded(account=user.email)
    if new_hash is not None:
        user.password_hash = new_hash


async def change_password(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    request: Request,
    user: User,
    *,
    current_session_id: uuid.UUID,
    current_password: str,
    new_password: str,
) -> None:
    """New password for an allowed-domain account; every other session is closed, and so is
    every login still waiting for its second step (2FA stays)."""
    if email_domain(user.email) not in settings.password_change_domains:
        raise Forbidden(
            "Su cuenta no permite cambiar la contraseña aquí. Contacte a un administrador.",
            code="password_change_not_allowed",
        )
    await confirm_password(session, settings, limiter, request, user, current_password)
    check_new_password(new_password, email=user.email)
    if new_password == current_password:
        raise Unprocessable(
            "La nueva contraseña debe ser distinta de la actual.", code="password_unchanged"
        )
    user.password_hash = await hash_password(new_password)
    await revoke_all_sessions(session, user.id, "password_changed", keep=current_session_id)
    # A login challenge stands for the password it was given for: whoever held the old one must
    # not finish a login begun with it (a 2FA code, or enrolling their own authenticator).
    await end_pending_logins(session, user.id)
    audit.record_account_event(session, "password_changed", user.id, request)


async def hold_person(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Lock the person's row until the transaction ends: their writes that count or look for
    their own rows before inserting one (a cap, a name unique ignoring case) take turns (on
    SQLite the engine makes it the database's write lock, ``db.for_update``)."""
    await session.execute(for_update(select(User.id).where(User.id == user_id)))
