"""TOTP secrets at rest: sealed with the data keyring (``core/crypto.py``) and bound to their
user, so a database dump alone cannot produce codes and a value copied to another user's row
does not open; and their re-encryption under the current key (``energyapp keys rotate``)."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth.models import User
from energyapp.core.crypto import Keyring, UnreadableSecret, is_sealed, sealed_key_id

logger = logging.getLogger("energyapp.auth")


def _context(user_id: uuid.UUID) -> bytes:
    return f"users.totp_secret:{user_id}".encode()


def seal(keyring: Keyring, user_id: uuid.UUID, secret: str) -> str:
    """The value to store in ``users.totp_secret`` for ``secret``."""
    return keyring.seal(secret, context=_context(user_id))


def open_sealed(keyring: Keyring, user_id: uuid.UUID, stored: str) -> str:
    """The secret in ``stored``; UnreadableSecret when the keyring cannot authenticate it."""
    return keyring.open(stored, context=_context(user_id))


def secret_of(keyring: Keyring, user: User) -> str | None:
    """The user's TOTP secret, or None when there is none or it cannot be opened (logged: the
    user can still sign in with a recovery code, and an admin can reset their 2FA)."""
    if not user.totp_secret:
        return None
    try:
        return open_sealed(keyring, user.id, user.totp_secret)
    except UnreadableSecret as exc:
        logger.error(
            "stored TOTP secret cannot be opened: %s",
            exc,
            extra={"user_id": str(user.id), "key_id": sealed_key_id(user.totp_secret)},
        )
        return None


@dataclass
class Rotation:
    """What ``rotate`` did: counts of secrets, and the ids of the keys it lacked."""

    resealed: int = 0
    already_current: int = 0
    unreadable: Counter[str] = field(default_factory=Counter)


async def rotate(session: AsyncSession, keyring: Keyring) -> Rotation:
    """Re-seal under the current key every TOTP secret sealed under another key of the keyring
    (or left in clear). A row changed meanwhile (a new setup, a reset) is left as it is now."""
    done = Rotation()
    rows = await session.execute(
        select(User.id, User.totp_secret).where(User.totp_secret.is_not(None))
    )
    for user_id, stored in rows.tuples():
        assert stored is not None  # the query's condition
        kid = sealed_key_id(stored)
        if kid == keyring.current_id:
            done.already_current += 1
        elif await _reseal(session, keyring, user_id, stored):
            done.resealed += 1
        else:
            done.unreadable[kid or "?"] += 1
    return done


async def _reseal(session: AsyncSession, keyring: Keyring, user_id: uuid.UUID, stored: str) -> bool:
    try:
        secret = open_sealed(keyring, user_id, stored) if is_sealed(stored) else stored
    except UnreadableSecret:
        return False
    await session.execute(
        update(User)
        .where(User.id == user_id, User.totp_secret == stored)
        # A key change is not a change to the account: updated_at stays.
        .values(totp_secret=seal(keyring, user_id, secret), updated_at=User.updated_at)
        .execution_options(synchronize_session=False)
    )
    return True
