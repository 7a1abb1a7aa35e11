"""What a QA pass over the admin panel found: each test shows one defect that was fixed."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.apikeys.models import ApiKey
from energyapp.audit.labels import EventFacts, Names, describe
from energyapp.db import utcnow
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


@pytest.mark.no_database
@pytest.mark.parametrize(
    ("facts", "sentence"),
    [
        (EventFacts("audit.exported", None, None, {"rows": 1}), "Exportó la auditoría (1 evento)"),
        (
            EventFacts("retention.run", None, None, {"conversations": 1, "messages": 1}),
            "La política de retención eliminó 1 conversación (1 mensaje)",
        ),
        (
            EventFacts("retention.run", None, None, {"conversations": 2, "messages": 0}),
            "La política de retención eliminó 2 conversaciones (0 mensajes)",
        ),
    ],
)
def test_counts_in_the_trail_agree_with_their_number(facts: EventFacts, sentence: str) -> None:
    assert describe(facts, Names()) == sentence


async def test_every_api_key_in_scope_can_be_reached_from_the_panel(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # The list stopped at the newest 500 keys: an older one could not be seen nor revoked.
    admin = await auth_headers(await make_user("admin"))
    supervisor = await auth_headers(await make_user("supervisor"))
    oldest = await make_user("trabajador", full_name="Zoila Antigüedad")
    busy = await make_user("trabajador", full_name="Bruno Scripts")
    chief = await make_user("admin", full_name="Zoila Jefa")
    now = utcnow()
    async with sessionmaker() as session:
        for owner, count, start in ((oldest, 1, 900), (chief, 1, 800), (busy, 510, 0)):
            session.add_all(
                ApiKey(
                    user_id=owner.id,
                    name=f"clave {i}",
                    prefix="ea_test",
                    digest=secrets.token_hex(32),
                    created_at=now - timedelta(minutes=start + i),
                    expires_at=now + timedelta(days=30),
                )
                for i in range(count)
            )
        await session.commit()

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await client.get(
            "/admin/api-keys", params={"limit": 200, "cursor": cursor}, headers=admin
        )
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len({k["id"] for k in seen}) == 512
    assert seen[-1]["owner_full_name"] == "Zoila Antigüedad"
    found = await client.get("/admin/api-keys", params={"q": "ANTIGUEDAD"}, headers=admin)
    assert [k["owner_email"] for k in found.json()["items"]] == [oldest.email]
    # Search and scope together: the supervisor does not find the admin named Zoila.
    found = await client.get("/admin/api-keys", params={"q": "zoila"}, headers=supervisor)
    assert [k["owner_email"] for k in found.json()["items"]] == [oldest.email]
    too_many = await client.get("/admin/api-keys", params={"limit": 201}, headers=admin)
    assert too_many.status_code == 422


async def test_one_user_in_scope_for_the_page_heading(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    # The user page named its person only from their first conversation: someone without any
    # read "Conversaciones del usuario".
    admin = await make_user("admin")
    supervisor = await make_user("supervisor")
    worker = await make_user("trabajador", full_name="Nora Sinconversaciones")
    for viewer, target, status in (
        (admin, worker, 200),
        (admin, supervisor, 200),
        (supervisor, worker, 200),
        (supervisor, supervisor, 200),
        (supervisor, admin, 404),
    ):
        response = await client.get(f"/admin/users/{target.id}", headers=await auth_headers(viewer))
        assert response.status_code == status, response.text
        if status == 200:
            assert response.json()["full_name"] == target.full_name
        else:
            assert response.json()["code"] == "user_not_found"
    missing = await client.get(f"/admin/users/{uuid.uuid4()}", headers=await auth_headers(admin))
    assert missing.status_code == 404 and missing.json()["code"] == "user_not_found"
    refused = await client.get(f"/admin/users/{admin.id}", headers=await auth_headers(worker))
    assert refused.status_code == 403


async def test_a_missing_user_reads_the_same_on_every_admin_route(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    headers = await auth_headers(await make_user("admin"))
    missing = uuid.uuid4()
    answers = [
        await client.patch(f"/admin/users/{missing}", json={}, headers=headers),
        await client.get(f"/admin/users/{missing}", headers=headers),
        await client.put(
            f"/admin/users/{missing}/api-access", json={"enabled": True}, headers=headers
        ),
        await client.post(f"/admin/users/{missing}/reset-2fa", headers=headers),
    ]
    assert {(r.status_code, r.json()["code"], r.json()["detail"]) for r in answers} == {
        (404, "user_not_found", "No se encontró el usuario.")
    }
