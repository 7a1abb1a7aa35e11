"""2FA an admin can require: per user (PATCH /admin/users/{id}) and per role (PUT
/admin/two-factor/roles/{role}); the login of a required-but-not-enrolled user answers with a
setup challenge, the setup through it gives recovery codes and tokens, a refresh of such a user
is refused with 403 ``2fa_setup_required``; removing the requirement and resetting are audited;
supervisors and workers cannot touch any of it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from energyapp.auth.models import User
from tests.auth.conftest import PASSWORD, AuditFn, LoginFn, bearer, code_now
from tests.conftest import HeadersFactory, UserFactory


@pytest.fixture
async def admin_headers(make_user: UserFactory, auth_headers: HeadersFactory) -> dict[str, str]:
    return await auth_headers(await make_user(role="admin"))


async def _require(
    client: httpx.AsyncClient, headers: dict[str, str], user: User, value: bool = True
) -> dict[str, Any]:
    response = await client.patch(
        f"/admin/users/{user.id}", json={"require_2fa": value}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _setup_challenge(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "requires_2fa_setup": True,
        "setup_token": body["setup_token"],
        "expires_in": 300,
    }
    token: str = body["setup_token"]
    return token


async def _set_up(client: httpx.AsyncClient, token: str) -> tuple[str, dict[str, Any]]:
    start = await client.post("/auth/required-2fa/start", json={"setup_token": token})
    assert start.status_code == 200, start.text
    secret: str = start.json()["secret"]
    assert start.json()["qr_svg"].startswith("<svg")
    assert f"secret={secret}" in start.json()["otpauth_uri"]
    done = await client.post(
        "/auth/required-2fa/confirm", json={"setup_token": token, "code": code_now(secret)}
    )
    assert done.status_code == 200, done.text
    body: dict[str, Any] = done.json()
    return secret, body


async def test_required_user_of_any_domain_is_led_through_setup_at_login(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    admin_headers: dict[str, str],
    audit_events: AuditFn,
) -> None:
    # @alvaradomazzei.cl may not turn 2FA on from Config, but may be required to have it.
    user = await make_user(email="requerida@alvaradomazzei.cl")
    assert (await _require(client, admin_headers, user))["require_2fa"] is True
    assert [e.target_id for e in await audit_events("user.2fa_required")] == [str(user.id)]

    token = await _setup_challenge(client, user.email)
    # The setup challenge is no second-step challenge, and a wrong code is refused.
    wrong = await client.post("/auth/verify-2fa", json={"challenge_token": token, "code": "123456"})
    assert (wrong.status_code, wrong.json()["code"]) == (401, "challenge_invalid")
    not_started = await client.post(
        "/auth/required-2fa/confirm", json={"setup_token": token, "code": "123456"}
    )
    assert (not_started.status_code, not_started.json()["code"]) == (409, "2fa_setup_not_started")

    secret, done = await _set_up(client, token)
    assert len(done["recovery_codes"]) == 10
    assert done["user"]["email"] == user.email and done["user"]["totp_enabled"] is True
    me = await client.get("/auth/me", headers=bearer(done))
    assert me.status_code == 200
    # The challenge is spent: it cannot sign in a second time.
    again = await client.post(
        "/auth/required-2fa/confirm", json={"setup_token": token, "code": code_now(secret)}
    )
    assert (again.status_code, again.json()["code"]) == (401, "challenge_invalid")
    enabled = await audit_events("2fa_enabled")
    assert [e.details for e in enabled] == [{"required": True}]

    # From now on the login asks for a code, and the refresh works.
    second = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert second.json()["requires_2fa"] is True
    refreshed = await client.post("/auth/refresh", json={"refresh_token": done["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    # Required: it cannot be turned off by the user (it is not theirs to decide).
    headers = bearer(refreshed.json())
    off = await client.post(
        "/auth/disable-2fa", json={"password": PASSWORD, "code": "123456"}, headers=headers
    )
    assert off.status_code == 403  # not a self-service domain: refused before anything else


async def test_refresh_of_a_required_but_not_enrolled_user_is_refused(
    client: httpx.AsyncClient, make_user: UserFactory, admin_headers: dict[str, str], login: LoginFn
) -> None:
    user = await make_user()
    tokens = await login(user.email)  # signed in before the requirement
    await _require(client, admin_headers, user)
    # The access token keeps working until it expires...
    assert (await client.get("/auth/me", headers=bearer(tokens))).status_code == 200
    # ...but it is not renewed, and the refresh token is not spent by the refusal.
    for _ in range(2):
        refused = await client.post(
            "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refused.status_code == 403
        assert refused.json()["code"] == "2fa_setup_required"
        assert "verificación en dos pasos" in refused.json()["detail"]
    # Requirement removed: the same refresh token works again.
    await _require(client, admin_headers, user, False)
    ok = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert ok.status_code == 200, ok.text


async def test_role_policy_requires_2fa_for_everyone_in_the_role(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    admin_headers: dict[str, str],
    audit_events: AuditFn,
    login: LoginFn,
) -> None:
    worker = await make_user()
    supervisor = await make_user(role="supervisor")
    listed = await client.get("/admin/two-factor/roles", headers=admin_headers)
    assert listed.json() == [
        {"role": "admin", "require_2fa": False},
        {"role": "supervisor", "require_2fa": False},
        {"role": "trabajador", "require_2fa": False},
    ]
    put = await client.put(
        "/admin/two-factor/roles/trabajador", json={"require_2fa": True}, headers=admin_headers
    )
    assert put.json() == {"role": "trabajador", "require_2fa": True}
    listed = await client.get("/admin/two-factor/roles", headers=admin_headers)
    assert {p["role"]: p["require_2fa"] for p in listed.json()}["trabajador"] is True

    await _setup_challenge(client, worker.email)
    assert "access_token" in await login(supervisor.email)  # other roles are not affected

    # Off again: audited, and the worker signs in with the password alone.
    await client.put(
        "/admin/two-factor/roles/trabajador", json={"require_2fa": False}, headers=admin_headers
    )
    assert "access_token" in await login(worker.email)
    assert len(await audit_events("role.2fa_required")) == 1
    removed = await audit_events("role.2fa_requirement_removed")
    assert [(e.target_type, e.target_id) for e in removed] == [("role", "trabajador")]

    unknown = await client.put(
        "/admin/two-factor/roles/jefe", json={"require_2fa": True}, headers=admin_headers
    )
    assert unknown.status_code == 422


async def test_requirement_removal_and_reset_are_audited(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    admin_headers: dict[str, str],
    audit_events: AuditFn,
) -> None:
    user = await make_user()
    await _require(client, admin_headers, user)
    await _set_up(client, await _setup_challenge(client, user.email))
    # An admin resets the lost phone: audited, and the next login leads through setup again.
    reset = await client.post(f"/admin/users/{user.id}/reset-2fa", headers=admin_headers)
    assert reset.status_code == 204
    assert [e.target_id for e in await audit_events("2fa_reset")] == [str(user.id)]
    await _setup_challenge(client, user.email)
    await _require(client, admin_headers, user, False)
    removed = await audit_events("user.2fa_requirement_removed")
    assert [e.target_id for e in removed] == [str(user.id)]
    # Setting the same value again records nothing new.
    await _require(client, admin_headers, user, False)
    assert len(await audit_events("user.2fa_requirement_removed")) == 1


async def test_self_service_user_cannot_disable_a_required_2fa(
    client: httpx.AsyncClient, make_user: UserFactory, admin_headers: dict[str, str]
) -> None:
    user = await make_user(email="propia@inacapmail.cl")
    await _require(client, admin_headers, user)
    secret, done = await _set_up(client, await _setup_challenge(client, user.email))
    off = await client.post(
        "/auth/disable-2fa",
        json={"password": PASSWORD, "code": done["recovery_codes"][0]},
        headers=bearer(done),
    )
    assert (off.status_code, off.json()["code"]) == (409, "2fa_required")


@pytest.mark.parametrize("role", ["supervisor", "trabajador"])
async def test_only_admins_set_requirements(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory, role: str
) -> None:
    caller = await auth_headers(await make_user(role=role))
    worker = await make_user()
    for method, url, body in [
        ("PATCH", f"/admin/users/{worker.id}", {"require_2fa": True}),
        ("GET", "/admin/two-factor/roles", None),
        ("PUT", "/admin/two-factor/roles/trabajador", {"require_2fa": True}),
    ]:
        response = await client.request(method, url, json=body, headers=caller)
        assert response.status_code == 403, (method, url)
        assert response.json()["code"] == "forbidden"


async def test_setup_challenge_runs_out_of_tries(
    client: httpx.AsyncClient, make_user: UserFactory, admin_headers: dict[str, str]
) -> None:
    user = await make_user()
    await _require(client, admin_headers, user)
    token = await _setup_challenge(client, user.email)
    start = await client.post("/auth/required-2fa/start", json={"setup_token": token})
    assert start.status_code == 200
    for _ in range(4):
        bad = await client.post(
            "/auth/required-2fa/confirm", json={"setup_token": token, "code": "000000"}
        )
        assert bad.json()["code"] in {"invalid_code", "too_many_attempts"}
    secret = start.json()["secret"]
    last = await client.post(
        "/auth/required-2fa/confirm", json={"setup_token": token, "code": code_now(secret)}
    )
    assert (last.status_code, last.json()["code"]) == (401, "challenge_invalid")
