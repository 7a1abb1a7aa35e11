"""The `energyapp` command line, run as a real subprocess against a real database."""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from energyapp.auth.models import User
from energyapp.cli import app as cli_app
from energyapp.config import get_settings
from energyapp.conversations.models import Conversation, Message
from tests.conftest import PG_ADMIN_URL, UserFactory

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "energyapp.cli"]


def run_cli(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        CLI + args,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=env.get("_CWD", str(ROOT)),
        check=False,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")}
    env["ENERGYAPP_DB_URL"] = f"sqlite:///{tmp_path}/cli.db"
    env["ENERGYAPP_LOG_LEVEL"] = "WARNING"
    env["_CWD"] = str(tmp_path)  # no stray .env from the checkout
    env["ENERGYAPP_CONFIG_FILE"] = str(ROOT / "config" / "settings.yaml")
    return env


def test_db_upgrade_seed_and_user_admin(cli_env: dict[str, str]) -> None:
    assert run_cli(["db", "upgrade"], cli_env).returncode == 0
    first = run_cli(["seed-demo"], cli_env)
    assert first.returncode == 0, first.stderr
    assert "admin@example.com" in first.stdout and "creada" in first.stdout
    again = run_cli(["seed-demo"], cli_env)
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
        cli_env,
        stdin="Clave-muy-segura-9\nClave-muy-segura-9\n",
    )
    assert created.returncode == 0, created.stderr
    assert "ana@alvaradomazzei.cl" in created.stdout
    assert "Clave-muy-segura-9" not in created.stdout + created.stderr

    duplicate = run_cli(
        ["create-user", "--email", "ana@alvaradomazzei.cl", "--full-name", "Ana"],
        cli_env,
        stdin="Clave-muy-segura-9\nClave-muy-segura-9\n",
    )
    assert duplicate.returncode == 1 and "Ya existe" in duplicate.stderr

    assert run_cli(["set-role", "ana@alvaradomazzei.cl", "admin"], cli_env).returncode == 0
    bad_role = run_cli(["set-role", "ana@alvaradomazzei.cl", "jefe"], cli_env)
    assert bad_role.returncode == 1 and "Rol desconocido" in bad_role.stderr
    missing = run_cli(["deactivate-user", "nadie@alvaradomazzei.cl"], cli_env)
    assert missing.returncode == 1
    assert run_cli(["deactivate-user", "ana@alvaradomazzei.cl"], cli_env).returncode == 0


def test_prune_reports_what_it_deleted(cli_env: dict[str, str]) -> None:
    assert run_cli(["db", "upgrade"], cli_env).returncode == 0
    result = run_cli(["prune"], cli_env | {"ENERGYAPP_AUTH_RETENTION_DAYS": "7"})
    assert result.returncode == 0, result.stderr
    assert "Eliminadas: 0 sesiones terminadas" in result.stdout
    assert "más de 7 días" in result.stdout


def test_create_user_never_takes_password_from_argv(cli_env: dict[str, str]) -> None:
    result = run_cli(["create-user", "--password", "x"], cli_env)
    assert result.returncode != 0


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for args in (
        [],
        ["serve"],
        ["db", "upgrade"],
        ["seed-demo"],
        ["create-user"],
        ["set-role"],
        ["deactivate-user"],
        ["db", "reconcile-counters"],
    ):
        result = runner.invoke(cli_app, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output


def test_serve_refuses_several_workers(cli_env: dict[str, str]) -> None:
    """The queue and the live answers live in one process's memory: a second worker would hand
    out the same slots and lose answers, so `serve --workers 2` stops before serving."""
    result = run_cli(["serve", "--workers", "2", "--port", str(_free_port())], cli_env)
    assert result.returncode == 2
    assert "--workers mayor que 1 aún no es posible" in result.stderr
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


def test_serve_freezes_what_start_up_imported(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve` hands uvicorn an app whose modules are imported already, with the collector on
    and the imports' objects frozen out of its full passes (core/startup.py)."""
    import uvicorn

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(args))
    for key in ("ENERGYAPP_DB_URL", "ENERGYAPP_CONFIG_FILE", "ENERGYAPP_LOG_LEVEL"):
        monkeypatch.setenv(key, cli_env[key])
    get_settings.cache_clear()
    gc.unfreeze()
    try:
        result = CliRunner().invoke(cli_app, ["serve", "--port", "8765"])
        assert result.exit_code == 0, result.output
        assert calls == [("energyapp.main:create_app",)]
        assert "energyapp.main" in sys.modules
        assert gc.isenabled()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
        get_settings.cache_clear()


def test_bad_setting_stops_with_its_name(cli_env: dict[str, str]) -> None:
    env = dict(cli_env, ENERGYAPP_PORT="ochenta")
    result = run_cli(["db", "upgrade"], env)
    assert result.returncode == 2
    assert "ENERGYAPP_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_default_secret(cli_env: dict[str, str]) -> None:
    env = dict(cli_env, ENERGYAPP_ENV="production")
    result = run_cli(["serve"], env)
    assert result.returncode == 2
    assert "secrets.token_urlsafe" in result.stderr
    assert "Traceback" not in result.stderr


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_dev_command_serves_health_with_demo_accounts(cli_env: dict[str, str]) -> None:
    """What `make run` runs: migrate, seed, serve; /health answers and the demo users exist."""
    port = _free_port()
    ollama_url = f"http://127.0.0.1:{_free_port()}"
    env = dict(cli_env, ENERGYAPP_PORT=str(port), ENERGYAPP_OLLAMA_URL=ollama_url)
    proc = subprocess.Popen(
        [*CLI, "dev"],
        env=env,
        cwd=env["_CWD"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                body = response.json()
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert body is not None, "the dev server never answered /health"
        assert body["db"] == "ok"
        # No Ollama answered, so the stand-in was started and is labelled as such.
        assert body["ollama"] == "ok"
        assert httpx.get(f"{ollama_url}/api/version", timeout=2).status_code == 200
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=60)
    assert "SINTÉTICAS" in output
    with pytest.raises(httpx.HTTPError):  # stopping the app stopped the stand-in too
        httpx.get(f"{ollama_url}/api/version", timeout=2)
    assert "admin@example.com" in output
    assert "trabajador@example.com" in output and "supervisor@example.com" in output
