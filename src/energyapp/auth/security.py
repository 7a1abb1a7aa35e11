"""Password hashing and access tokens (JWT HS256). No database, no HTTP here."""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import bcrypt
import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from energyapp.config import Settings
from energyapp.errors import Unauthorized

ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a claim value, not a secret
JWT_ALGORITHM = "HS256"
BCRYPT_MAX_BYTES = 72
REQUIRED_CLAIMS = ["sub", "iat", "exp", "jti", "iss", "aud", "typ", "sid"]
JWT_LEEWAY_SECONDS = 5

# argon2id first (new hashes); bcrypt hashes from the old server still verify and get upgraded.
password_hash = PasswordHash((Argon2Hasher(), BcryptHasher()))


@functools.cache
def _dummy_hash() -> str:
    """Verified against for unknown emails, so both failures take the same time. Made on first
    use, not at import: an argon2 hash is ~0.2 s of CPU the start-up does not need to pay."""
    return password_hash.hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    """argon2id, off the event loop (it takes tens of milliseconds of CPU)."""
    return await anyio.to_thread.run_sync(password_hash.hash, password)


async def verify_password(password: str, hashed: str | None) -> tuple[bool, str | None]:
    """(valid, new_hash_if_the_stored_one_should_be_upgraded). ``hashed=None`` burns the same
    time as a real check and fails, so unknown accounts are not told apart by timing."""
    if hashed is None:
        await anyio.to_thread.run_sync(password_hash.verify, password, _dummy_hash())
        return False, None
    try:
        if BcryptHasher.identify(hashed) and len(password.encode()) > BCRYPT_MAX_BYTES:
            return await anyio.to_thread.run_sync(_verify_long_bcrypt, password, hashed)
        return await anyio.to_thread.run_sync(password_hash.verify_and_update, password, hashed)
    except Exception:  # an unknown or corrupt hash format never verifies
        return False, None


def _verify_long_bcrypt(password: str, hashed: str) -> tuple[bool, str | None]:
    """The old server's bcrypt silently used the first 72 bytes; bcrypt 5 refuses longer input.
    Check those bytes as it did, then upgrade to argon2id over the whole password."""
    if not bcrypt.checkpw(password.encode()[:BCRYPT_MAX_BYTES], hashed.encode()):
        return False, None
    return True, password_hash.hash(password)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    jti: str
    issued_at: datetime
    expires_at: datetime


def create_access_token(
    settings: Settings, user_id: uuid.UUID, session_id: uuid.UUID, *, now: datetime | None = None
) -> tuple[str, int]:
    """Return (token, expires_in_seconds)."""
    issued = now or datetime.now(UTC)
    lifetime = timedelta(minutes=settings.access_token_minutes)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "exp": int((issued + lifetime).timestamp()),
        "jti": secrets.token_hex(16),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "typ": ACCESS_TOKEN_TYPE,
    }
    token = jwt.encode(claims, settings.secret_key, algorithm=JWT_ALGORITHM)
    return token, int(lifetime.total_seconds())


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """Verify signature, algorithm, audience, issuer, type and times; raise 401 otherwise."""
    try:
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[JWT_ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": REQUIRED_CLAIMS},
            leeway=JWT_LEEWAY_SECONDS,
        )
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            raise jwt.InvalidTokenError("wrong token type")
        issued_at = datetime.fromtimestamp(int(claims["iat"]), UTC)
        if issued_at > datetime.now(UTC) + timedelta(seconds=30):
            raise jwt.ImmatureSignatureError("iat in the future")
        return AccessClaims(
            user_id=uuid.UUID(str(claims["sub"])),
            session_id=uuid.UUID(str(claims["sid"])),
            jti=str(claims["jti"]),
            issued_at=issued_at,
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized(
            "Su sesión expiró. Inicie sesión de nuevo.", code="token_expired"
        ) from None
    except (jwt.InvalidTokenError, ValueError, TypeError, KeyError, OverflowError, OSError):
        raise Unauthorized(
            "Credenciales inválidas. Inicie sesión de nuevo.", code="invalid_token"
        ) from None
