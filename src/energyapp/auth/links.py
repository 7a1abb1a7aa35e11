"""One-time links, whatever they are for (a new password: auth/recovery.py; a verified address:
auth/verification.py): 256 random bits shown once, only their SHA-256 stored; a new one replaces
the account's earlier ones; spent by a conditional UPDATE, so two simultaneous uses cannot both
succeed. Each kind has a table of its own, so a link is never taken for another kind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth.models import EmailVerification, PasswordReset, User
from energyapp.auth.security import new_opaque_token, sha256_hex
from energyapp.db import affected_rows, utcnow
from energyapp.errors import AppError

Link = TypeVar("Link", PasswordReset, EmailVerification)


async def replace(
    session: AsyncSession, model: type[Link], user: User, hours: int, **fields: Any
) -> tuple[str, Link]:
    """A new link of ``model`` for ``user`` (lasting ``hours``), its earlier ones deleted; the
    token (to show or send once) and the row."""
    await session.execute(delete(model).where(model.user_id == user.id))
    now = utcnow()
    token = new_opaque_token()  # 32 bytes from ``secrets``
    link = model(
        user_id=user.id,
        token_hash=sha256_hex(token),
        created_at=now,
        expires_at=now + timedelta(hours=hours),
        **fields,
    )
    session.add(link)
    await session.flush()
    return token, link


async def usable(
    session: AsyncSession, model: type[Link], token: str, invalid: Callable[[], AppError]
) -> tuple[Link, User]:
    """The unspent, unexpired link of an active account behind ``token``; ``invalid()``
    raised otherwise."""
    row = (
        await session.execute(
            select(model, User)
            .join(User, User.id == model.user_id)
            .where(model.token_hash == sha256_hex(token))
        )
    ).first()
    if row is None:
        raise invalid()
    link, user = row
    if link.used_at is not None or link.expires_at <= utcnow() or not user.is_active:
        raise invalid()
    return link, user


async def spend(
    session: AsyncSession, model: type[Link], link: Link, invalid: Callable[[], AppError]
) -> None:
    """Mark ``link`` used, or raise ``invalid()`` when a simultaneous use spent it first."""
    spent = await affected_rows(
        session,
        update(model)
        .where(model.id == link.id, model.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False),
    )
    if spent != 1:
        raise invalid()
