"""Changes outside the chat (conversations, keys, the profile, admin actions) count against one
per-user limit; reads do not, and one person's changes do not limit another's."""

from __future__ import annotations

import httpx
import pytest

from energyapp.config import Settings
from tests.conftest import HeadersFactory, UserFactory, make_settings


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, write_rate_limit_per_minute=3)


async def test_changes_are_limited_per_person_and_reads_are_not(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    ana = await auth_headers(await make_user())
    created = await client.post("/conversations", json={"title": "Uno"}, headers=ana)
    assert created.status_code == 201
    conversation = created.json()["id"]
    renamed = await client.patch(
        f"/conversations/{conversation}", json={"title": "Dos"}, headers=ana
    )
    assert renamed.status_code == 200
    key = await client.post("/api-keys", json={"name": "Script"}, headers=ana)
    assert key.status_code == 201
    for change in (
        client.post("/conversations", json={"title": "Tres"}, headers=ana),
        client.patch("/auth/me", json={"full_name": "Ana Pérez"}, headers=ana),
        client.delete(f"/conversations/{conversation}", headers=ana),
    ):
        limited = await change
        assert limited.status_code == 429, limited.text
        assert limited.json()["code"] == "rate_limited"
        assert "cambios seguidos" in limited.json()["detail"]
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Nothing of the refused changes happened; reading goes on.
    listed = await client.get("/conversations", headers=ana)
    assert listed.status_code == 200
    assert [item["title"] for item in listed.json()["items"]] == ["Dos"]
    assert (await client.get("/auth/me", headers=ana)).json()["full_name"] != "Ana Pérez"
    # Another person is not limited by Ana's changes.
    bea = await auth_headers(await make_user())
    assert (await client.post("/conversations", json={}, headers=bea)).status_code == 201


async def test_admin_actions_count_too(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin = await auth_headers(await make_user(role="admin"))
    target = await make_user()
    statuses = [
        (
            await client.patch(f"/admin/users/{target.id}", json={"role": role}, headers=admin)
        ).status_code
        for role in ("supervisor", "trabajador", "supervisor", "trabajador")
    ]
    assert statuses == [200, 200, 200, 429]
