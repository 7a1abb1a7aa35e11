"""Password change: only for allowed domains, needs the current password, ends every other
session (their access tokens too) and every login still waiting for its second step, never
switches 2FA off."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from tests.auth.conftest import (
    PASSWORD,
    AuditFn,
    EnableTotpFn,
    LoginFn,
    bearer,
    finish_second_step,
    start_second_step,
)
from tests.conftest import HeadersFactory, UserFactory

NEW_PASSWORD = "Faro-del-sur-2031"


async def _change(
    client: httpx.AsyncClient, headers: dict[str, str], current: str, new: str
) -> httpx.Response:
    return await client.post(
        "/auth/change-password",
        json={"current_password": current, "new_password": new},
        headers=headers,
    )


async def test_change_password_ends_the_other_sessions_only(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    login: LoginFn,
    sessionmaker: async_sessionmaker[AsyncSession],
    audit_events: AuditFn,
) -> None:
    user = await make_user(email="cambio@inacapmail.cl")
    this_device = await login(user.email)
    other_device = await login(user.email)
    async with sessionmaker() as session:  # 2FA state must survive the change
        await session.execute(
            update(User).where(User.id == user.id).values(totp_enabled=True, totp_secret="A" * 32)
        )
        await session.commit()
    response = await _change(client, bearer(this_device), PASSWORD, NEW_PASSWORD)
    assert response.status_code == 204, response.text
    assert (await client.get("/auth/me", headers=bearer(this_device))).status_code == 200
    other = await client.get("/auth/me", headers=bearer(other_device))
    assert other.status_code == 401
    assert other.json()["code"] == "session_revoked"
    refused = await client.post(
        "/auth/refresh", json={"refresh_token": other_device["refresh_token"]}
    )
    assert refused.status_code == 401
    ok = await client.post("/auth/refresh", json={"refresh_token": this_device["refresh_token"]})
    assert ok.status_code == 200
    async with sessionmaker() as session:
        row = await session.get(User, user.id)
        assert row is not None and row.totp_enabled is True and row.totp_secret == "A" * 32
    old = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert old.status_code == 401
    new = await client.post("/auth/login", json={"email": user.email, "password": NEW_PASSWORD})
    assert new.json()["requires_2fa"] is True
    assert len(await audit_events("password_changed")) == 1


@pytest.mark.parametrize("second_step", ["verify", "setup"])
async def test_change_password_ends_logins_waiting_for_their_second_step(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    enable_totp: EnableTotpFn,
    second_step: str,
) -> None:
    """A login challenge stands for the password just checked: someone who had the old password
    and stopped at the second step (a 2FA code, or the setup an admin requires) cannot finish
    that login once the owner has changed the password."""
    user = await make_user(email=f"pendiente-{second_step}@inacapmail.cl", require_2fa=True)
    owner = await auth_headers(user)
    secret = await enable_totp(user) if second_step == "verify" else None
    token = await start_second_step(client, user.email)

    assert (await _change(client, owner, PASSWORD, NEW_PASSWORD)).status_code == 204

    finished = await finish_second_step(client, token, secret)
    assert finished.status_code == 401, finished.text
    assert finished.json()["code"] == "challenge_invalid"
    # The owner still works, and signs in with the new password.
    assert (await client.get("/auth/me", headers=owner)).status_code == 200
    again = await client.post("/auth/login", json={"email": user.email, "password": NEW_PASSWORD})
    assert again.status_code == 200
    assert again.json().get("requires_2fa" if secret else "requires_2fa_setup") is True


async def test_change_password_rules(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    user = await make_user(email="reglas@inacapmail.cl")
    headers = await auth_headers(user)
    wrong = await _change(client, headers, "no-es-la-actual", NEW_PASSWORD)
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "invalid_password"
    for weak in ("corta", "password123", "reglas@inacapmail.cl"):
        response = await _change(client, headers, PASSWORD, weak)
        assert response.status_code == 422
        assert response.json()["code"] == "weak_password"
    same = await _change(client, headers, PASSWORD, PASSWORD)
    assert same.status_code == 422
    assert same.json()["code"] == "password_unchanged"
    extra = await client.post(
        "/auth/change-password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "role": "admin"},
        headers=headers,
    )
    assert extra.status_code == 422
    assert (await _change(client, {}, PASSWORD, NEW_PASSWORD)).status_code == 401


async def test_change_password_only_for_allowed_domains(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    user = await make_user(email="fijo@alvaradomazzei.cl")
    headers = await auth_headers(user)
    response = await _change(client, headers, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 403
    assert response.json()["code"] == "password_change_not_allowed"
    me = (await client.get("/auth/me", headers=headers)).json()
    assert me["can_change_password"] is False and me["can_setup_2fa"] is False
