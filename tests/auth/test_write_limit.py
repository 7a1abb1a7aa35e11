"""Changes outside the chat (conversations, keys, the profile, admin actions) count against one
per-user limit; reads do not, and one person's changes do not limit another's."""

from __future__ import annotations

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from energyapp.auth.deps import get_current_user, limit_changes
from energyapp.config import Settings
from energyapp.main import create_app
from tests.conftest import HeadersFactory, UserFactory, make_settings
from tests.hardening.conftest import depends_on

# A signed-in person's changes not counted by the change limit, each for a reason.
LIMITED_OTHERWISE = {
    "POST /chat": "chat_rate_limit_per_minute",
    "POST /chat/{assistant_message_id}/stop": "stops only the caller's own running answer",
    "POST /auth/setup-2fa": "the password check's throttle",
    "POST /auth/setup-2fa/confirm": "the 2FA code throttle",
    "POST /auth/disable-2fa": "the password and 2FA code throttles",
    "POST /auth/change-password": "the password check's throttle",
    "POST /auth/logout-all": "ends the caller's sessions, this one included",
}


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


@pytest.mark.no_database
def test_every_change_by_a_signed_in_person_is_limited() -> None:
    # POST /admin/users/{id}/reset-2fa, an admin action declared in the auth router, escaped the
    # limit every other admin action has; a new route must not.
    app = create_app(make_settings("sqlite:///:memory:"))  # routes only: nothing is started
    unlimited = {
        f"{method} {context.path}"
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.methods or ()
        if method not in ("GET", "HEAD", "OPTIONS")
        and depends_on(context.dependant, (get_current_user,))
        and not depends_on(context.dependant, (limit_changes,))
    }
    assert unlimited == set(LIMITED_OTHERWISE)
