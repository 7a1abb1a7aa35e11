"""Account recovery without email: an admin's one-time password-reset link (auth/recovery.py).
Admins only; one use, also under concurrency; 24 hours; a newer link replaces the older; the
account's sessions end; the password policy holds; no link for a deactivated account; throttled
per IP; the token lands in no log line and no stored row."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import PasswordReset, User
from energyapp.auth.security import sha256_hex
from tests import log_scan
from tests.auth.conftest import (
    PASSWORD,
    AuditFn,
    ClientFactory,
    EnableTotpFn,
    LoginFn,
    bearer,
    finish_second_step,
    start_second_step,
)
from tests.conftest import HeadersFactory, UserFactory

NEW_PASSWORD = "Puerto-Montt-lluvia-42"
INVALID = "El enlace ya no es válido: pida uno nuevo a un administrador."


async def _issue(
    client: httpx.AsyncClient, headers: dict[str, str], user_id: uuid.UUID
) -> dict[str, Any]:
    response = await client.post(f"/admin/users/{user_id}/password-reset", headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _reset(client: httpx.AsyncClient, token: str, password: str) -> httpx.Response:
    return await client.post(
        "/auth/password-reset", json={"token": token, "new_password": password}
    )


LinkFn = Callable[[User], Awaitable[str]]


@pytest.fixture
def reset_link(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> LinkFn:
    """The token of a new link for ``user``, issued by a new admin."""

    async def _link(user: User) -> str:
        headers = await auth_headers(await make_user(role="admin"))
        return str((await _issue(client, headers, user.id))["token"])

    return _link


def _refused(response: httpx.Response) -> bool:
    return response.status_code == 400 and response.json() == {
        "detail": INVALID,
        "code": "reset_link_invalid",
    }


async def test_a_link_sets_a_new_password_and_ends_every_session(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    login: LoginFn,
    audit_events: AuditFn,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin = await make_user(role="admin")
    user = await make_user(email="olvido@alvaradomazzei.cl", full_name="Olga Vidal")
    phone, laptop = await login(user.email), await login(user.email)
    lines_before = len(log_scan.LINES)
    admin_headers = await auth_headers(admin)
    link = await _issue(client, admin_headers, user.id)
    token = link["token"]
    assert link["path"] == f"/#/restablecer/{token}"
    assert len(token) >= 43  # 32 random bytes
    expires = datetime.fromisoformat(link["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=1)

    checked = await client.post("/auth/password-reset/check", json={"token": token})
    assert checked.status_code == 200
    assert checked.json() == {"email": "olvido@alvaradomazzei.cl", "full_name": "Olga Vidal"}
    assert (await _reset(client, token, NEW_PASSWORD)).status_code == 204

    for device in (phone, laptop):
        me = await client.get("/auth/me", headers=bearer(device))
        assert me.status_code == 401 and me.json()["code"] == "session_revoked"
        again = await client.post("/auth/refresh", json={"refresh_token": device["refresh_token"]})
        assert again.status_code == 401 and again.json()["code"] == "session_revoked"
    old = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert old.status_code == 401
    assert "access_token" in await login(user.email, NEW_PASSWORD)

    (issued,) = await audit_events("password_reset_link_created")
    assert (issued.actor_id, issued.target_id) == (admin.id, str(user.id))
    (used,) = await audit_events("password_reset")
    assert (used.actor_id, used.target_id) == (user.id, str(user.id))
    assert used.details == issued.details == {"link_id": issued.details["link_id"]}
    trail = await client.get("/admin/audit", headers=admin_headers)
    labels = {e["action"]: (e["label"], e["action_name"]) for e in trail.json()["items"]}
    assert labels["password_reset_link_created"] == (
        "Creó un enlace para restablecer la contraseña de Olga Vidal",
        "Enlace para restablecer contraseña",
    )
    assert labels["password_reset"] == (
        "Restableció su contraseña con un enlace de un solo uso",
        "Contraseña restablecida con un enlace",
    )
    # Only the token's hash is stored, and no log line holds the token.
    async with sessionmaker() as session:
        row = await session.scalar(select(PasswordReset))
    assert row is not None and row.token_hash == sha256_hex(token)
    assert row.used_at is not None and row.created_by == admin.id
    assert token in log_scan.TOKENS
    assert log_scan.leaks(log_scan.LINES[lines_before:], (), (), {token}) == []
    assert any("/auth/password-reset" in line for line in log_scan.LINES[lines_before:])


async def test_only_an_admin_issues_links_for_someone_else_s_active_account(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    user = await make_user()
    url = f"/admin/users/{user.id}/password-reset"
    assert (await client.post(url)).status_code == 401
    for role in ("trabajador", "supervisor"):
        response = await client.post(url, headers=await auth_headers(await make_user(role=role)))
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
    admin = await make_user(role="admin")
    headers = await auth_headers(admin)
    missing = await client.post(f"/admin/users/{uuid.uuid4()}/password-reset", headers=headers)
    assert missing.status_code == 404 and missing.json()["code"] == "user_not_found"
    own = await client.post(f"/admin/users/{admin.id}/password-reset", headers=headers)
    assert own.status_code == 409 and own.json()["code"] == "cannot_reset_own_password"
    inactive = await make_user(is_active=False)
    refused = await client.post(f"/admin/users/{inactive.id}/password-reset", headers=headers)
    assert refused.status_code == 409 and refused.json()["code"] == "account_disabled"
    assert (await client.post(url, headers=headers)).status_code == 201


async def test_a_link_works_once_and_an_unknown_one_never(
    client: httpx.AsyncClient, make_user: UserFactory, reset_link: LinkFn
) -> None:
    user = await make_user()
    token = await reset_link(user)
    assert (await _reset(client, token, NEW_PASSWORD)).status_code == 204
    assert _refused(await _reset(client, token, "Otra-clave-distinta-9"))
    assert _refused(await client.post("/auth/password-reset/check", json={"token": token}))
    assert _refused(await _reset(client, "x" * 43, NEW_PASSWORD))


async def test_an_expired_link_is_refused(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    reset_link: LinkFn,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    token = await reset_link(user)
    async with sessionmaker() as session:
        await session.execute(
            update(PasswordReset).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    assert _refused(await client.post("/auth/password-reset/check", json={"token": token}))
    assert _refused(await _reset(client, token, NEW_PASSWORD))


async def test_a_newer_link_replaces_the_older_one(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    user = await make_user()
    headers = await auth_headers(await make_user(role="admin"))
    first = (await _issue(client, headers, user.id))["token"]
    second = (await _issue(client, headers, user.id))["token"]
    assert first != second
    assert _refused(await _reset(client, first, NEW_PASSWORD))
    assert (await _reset(client, second, NEW_PASSWORD)).status_code == 204


async def test_a_refused_password_leaves_the_link_usable(
    client: httpx.AsyncClient, make_user: UserFactory, reset_link: LinkFn
) -> None:
    user = await make_user(email="clave.debil@alvaradomazzei.cl")
    token = await reset_link(user)
    for weak in ("corta", "password123", "clave.debil"):
        response = await _reset(client, token, weak)
        assert response.status_code == 422 and response.json()["code"] == "weak_password"
    assert (await _reset(client, token, NEW_PASSWORD)).status_code == 204


async def test_a_deactivated_account_s_link_does_not_work(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    user = await make_user()
    headers = await auth_headers(await make_user(role="admin"))
    token = (await _issue(client, headers, user.id))["token"]
    off = await client.patch(f"/admin/users/{user.id}", json={"is_active": False}, headers=headers)
    assert off.status_code == 200
    assert _refused(await client.post("/auth/password-reset/check", json={"token": token}))
    assert _refused(await _reset(client, token, NEW_PASSWORD))


async def test_it_works_outside_the_password_change_domains(
    make_client: ClientFactory,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    # Self-service changes are for inacapmail.cl only; a link is an admin's decision.
    user = await make_user(email="externo@alvaradomazzei.cl")
    async with make_client(password_change_domains=["inacapmail.cl"]) as client:
        token = await _issue(client, await auth_headers(await make_user(role="admin")), user.id)
        assert (await _reset(client, token["token"], NEW_PASSWORD)).status_code == 204
        login = {"email": user.email, "password": NEW_PASSWORD}
        assert (await client.post("/auth/login", json=login)).status_code == 200


async def test_a_login_waiting_for_its_second_step_ends_and_2fa_stays(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    reset_link: LinkFn,
    enable_totp: EnableTotpFn,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    secret = await enable_totp(user)
    pending = await start_second_step(client, user.email)  # whoever had the old password
    token = await reset_link(user)
    assert (await _reset(client, token, NEW_PASSWORD)).status_code == 204
    assert (await finish_second_step(client, pending, secret)).status_code == 401
    async with sessionmaker() as session:
        stored = await session.get(User, user.id)
    assert stored is not None and stored.totp_enabled


async def test_uses_and_checks_are_throttled_per_address(
    make_client: ClientFactory,
) -> None:
    async with make_client(login_max_failures_per_ip=3) as client:
        statuses = []
        for _ in range(4):
            response = await client.post("/auth/password-reset/check", json={"token": "t" * 43})
            statuses.append(response.status_code)
        assert statuses == [400, 400, 400, 429]
        blocked = await _reset(client, "t" * 43, NEW_PASSWORD)
        assert blocked.status_code == 429 and blocked.json()["code"] == "too_many_attempts"


async def test_two_simultaneous_uses_of_one_link_let_exactly_one_through(
    client: httpx.AsyncClient, make_user: UserFactory, reset_link: LinkFn
) -> None:
    user = await make_user()
    token = await reset_link(user)
    passwords = [f"Clave-paralela-{n}-xyz" for n in range(4)]
    responses = await asyncio.gather(*(_reset(client, token, p) for p in passwords))
    assert sorted(r.status_code for r in responses) == [204, 400, 400, 400]
    winner = passwords[[r.status_code for r in responses].index(204)]
    for password in passwords:
        login = await client.post("/auth/login", json={"email": user.email, "password": password})
        assert login.status_code == (200 if password == winner else 401)
