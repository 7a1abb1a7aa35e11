"""The `energyapp` command line, run as a real subprocess against a real database."""

from __future__ import annotations

import asyncio
import gc
import json
import secrets
import sys
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest
import typer
from asgi_lifespan import LifespanManager
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from energyapp.auth import totp_secrets
from energyapp.auth.models import User
from energyapp.cli import app as cli_app
from energyapp.config import get_settings
from energyapp.conversations.models import Conversation, Message
from energyapp.core import crypto
from energyapp.main import create_app
from tests.auth.conftest import store_totp_secret
from tests.cli.conftest import ROOT, run_cli, running_dev
from tests.conftest import PG_ADMIN_URL, TEST_SECRET, UserFactory, make_settings
from tests.multiproc import free_port


def test_db_upgrade_seed_and_user_admin(cli_db_env: dict[str, str]) -> None:
    assert run_cli(["db", "upgrade"], cli_db_env).returncode == 0
    first = run_cli(["seed-demo"], cli_db_env)
    assert first.returncode == 0, first.stderr
    assert "admin@example.com" in first.stdout and "creada" in first.stdout
    again = run_cli(["seed-demo"], cli_db_env)
    assert again.returncode == 0 and "ya existía" in again.stdout  # idempotent

    created = run_cli(
        [
            "create-user",
            "--email",
            "Ana@AlvaradoMazzei.cl",
            "--full-name",
            "Ana",
            "--role",
            "supervisor",
        ],
        cli_db_env,
        stdin="Clave-muy-segura-9\nClave-muy-segura-9\n",
    )
    assert created.returncode == 0, created.stderr
    assert "ana@alvaradomazzei.cl" in created.stdout
    assert "Clave-muy-segura-9" not in created.stdout + created.stderr

    duplicate = run_cli(
        ["create-user", "--email", "ana@alvaradomazzei.cl", "--full-name", "Ana"],
        cli_db_env,
        stdin="Clave-muy-segura-9\nClave-muy-segura-9\n",
    )
    assert duplicate.returncode == 1 and "Ya existe" in duplicate.stderr

    assert run_cli(["set-role", "ana@alvaradomazzei.cl", "admin"], cli_db_env).returncode == 0
    bad_role = run_cli(["set-role", "ana@alvaradomazzei.cl", "jefe"], cli_db_env)
    assert bad_role.returncode == 1 and "Rol desconocido" in bad_role.stderr
    missing = run_cli(["deactivate-user", "nadie@alvaradomazzei.cl"], cli_db_env)
    assert missing.returncode == 1
    assert run_cli(["deactivate-user", "ana@alvaradomazzei.cl"], cli_db_env).returncode == 0


def test_prune_reports_what_it_deleted(cli_db_env: dict[str, str]) -> None:
    assert run_cli(["db", "upgrade"], cli_db_env).returncode == 0
    result = run_cli(["prune"], cli_db_env | {"ENERGYAPP_AUTH_RETENTION_DAYS": "7"})
    assert result.returncode == 0, result.stderr
    assert "Eliminadas: 0 sesiones terminadas" in result.stdout
    assert "más de 7 días" in result.stdout


@pytest.mark.no_database
def test_create_user_never_takes_password_from_argv(cli_env: dict[str, str]) -> None:
    result = run_cli(["create-user", "--password", "x"], cli_env)
    assert result.returncode != 0


def command_paths() -> list[list[str]]:
    """Every command of `energyapp`, as the words that name it (``["db", "upgrade"]``)."""
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        subcommands: dict[str, Any] = getattr(command, "commands", {})  # a group's
        for name, sub in subcommands.items():
            walk(sub, [*path, name])
        if not subcommands:
            paths.append(path)

    walk(typer.main.get_command(cli_app), [])
    return paths


