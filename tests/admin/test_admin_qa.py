"""What a QA pass over the admin panel found: each test shows one defect that was fixed."""

from __future__ import annotations

import httpx

from tests.conftest import HeadersFactory, UserFactory


async def test_users_list_tells_whose_api_keys_an_admin_turned_off(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    # The panel's switch needs the current state: the list says it, for admins and supervisors.
    admin = await make_user("admin")
    supervisor = await make_user("supervisor")
    worker = await make_user("trabajador")
    admin_h = await auth_headers(admin)
    switched = await client.put(
        f"/admin/users/{worker.id}/api-access", json={"enabled": False}, headers=admin_h
    )
    assert switched.status_code == 200, switched.text
    for headers in (admin_h, await auth_headers(supervisor)):
        listed = await client.get("/admin/users", params={"q": worker.email}, headers=headers)
        assert [u["api_keys_enabled"] for u in listed.json()["items"]] == [False]
    patched = await client.patch(f"/admin/users/{worker.id}", json={}, headers=admin_h)
    assert patched.json()["api_keys_enabled"] is False
