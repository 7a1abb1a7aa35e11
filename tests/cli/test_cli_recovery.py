"""`energyapp reset-password` and `reset-2fa` (auth/cli.py): account recovery from the server's
console, run through Typer's CliRunner against the test database, with the app's own rules and
trail (no actor, ``details.via = "console"``)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result

from energyapp.audit.models import AuditEvent
from energyapp.auth.models import AuthSession, PasswordReset, User
from energyapp.cli import app as cli_app
from energyapp.config import Settings, get_settings
from tests.auth.conftest import PASSWORD, bearer, store_totp_secret
from tests.cli.conftest import ROOT
from tests.conftest import UserFactory

NEW_PASSWORD = "Volcan-Osorno-2026"
LINK = re.compile(r"^(https://chat\.example\.cl)?/#/restablecer/([A-Za-z0-9_-]{43,})$", re.M)


@pytest.fixture
def console(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The commands' settings name the test database (no stray .env from the checkout)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENERGYAPP_DB_URL", db_url)
    monkeypatch.setenv("ENERGYAPP_CONFIG_FILE", str(ROOT / "config" / "settings.yaml"))
    monkeypatch.setenv("ENERGYAPP_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def _invoke(*args: str) -> Result:
    # The command runs its own event loop (asyncio.run): in a thread of its own.
    return await asyncio.to_thread(CliRunner().invoke, cli_app, list(args))


async def _login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


async def _console_events(
    sessionmaker: async_sessionmaker[AsyncSession], action: str
) -> list[AuditEvent]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.mark.usefixtures("console")
async def test_reset_password_prints_a_link_that_works_once(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user(email="consola@alvaradomazzei.cl")
    before = await _login(client, user.email, PASSWORD)
    path = await _invoke("reset-password", "Consola@AlvaradoMazzei.cl")
    assert path.exit_code == 0, path.output
    assert "consola@alvaradomazzei.cl" in path.output and "una sola vez" in path.output
    first = LINK.search(path.output)
    assert first is not None and first.group(1) is None  # the path alone
    full = await _invoke("reset-password", user.email, "--base-url", "https://chat.example.cl/")
    assert full.exit_code == 0, full.output
    second = LINK.search(full.output)
    assert second is not None and second.group(1) == "https://chat.example.cl"

    old = {"token": first.group(2), "new_password": NEW_PASSWORD}
    assert (await client.post("/auth/password-reset", json=old)).status_code == 400  # replaced
    new = {"token": second.group(2), "new_password": NEW_PASSWORD}
    assert (await client.post("/auth/password-reset", json=new)).status_code == 204
    assert (await client.get("/auth/me", headers=bearer(before))).status_code == 401
    assert "access_token" in await _login(client, user.email, NEW_PASSWORD)
    events = await _console_events(sessionmaker, "password_reset_link_created")
    assert [(e.actor_id, e.target_id, e.details["via"]) for e in events] == [
        (None, str(user.id), "console")
    ] * 2
    async with sessionmaker() as session:
        link = await session.scalar(select(PasswordReset))
    assert link is not None and link.created_by is None


@pytest.mark.usefixtures("console")
async def test_reset_password_refuses_what_the_panel_refuses(make_user: UserFactory) -> None:
    missing = await _invoke("reset-password", "nadie@alvaradomazzei.cl")
    assert missing.exit_code == 1
    assert "No existe una cuenta con ese correo." in missing.output
    inactive = await make_user(is_active=False)
    refused = await _invoke("reset-password", inactive.email)
    assert refused.exit_code == 1 and "desactivada" in refused.output
    bad_url = await _invoke("reset-password", inactive.email, "--base-url", "chat.example.cl")
    assert bad_url.exit_code == 2 and "--base-url" in bad_url.output


@pytest.mark.usefixtures("console")
async def test_reset_2fa_clears_it_and_ends_the_sessions(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user(require_2fa=True)
    await store_totp_secret(sessionmaker, user, settings.data_keyring)
    async with sessionmaker() as session:
        session.add(AuthSession(user_id=user.id, expires_at=user.created_at.replace(year=2099)))
        await session.commit()
    done = await _invoke("reset-2fa", user.email)
    assert done.exit_code == 0, done.output
    assert "restablecida" in done.output and "próximo inicio de sesión" in done.output
    async with sessionmaker() as session:
        stored = await session.get(User, user.id)
        open_sessions = await session.scalars(
            select(AuthSession).where(
                AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None)
            )
        )
        assert stored is not None and not stored.totp_enabled and stored.totp_secret is None
        assert list(open_sessions) == []
    (event,) = await _console_events(sessionmaker, "2fa_reset")
    assert (event.actor_id, event.details) == (None, {"was_enabled": True, "via": "console"})
    # Still required: the next login leads through the setup again.
    login = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert login.json().get("requires_2fa_setup") is True
    missing = await _invoke("reset-2fa", "nadie@alvaradomazzei.cl")
    assert missing.exit_code == 1 and "No existe una cuenta" in missing.output
