"""HTTP routes of the personal API keys: a user's own, and the admin panel's view of them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from energyapp.apikeys import service
from energyapp.apikeys.models import ApiKey
from energyapp.apikeys.schemas import (
    AdminApiKeyOut,
    ApiAccessOut,
    ApiAccessUpdate,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
)
from energyapp.auth.deps import AdminOrSupervisor, AdminUser, CurrentUser
from energyapp.core import search
from energyapp.core.deps import RateLimiterDep, SettingsDep
from energyapp.core.pagination import Item, Page, PageDep
from energyapp.db import SessionDep

router = APIRouter(tags=["api-keys"])


def _key_out(key: ApiKey, usage: dict[uuid.UUID, tuple[int, int]]) -> ApiKeyOut:
    requests, tokens = usage.get(key.id, (0, 0))
    out = ApiKeyOut.model_validate(key)
    out.requests_30d, out.tokens_30d = requests, tokens
    return out


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201)
async def create_key(
    body: ApiKeyCreate,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> ApiKeyCreated:
    """Create a key for the ``/v1`` API. The key is in this answer only: it cannot be shown
    again."""
    created = await service.create_key(
        session, settings, user, request, body.name, body.expires_in_days
    )
    key = created.key
    return ApiKeyCreated(
        id=key.id, name=key.name, prefix=key.prefix, key=created.secret, expires_at=key.expires_at
    )


@router.get("/api-keys", response_model=ApiKeyList)
async def list_keys(user: CurrentUser, session: SessionDep) -> ApiKeyList:
    """The caller's keys (never the secret) and how many are active."""
    keys = await service.list_own_keys(session, user)
    active = await service.active_key_count(session, user.id)
    usage = await service.usage_by_key(session, [k.id for k in keys])
    return ApiKeyList(items=[_key_out(k, usage) for k in keys], active=active)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut)
async def revoke_key(
    key_id: uuid.UUID, user: CurrentUser, session: SessionDep, request: Request
) -> ApiKeyOut:
    """Revoke one of the caller's keys; it stops working at once."""
    key = await service.revoke_key(session, user, key_id, request, as_admin=False)
    return ApiKeyOut.model_validate(key)


@router.get("/admin/api-keys", response_model=Page[AdminApiKeyOut], tags=["admin"])
async def admin_list_keys(
    viewer: AdminOrSupervisor,
    session: SessionDep,
    page: PageDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Nombre o correo del dueño, o nombre.")
    ] = None,
) -> dict[str, list[Item] | str | None]:
    """Keys of the users in the caller's scope (admins: everyone's), newest first; a search
    (``q``) counts against ``search_rate_limit_per_minute``."""
    query = (q or "").strip() or None
    await search.check_rate(limiter, settings, viewer.id, query)
    items, next_cursor = await service.list_keys_in_scope(session, viewer, page, query=query)
    usage = await service.usage_by_key(session, [item["id"] for item in items])
    for item in items:
        item["requests_30d"], item["tokens_30d"] = usage.get(item["id"], (0, 0))
    return {"items": items, "next_cursor": next_cursor}


@router.delete("/admin/api-keys/{key_id}", response_model=ApiKeyOut, tags=["admin"])
async def admin_revoke_key(
    key_id: uuid.UUID, viewer: AdminOrSupervisor, session: SessionDep, request: Request
) -> ApiKeyOut:
    """Revoke a key of a user in the caller's scope (404 outside it)."""
    key = await service.revoke_key(session, viewer, key_id, request, as_admin=True)
    return ApiKeyOut.model_validate(key)


@router.put("/admin/users/{user_id}/api-access", response_model=ApiAccessOut, tags=["admin"])
async def set_api_access(
    user_id: uuid.UUID,
    body: ApiAccessUpdate,
    actor: AdminUser,
    session: SessionDep,
    request: Request,
) -> ApiAccessOut:
    """Turn a user's API keys on or off (admins only)."""
    target = await service.set_api_access(session, actor, user_id, body.enabled, request)
    return ApiAccessOut(user_id=target.id, api_keys_enabled=target.api_keys_enabled)
