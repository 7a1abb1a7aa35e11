"""Personal API keys: creating, listing, revoking, and the one check every ``/v1`` call makes.

A key is ``ea_`` plus 32 random bytes (URL-safe base64). Only its SHA-256 digest and its first
characters are stored: a key is shown once, at creation, and cannot be recovered afterwards.
Every function takes the session explicitly and never commits.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.admin import service as admin_service
from energyapp.apikeys.models import API_KEYS, ApiKey, ApiKeyAddress
from energyapp.audit import service as audit
from energyapp.auth import service as auth_service
from energyapp.auth import two_factor_policy
from energyapp.auth.models import USERS, User
from energyapp.config import Settings
from energyapp.core import search
from energyapp.core.client_ip import client_ip
from energyapp.core.pagination import Item, PageRequest, fetch_page
from energyapp.db import for_update, utcnow
from energyapp.errors import Conflict, Forbidden, NotFound, Unauthorized
from energyapp.usage.models import UsageEvent

KEY_MARK = "ea_"
PREFIX_LENGTH = 8  # "ea_" and five characters of the secret: enough to tell keys apart
DEFAULT_DAYS = 90
MAX_DAYS = 365
# GET /api-keys shows every key in force and this many of the revoked or expired ones.
ENDED_KEYS_SHOWN = 50


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str  # the key itself, shown once


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return KEY_MARK + secrets.token_urlsafe(32)


def may_use_keys(settings: Settings, user: User) -> bool:
    """The user's current role and an administrator's switch both allow API keys."""
    return user.is_active and user.api_keys_enabled and user.role in settings.api_keys_roles


async def active_key_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Keys of the user neither revoked nor expired."""
    count = await session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None), ApiKey.expires_at > utcnow())
    )
    return int(count or 0)


async def create_key(
    session: AsyncSession,
    settings: Settings,
    user: User,
    request: Request,
    name: str,
    expires_in_days: int | None,
) -> CreatedKey:
    """A new key for ``user`` (403 when their role or an administrator does not allow it,
    409 when they already hold ``api_max_keys_per_user``); audited without the secret."""
    if not may_use_keys(settings, user):
        raise Forbidden(
            "Su cuenta no tiene habilitadas las claves de API. Pida acceso a un administrador.",
            code="api_keys_not_allowed",
        )
    await auth_service.hold_person(session, user.id)
    if await active_key_count(session, user.id) >= settings.api_max_keys_per_user:
        raise Conflict(
            f"Ya tiene {settings.api_max_keys_per_user} claves activas. Revoque una que no use "
            "antes de crear otra.",
            code="api_keys_limit",
        )
    secret = new_secret()
    now = utcnow()
    key = ApiKey(
        user_id=user.id,
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        digest=digest_of(secret),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days or DEFAULT_DAYS),
    )
    session.add(key)
    await session.flush()
    audit.record(
        session,
        "api_key_created",
        actor_id=user.id,
        request=request,
        target_type="api_key",
        target_id=key.id,
        details={"name": name, "prefix": key.prefix, "expires_at": key.expires_at.isoformat()},
    )
    return CreatedKey(key=key, secret=secret)


async def list_own_keys(session: AsyncSession, user: User) -> list[ApiKey]:
    """The caller's keys in force (at most ``api_max_keys_per_user``) and the newest
    :data:`ENDED_KEYS_SHOWN` revoked or expired ones, newest first.

    Ended keys pile up for as long as someone creates and revokes keys; listing every one made
    the answer, and the usage look-up's ``IN`` list, grow without bound (past 32 767 ids
    PostgreSQL refuses the query)."""
    in_force = (ApiKey.revoked_at.is_(None)) & (ApiKey.expires_at > utcnow())
    own = select(ApiKey).where(ApiKey.user_id == user.id)
    newest = (ApiKey.created_at.desc(), ApiKey.id.desc())
    active = await session.scalars(own.where(in_force))
    ended = await session.scalars(own.where(~in_force).order_by(*newest).limit(ENDED_KEYS_SHOWN))
    return sorted([*active, *ended], key=lambda key: (key.created_at, key.id), reverse=True)


ADMIN_KEY_CURSOR = "admin.api_keys"
_ADMIN_KEY_COLUMNS = (
    *(API_KEYS.c[name] for name in ("id", "user_id", "name", "prefix", "created_at")),
    *(API_KEYS.c[name] for name in ("expires_at", "last_used_at", "revoked_at")),
    USERS.c.email.label("owner_email"),
    USERS.c.full_name.label("owner_full_name"),
)


async def list_keys_in_scope(
    session: AsyncSession, viewer: User, page: PageRequest, *, query: str | None
) -> tuple[list[Item], str | None]:
    """One page of the keys of the users ``viewer`` may administer, with their owner, newest
    first; ``query`` narrows to an owner's name or e-mail or a key's name."""
    stmt = (
        select(*_ADMIN_KEY_COLUMNS)
        .select_from(API_KEYS.join(USERS, USERS.c.id == API_KEYS.c.user_id))
        .where(admin_service.user_scope(viewer))
    )
    if query:
        columns = (USERS.c.email, USERS.c.full_name, API_KEYS.c.name)
        stmt = stmt.where(search.any_contains(columns, query))
    return await fetch_page(
        session,
        stmt,
        (API_KEYS.c.created_at, API_KEYS.c.id),
        page,
        ADMIN_KEY_CURSOR,
        descending=True,
        viewer_id=viewer.id,
        context={"q": query},
    )


