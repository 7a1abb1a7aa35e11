"""Personal API keys: creation, storage, listing, revocation, scope and the switches."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.apikeys.models import ApiKey
from energyapp.apikeys.service import ENDED_KEYS_SHOWN
from energyapp.audit.models import AuditEvent
from energyapp.config import Settings
from tests.conftest import HeadersFactory, UserFactory
from tests.openai_api.conftest import KeyFactory


async def test_a_key_is_shown_once_and_only_its_digest_is_stored(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_key: KeyFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    headers = await auth_headers(await make_user())
    created = await make_key(client, headers, name="Planilla de costos")
    secret = created["key"]
    assert secret.startswith("ea_") and len(secret) == 3 + 43  # 32 bytes, URL-safe base64
    assert created["prefix"] == secret[:8]
    expires = datetime.fromisoformat(created["expires_at"])
    assert timedelta(days=89) < expires - datetime.now(expires.tzinfo) <= timedelta(days=90)

    listed = (await client.get("/api-keys", headers=headers)).json()
    assert listed["active"] == 1
    assert [k["name"] for k in listed["items"]] == ["Planilla de costos"]
    assert secret not in str(listed) and "key" not in listed["items"][0]

    async with sessionmaker() as session:
        rows = (await session.execute(text("SELECT * FROM api_keys"))).all()
        events = (await session.execute(text("SELECT * FROM audit_events"))).all()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0])
    assert secret not in stored and secret[8:] not in stored
    assert hashlib.sha256(secret.encode()).hexdigest() in stored
    assert all(secret not in str(event) for event in events)


async def test_expiry_bounds_and_name_checks(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    headers = await auth_headers(await make_user())
    long_lived = await client.post(
        "/api-keys", json={"name": "Anual", "expires_in_days": 365}, headers=headers
    )
    assert long_lived.status_code == 201
    too_long = await client.post(
        "/api-keys", json={"name": "Eterna", "expires_in_days": 366}, headers=headers
    )
    assert too_long.status_code == 422 and too_long.json()["code"] == "validation_error"
    blank = await client.post("/api-keys", json={"name": "   "}, headers=headers)
    assert blank.status_code == 422


async def test_the_key_limit_holds_under_concurrent_creations(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    settings: Settings,
) -> None:
    """Every key has its own per-minute limit, so the number of keys bounds a person's API
    throughput: requests sent together at the limit all counted the same keys and all passed."""
    headers = await auth_headers(await make_user())
    limit = settings.api_max_keys_per_user
    for i in range(limit - 1):
        created = await client.post("/api-keys", json={"name": f"Clave {i}"}, headers=headers)
        assert created.status_code == 201
    together = await asyncio.gather(
        *(client.post("/api-keys", json={"name": f"Junta {i}"}, headers=headers) for i in range(6))
    )
    assert sorted(r.status_code for r in together) == [201] + [409] * 5
    assert {r.json()["code"] for r in together if r.status_code == 409} == {"api_keys_limit"}
    listed = await client.get("/api-keys", headers=headers)
    assert listed.json()["active"] == limit


async def test_revoking_and_audit(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_key: KeyFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    owner = await make_user()
    headers = await auth_headers(owner)
    other = await auth_headers(await make_user())
    created = await make_key(client, headers)
    stranger = await client.delete(f"/api-keys/{created['id']}", headers=other)
    assert stranger.status_code == 404 and stranger.json()["code"] == "api_key_not_found"
    revoked = await client.delete(f"/api-keys/{created['id']}", headers=headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await client.get("/api-keys", headers=headers)).json()["active"] == 0
    async with sessionmaker() as session:
        actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["api_key_created", "api_key_revoked"]


async def test_scope_in_the_admin_panel(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_key: KeyFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A supervisor sees and revokes the workers' keys, never an administrator's."""
    admin = await auth_headers(await make_user("admin"))
    supervisor = await auth_headers(await make_user("supervisor"))
    worker = await auth_headers(await make_user())
    admin_key = await make_key(client, admin, name="Del admin")
    worker_key = await make_key(client, worker, name="Del trabajador")

    seen = (await client.get("/admin/api-keys", headers=supervisor)).json()["items"]
    assert [k["name"] for k in seen] == ["Del trabajador"]
    refused = await client.delete(f"/admin/api-keys/{admin_key['id']}", headers=supervisor)
    assert refused.status_code == 404
    allowed = await client.delete(f"/admin/api-keys/{worker_key['id']}", headers=supervisor)
    assert allowed.status_code == 200
    async with sessionmaker() as session:
        admins = await session.get(ApiKey, uuid.UUID(admin_key["id"]))
        assert admins is not None and admins.revoked_at is None
    everyone = (await client.get("/admin/api-keys", headers=admin)).json()["items"]
    assert {k["name"] for k in everyone} == {"Del admin", "Del trabajador"}
    assert (await client.get("/admin/api-keys", headers=worker)).status_code == 403


async def test_roles_setting_and_the_admin_switch(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    admin = await auth_headers(await make_user("admin"))
    worker = await make_user()
    headers = await auth_headers(worker)
    switched = await client.put(
        f"/admin/users/{worker.id}/api-access", json={"enabled": False}, headers=admin
    )
    assert switched.status_code == 200 and switched.json()["api_keys_enabled"] is False
    refused = await client.post("/api-keys", json={"name": "X"}, headers=headers)
    assert refused.status_code == 403 and refused.json()["code"] == "api_keys_not_allowed"
    supervisor = await auth_headers(await make_user("supervisor"))
    only_admins = await client.put(
        f"/admin/users/{worker.id}/api-access", json={"enabled": True}, headers=supervisor
    )
    assert only_admins.status_code == 403


async def test_the_own_list_is_bounded_however_many_keys_ended(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_key: KeyFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # Creating and revoking keys (120 changes a minute) piles up ended keys forever: the list
    # returned every one of them and looked their use up in one IN list, which past 32 766 ids
    # no database takes (a 500 on SQLite, a 503 on PostgreSQL) and before that is a huge answer.
    user = await make_user()
    headers = await auth_headers(user)
    kept = await make_key(client, headers, name="La que uso")
    now = datetime.now().astimezone()
    ended = [
        {"id": uuid.uuid4(), "user_id": user.id, "name": f"vieja {n}", "prefix": "ea_xxxxx",
         "digest": f"{n:064x}", "created_at": now + timedelta(seconds=n + 1),
         "expires_at": now + timedelta(days=30), "revoked_at": now + timedelta(seconds=n + 1)}
        for n in range(33_000)
    ]  # fmt: skip
    async with sessionmaker.begin() as session:
        await session.execute(ApiKey.__table__.insert(), ended)
    listed = await client.get("/api-keys", headers=headers)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["active"] == 1
    # The key in force, older than every ended one, is kept; then the newest ended ones.
    names = [k["name"] for k in body["items"]]
    assert names == [f"vieja {n}" for n in range(32_999, 32_999 - ENDED_KEYS_SHOWN, -1)] + [
        "La que uso"
    ]
    assert body["items"][-1]["id"] == kept["id"]
