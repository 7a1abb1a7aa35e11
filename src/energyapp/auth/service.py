"""Account services: plain typed functions that take the session explicitly."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth.models import ROLES, AuthSession, User
from energyapp.auth.security import hash_password
from energyapp.db import utcnow
from energyapp.errors import Conflict, NotFound, Unprocessable


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == normalize_email(email)))
    return result.scalar_one_or_none()


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def create_user(
    session: AsyncSession, *, email: str, password: str, full_name: str, role: str = "trabajador"
) -> User:
    """Create an account (the caller validated the password policy). 409 if the email exists."""
    if role not in ROLES:
        raise Unprocessable(f"Rol desconocido: {role}.", code="invalid_role")
    if await get_user_by_email(session, email) is not None:
        raise Conflict("Ya existe una cuenta con ese correo.", code="email_taken")
    user = User(
        email=normalize_email(email),
        full_name=full_name.strip(),
        password_hash=await hash_password(password),
        role=role,
    )
    session.add(user)
    await session.flush()
    return user


async def revoke_all_sessions(
    session: AsyncSession, user_id: uuid.UUID, reason: str, *, keep: uuid.UUID | None = None
) -> None:
    """Close every open session of a user (optionally all but ``keep``)."""
    rows = await session.execute(
        select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    )
    now = utcnow()
    for auth_session in rows.scalars():
        if keep is not None and auth_session.id == keep:
            continue
        auth_session.revoked_at = now
        auth_session.revoked_reason = reason


async def set_role(session: AsyncSession, email: str, role: str) -> User:
    if role not in ROLES:
        raise Unprocessable(f"Rol desconocido: {role}.", code="invalid_role")
    user = await get_user_by_email(session, email)
    if user is None:
        raise NotFound("No existe una cuenta con ese correo.")
    user.role = role
    return user


async def set_active(session: AsyncSession, email: str, active: bool) -> User:
    user = await get_user_by_email(session, email)
    if user is None:
        raise NotFound("No existe una cuenta con ese correo.")
    user.is_active = active
    if not active:
        await revoke_all_sessions(session, user.id, "deactivated")
    return user