@pytest.mark.no_database
def test_every_command_has_help() -> None:
    runner = CliRunner()
    paths = command_paths()
    assert ["serve"] in paths and ["db", "upgrade"] in paths and ["fake-ollama"] in paths
    for args in [[], *paths]:
        result = runner.invoke(cli_app, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output


@pytest.mark.no_database
def test_the_readme_lists_every_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = readme.split("Command line: `energyapp ", 1)[1].split("` (each with", 1)[0]
    names = {name.strip() for name in listed.replace("\n", " ").split("|")}
    assert names == {" ".join(path) for path in command_paths()}


@pytest.mark.no_database
def test_serve_refuses_several_workers_without_redis(cli_env: dict[str, str]) -> None:
    """Without Redis the queue and the live answers live in one process's memory: a second
    worker would hand out the same slots and lose answers, so `serve --workers 2` stops before
    serving. (With ENERGYAPP_REDIS_URL it serves: tests/cli/test_serve_workers.py.)"""
    result = run_cli(["serve", "--workers", "2", "--port", str(free_port())], cli_env)
    assert result.returncode == 2
    assert "--workers mayor que 1 requiere Redis" in result.stderr
    assert "ENERGYAPP_REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr


async def test_reconcile_counters_repairs_broken_counters(
    cli_env: dict[str, str],
    db_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_user: UserFactory,
) -> None:
    owner, other = await make_user(), await make_user()
    async with sessionmaker() as session:
        conversation = Conversation(user_id=owner.id, title="Cuentas")
        session.add(conversation)
        await session.flush()
        session.add_all(
            Message(conversation_id=conversation.id, user_id=owner.id, role=role, content="x")
            for role in ("user", "assistant", "user")
        )
        # Every counter wrong, as a bug or a hand-edited row would leave them.
        await session.execute(update(Conversation).values(message_count=40))
        await session.execute(
            update(User).where(User.id == owner.id).values(conversation_count=0, message_count=7)
        )
        await session.execute(update(User).where(User.id == other.id).values(conversation_count=5))
        await session.commit()
    result = await asyncio.to_thread(
        run_cli, ["db", "reconcile-counters"], cli_env | {"ENERGYAPP_DB_URL": db_url}
    )
    assert result.returncode == 0, result.stderr
    assert "2 usuarios y 1 conversaciones estaban desfasados" in result.stdout
    async with sessionmaker() as session:
        assert await session.scalar(select(Conversation.message_count)) == 3
        counts = {
            row.id: (row.conversation_count, row.message_count)
            for row in await session.execute(
                select(User.id, User.conversation_count, User.message_count)
            )
        }
    assert counts == {owner.id: (1, 3), other.id: (0, 0)}
    again = await asyncio.to_thread(
        run_cli, ["db", "reconcile-counters"], cli_env | {"ENERGYAPP_DB_URL": db_url}
    )
    assert "0 usuarios y 0 conversaciones" in again.stdout


@pytest.mark.no_database
def test_serve_freezes_what_start_up_imported(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve` hands uvicorn an app whose modules are imported already, with the collector on
    and the imports' objects frozen out of its full passes (core/startup.py)."""
    from energyapp.core.stopping import GracefulServer

    assert run_cli(["db", "upgrade"], cli_env).returncode == 0  # serve refuses a bare database
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(GracefulServer, "run", lambda self: calls.append((self.config.app,)))
    for key in ("ENERGYAPP_DB_URL", "ENERGYAPP_CONFIG_FILE", "ENERGYAPP_LOG_LEVEL"):
        monkeypatch.setenv(key, cli_env[key])
    get_settings.cache_clear()
    gc.unfreeze()
    try:
        result = CliRunner().invoke(cli_app, ["serve", "--port", str(free_port())])
        assert result.exit_code == 0, result.output
        assert calls == [("energyapp.main:create_app",)]
        assert "energyapp.main" in sys.modules
        assert gc.isenabled()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
        get_settings.cache_clear()


@pytest.mark.no_database
def test_bad_setting_stops_with_its_name(cli_env: dict[str, str]) -> None:
    env = dict(cli_env, ENERGYAPP_PORT="ochenta")
    result = run_cli(["db", "upgrade"], env)
    assert result.returncode == 2
    assert "ENERGYAPP_PORT" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.no_database
def test_production_refuses_default_secret(cli_env: dict[str, str]) -> None:
    env = dict(cli_env, ENERGYAPP_ENV="production")
    result = run_cli(["serve"], env)
    assert result.returncode == 2
    assert "secrets.token_urlsafe" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_demo_accounts_unless_asked(cli_db_env: dict[str, str]) -> None:
    """The demo passwords are public: in production, seed-demo needs --in-production (what
    deploy.sh --demo passes) and dev (what `make run` runs) is refused."""
    env = dict(cli_db_env, ENERGYAPP_ENV="production", ENERGYAPP_SECRET_KEY=TEST_SECRET)
    assert run_cli(["db", "upgrade"], env).returncode == 0
    refused = run_cli(["seed-demo"], env)
    assert refused.returncode == 1, refused.stdout
    assert "--in-production" in refused.stderr and "Traceback" not in refused.stderr
    dev = run_cli(["dev"], env)
    assert dev.returncode == 1 and "energyapp serve" in dev.stderr
    asked = run_cli(["seed-demo", "--in-production"], env)
    assert asked.returncode == 0, asked.stderr
    assert "admin@example.com" in asked.stdout and "creada" in asked.stdout
    assert "creada" not in refused.stdout  # nothing was created before


@pytest.fixture
def scratch_pg_db() -> Iterator[str]:
    name = f"energyapp_cli_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except OSError:
        pytest.fail("PostgreSQL must be running on 127.0.0.1:5432 for this test")
    try:
        yield name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_psycopg2_url_form_works_against_real_postgres(
    cli_env: dict[str, str], scratch_pg_db: str
) -> None:
    """The production server's ENERGYAPP_DB_URL form keeps working with the async driver."""
    env = dict(
        cli_env,
        ENERGYAPP_DB_URL=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{scratch_pg_db}",
    )
    upgraded = run_cli(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    seeded = run_cli(["seed-demo"], env)
    assert seeded.returncode == 0, seeded.stderr

    async def count() -> int:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{scratch_pg_db}")
        try:
            value: int = await conn.fetchval("SELECT count(*) FROM users")
            return value
        finally:
            await conn.close()

    assert asyncio.run(count()) == 3


@pytest.mark.no_database
def test_dev_command_serves_health_with_demo_accounts(cli_env: dict[str, str]) -> None:
    """What `make run` runs: migrate, seed, serve; /health answers and the demo users exist."""
    ollama_url = f"http://127.0.0.1:{free_port()}"
    env = dict(cli_env, ENERGYAPP_PORT=str(free_port()), ENERGYAPP_OLLAMA_URL=ollama_url)
    with running_dev(env) as dev:
        assert dev.health is not None, "the dev server never answered /health"
        assert dev.health["db"] == "ok"
        # No Ollama answered, so the stand-in was started and is labelled as such.
        assert dev.health["ollama"] == "ok"
        assert httpx.get(f"{ollama_url}/api/version", timeout=2).status_code == 200
    assert "SINTÉTICAS" in dev.output
    with pytest.raises(httpx.HTTPError):  # stopping the app stopped the stand-in too
        httpx.get(f"{ollama_url}/api/version", timeout=2)
    assert "admin@example.com" in dev.output
    assert "trabajador@example.com" in dev.output and "supervisor@example.com" in dev.output


# --- energyapp keys rotate ------------------------------------------------------------------


def _keys_env(
    cli_env: dict[str, str], db_url: str, data_key: str, previous: tuple[str, ...] = ()
) -> dict[str, str]:
    return cli_env | {
        "ENERGYAPP_DB_URL": db_url,
        "ENERGYAPP_SECRET_KEY": TEST_SECRET,
        "ENERGYAPP_DATA_KEY": data_key,
        "ENERGYAPP_PREVIOUS_DATA_KEYS": json.dumps(list(previous)),
    }


async def _stored_secrets(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[Any, str]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(User.id, User.totp_secret).where(User.totp_secret.is_not(None))
        )
        return {user_id: str(value) for user_id, value in rows}


async def test_keys_rotate_reseals_every_secret_under_the_new_key(
    cli_env: dict[str, str],
    db_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_user: UserFactory,
) -> None:
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    users = [await make_user(email=f"rota-{i}@inacapmail.cl") for i in range(3)]
    old_keyring = make_settings(db_url, data_key=old).data_keyring
    codes = {u.id: await store_totp_secret(sessionmaker, u, old_keyring) for u in users[:2]}
    # One sealed before any data key was set: under the key derived from the secret key.
    codes[users[2].id] = await store_totp_secret(
        sessionmaker, users[2], make_settings(db_url).data_keyring
    )
    env = _keys_env(cli_env, db_url, new, previous=(old,))
    result = await asyncio.to_thread(run_cli, ["keys", "rotate"], env)
    assert result.returncode == 0, result.stderr
    new_only = crypto.Keyring(crypto.decode_key(new))
    assert f"Clave actual {new_only.current_id}: 3 secretos de 2FA re-cifrados" in result.stdout
    assert old not in result.stdout + result.stderr and new not in result.stdout + result.stderr
    stored = await _stored_secrets(sessionmaker)
    for user_id, secret in codes.items():
        assert stored[user_id].startswith(f"v1:{new_only.current_id}:")
        assert totp_secrets.open_sealed(new_only, user_id, stored[user_id]) == secret

    # 2FA keeps working for everyone with the new key alone.
    application = create_app(make_settings(db_url, data_key=new))
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for user in users:
                login = await c.post(
                    "/auth/login", json={"email": user.email, "password": "Contrasena-segura-1"}
                )
                verified = await c.post(
                    "/auth/verify-2fa",
                    json={
                        "challenge_token": login.json()["challenge_token"],
                        "code": pyotp.TOTP(codes[user.id]).now(),
                    },
                )
                assert verified.status_code == 200, verified.text

    again = await asyncio.to_thread(run_cli, ["keys", "rotate"], env)
    assert again.returncode == 0, again.stderr
    assert "0 secretos de 2FA re-cifrados, 3 ya estaban" in again.stdout
    assert await _stored_secrets(sessionmaker) == stored


async def test_keys_rotate_names_the_keys_it_lacks(
    cli_env: dict[str, str],
    db_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_user: UserFactory,
) -> None:
    lost_key = secrets.token_urlsafe(32)
    lost = make_settings(db_url, data_key=lost_key).data_keyring
    stranded, fine = await make_user(), await make_user()
    await store_totp_secret(sessionmaker, stranded, lost)
    await store_totp_secret(sessionmaker, fine, make_settings(db_url).data_keyring)
    before = await _stored_secrets(sessionmaker)
    env = _keys_env(cli_env, db_url, secrets.token_urlsafe(32))
    result = await asyncio.to_thread(run_cli, ["keys", "rotate"], env)
    assert result.returncode == 1
    assert "1 secretos de 2FA re-cifrados" in result.stdout
    assert f"1 secretos de 2FA no se pudieron descifrar (clave {lost.current_id})" in result.stderr
    assert "ENERGYAPP_PREVIOUS_DATA_KEYS" in result.stderr and "Traceback" not in result.stderr
    after = await _stored_secrets(sessionmaker)
    assert after[stranded.id] == before[stranded.id]  # left for when its key is supplied
    assert after[fine.id] != before[fine.id]


@pytest.mark.no_database
def test_an_invalid_data_key_stops_with_its_name(cli_env: dict[str, str]) -> None:
    result = run_cli(["keys", "rotate"], cli_env | {"ENERGYAPP_DATA_KEY": "clave-demasiado-corta"})
    assert result.returncode == 2
    assert "ENERGYAPP_DATA_KEY" in result.stderr and "token_urlsafe(32)" in result.stderr
    assert "clave-demasiado-corta" not in result.stderr  # a key is never echoed
    assert "Traceback" not in result.stderr


@pytest.mark.no_database
def test_production_refuses_a_typed_data_key(cli_env: dict[str, str]) -> None:
    env = cli_env | {
        "ENERGYAPP_ENV": "production",
        "ENERGYAPP_SECRET_KEY": secrets.token_urlsafe(48),
        "ENERGYAPP_DATA_KEY": "A" * 43,
    }
    result = run_cli(["keys", "rotate"], env)
    assert result.returncode == 2
    assert "ENERGYAPP_DATA_KEY" in result.stderr and "Traceback" not in result.stderr