async def revoke_key(
    session: AsyncSession, actor: User, key_id: uuid.UUID, request: Request, *, as_admin: bool
) -> ApiKey:
    """Revoke a key of the caller's, or (``as_admin``) of a user in the caller's scope; a key
    out of reach is reported missing (404). Revoking twice keeps the first date."""
    stmt = select(ApiKey).where(ApiKey.id == key_id)
    if as_admin:
        stmt = stmt.join(USERS, USERS.c.id == ApiKey.user_id).where(admin_service.user_scope(actor))
    else:
        stmt = stmt.where(ApiKey.user_id == actor.id)
    key = await session.scalar(for_update(stmt))
    if key is None:
        raise NotFound("No se encontró la clave de API.", code="api_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        auth_service.announce_credentials_ended(session, key.user_id)
        audit.record(
            session,
            "api_key_revoked",
            actor_id=actor.id,
            request=request,
            target_type="api_key",
            target_id=key.id,
            details={"owner_id": str(key.user_id), "name": key.name, "prefix": key.prefix},
        )
    return key


async def set_api_access(
    session: AsyncSession, actor: User, user_id: uuid.UUID, enabled: bool, request: Request
) -> User:
    """An administrator turns a user's API keys on or off (off: their keys stop working)."""
    target = await admin_service.get_user_in_scope(session, actor, user_id, lock=True)
    if target.api_keys_enabled != enabled:
        target.api_keys_enabled = enabled
        if not enabled:  # their open /v1 streams end (chat/revocation.py)
            auth_service.announce_credentials_ended(session, target.id)
        audit.record(
            session,
            "api_keys_enabled" if enabled else "api_keys_disabled",
            actor_id=actor.id,
            request=request,
            target_type="user",
            target_id=target.id,
        )
    return target


USAGE_WINDOW = timedelta(days=30)


async def usage_by_key(
    session: AsyncSession, key_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    """(answers, tokens) of each key over the last 30 days, from the usage ledger: the API's
    usage, apart from the web UI's."""
    if not key_ids:
        return {}
    rows = await session.execute(
        select(
            UsageEvent.key_id,
            func.count(UsageEvent.id),
            func.coalesce(func.sum(UsageEvent.prompt_tokens + UsageEvent.completion_tokens), 0),
        )
        .where(UsageEvent.key_id.in_(key_ids), UsageEvent.created_at >= utcnow() - USAGE_WINDOW)
        .group_by(UsageEvent.key_id)
    )
    return {key_id: (int(count), int(tokens)) for key_id, count, tokens in rows if key_id}


def invalid_key() -> Unauthorized:
    return Unauthorized(
        "La clave de API no es válida, fue revocada o expiró. Cree una nueva en Configuración.",
        code="invalid_api_key",
    )


async def key_is_valid(session: AsyncSession, settings: Settings, key_id: uuid.UUID) -> bool:
    """Whether the key ``key_id`` would still be accepted: neither revoked nor expired, and its
    owner may still use keys (active, keys not turned off, a role that allows them)."""
    row = (
        await session.execute(
            select(ApiKey.revoked_at, ApiKey.expires_at, User)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.id == key_id)
        )
    ).first()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return False
    return may_use_keys(settings, row.User)


async def authenticate_key(
    session: AsyncSession, settings: Settings, secret: str, request: Request
) -> tuple[User, ApiKey]:
    """The owner behind a valid key, with their current role and state, and the key; 401 for
    an unknown, revoked or expired key and for an owner who may no longer use keys. Marks the
    key used; its first use from a new address is audited."""
    if not secret.startswith(KEY_MARK) or len(secret) > 100:
        raise invalid_key()
    row = (
        await session.execute(
            select(ApiKey, User)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.digest == digest_of(secret))
        )
    ).first()
    if row is None:
        raise invalid_key()
    key, user = row
    now = utcnow()
    if key.revoked_at is not None or key.expires_at <= now:
        raise invalid_key()
    if not may_use_keys(settings, user):
        raise Unauthorized(
            "La cuenta dueña de esta clave está desactivada o ya no tiene acceso a la API.",
            code="api_access_disabled",
        )
    if await two_factor_policy.needs_setup(session, user):
        raise Unauthorized(
            "La cuenta dueña de esta clave debe activar la verificación en dos pasos: inicie "
            "sesión en la web para configurarla y la clave volverá a funcionar.",
            code="2fa_setup_required",
        )
    await _mark_used(session, key, request, now)
    return user, key


async def _mark_used(session: AsyncSession, key: ApiKey, request: Request, now: datetime) -> None:
    ip = client_ip(request, request.app.state.settings.trusted_proxies)
    values: dict[str, object] = {"last_used_at": now, "last_ip": ip}
    await session.execute(update(API_KEYS).where(API_KEYS.c.id == key.id).values(**values))
    if ip == key.last_ip:
        return
    seen = await session.get(ApiKeyAddress, (key.id, ip))
    if seen is not None:
        return
    try:
        async with session.begin_nested():  # two first uses at once: one of them records it
            session.add(ApiKeyAddress(key_id=key.id, ip=ip, first_seen_at=now))
    except IntegrityError:
        return
    audit.record(
        session,
        "api_key_new_ip",
        actor_id=key.user_id,
        request=request,
        target_type="api_key",
        target_id=key.id,
        details={"name": key.name, "prefix": key.prefix},
    )
