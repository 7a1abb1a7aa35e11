"""TOTP secrets at rest: sealed with the data keyring (``core/crypto.py``) and bound to their
user, so a database dump alone cannot produce codes and a value copied to another user's row
does not open."""

from __future__ import annotations

import logging
import uuid

from energyapp.auth.models import User
from energyapp.core.crypto import Keyring, UnreadableSecret, sealed_key_id

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
