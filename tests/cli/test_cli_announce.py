"""`energyapp announce` publishes an announcement everyone signed in then sees (through the
API, as the web UI reads it), audited as the server's console; --list and --end ID."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from energyapp.audit.models import AuditEvent
from energyapp.auth.models import AuthSession, User
from energyapp.auth.security import create_access_token
from energyapp.config import Settings
from energyapp.db import create_engine, create_sessionmaker, utcnow
from energyapp.main import create_app
from tests.cli.conftest import run_cli
from tests.conftest import make_settings


async def _seen_by_worker(db_url: str) -> list[dict[str, Any]]:
    """What the demo worker's GET /announcements answers."""
    settings: Settings = make_settings(db_url)
    engine = create_engine(db_url)
    try:
        async with create_sessionmaker(engine)() as session:
            user = await session.scalar(select(User).where(User.email == "trabajador@example.com"))
            assert user is not None
            auth = AuthSession(user_id=user.id, expires_at=utcnow().replace(year=2100))
            session.add(auth)
            await session.commit()
            token, _ = create_access_token(settings, user.id, auth.id)
            events = (
                await session.execute(
                    select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.details).where(
                        AuditEvent.action.like("announcement.%")
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get(
                "/announcements", headers={"Authorization": f"Bearer {token}"}
            )
    assert response.status_code == 200, response.text
    return [{"events": [tuple(e) for e in events]}, *response.json()]


def test_console_announcement_is_seen_and_audited(cli_db_env: dict[str, str]) -> None:
    assert run_cli(["db", "upgrade"], cli_db_env).returncode == 0
    assert run_cli(["seed-demo"], cli_db_env).returncode == 0
    made = run_cli(
        [
            "announce",
            "El servicio se reinicia a las 18:00",
            "--level",
            "warning",
            "--minutes",
            "30",
        ],
        cli_db_env,
    )
    assert made.returncode == 0, made.stderr
    assert "Aviso publicado" in made.stdout and "warning" in made.stdout
    audit, *seen = asyncio.run(_seen_by_worker(cli_db_env["ENERGYAPP_DB_URL"]))
    assert [(s["body"], s["level"]) for s in seen] == [
        ("El servicio se reinicia a las 18:00", "warning")
    ]
    assert seen[0]["ends_at"] is not None
    assert audit["events"] == [
        ("announcement.created", None, {"body": "El servicio se reinicia a las 18:00",
                                        "level": "warning", "audience": "all", "via": "console"})
    ]  # fmt: skip

    listed = run_cli(["announce", "--list"], cli_db_env)
    assert listed.returncode == 0 and seen[0]["id"] in listed.stdout and "activo" in listed.stdout
    ended = run_cli(["announce", "--end", seen[0]["id"]], cli_db_env)
    assert ended.returncode == 0 and "terminado" in ended.stdout, ended.stderr
    _audit, *after = asyncio.run(_seen_by_worker(cli_db_env["ENERGYAPP_DB_URL"]))
    assert after == []


def test_console_refuses_bad_announcements(cli_db_env: dict[str, str]) -> None:
    assert run_cli(["db", "upgrade"], cli_db_env).returncode == 0
    for args, message in (
        (["announce", "   "], "Escriba el texto del aviso"),
        (["announce", "x" * 501], "como máximo 500"),
        (["announce", "Hola", "--level", "rojo"], "'rojo' is not one of 'info', 'warning'"),
        (["announce", "Hola", "--audience", "jefes"], "'jefes' is not one of 'all', 'admin',"),
        (["announce", "--list", "--level", "rojo"], "Invalid value for '--level'"),
        (["announce", "Hola", "--minutes", "9999999999"], "Invalid value for '--minutes'"),
        (["announce", "--end", "no-es-un-id"], "id de aviso no válido"),
        (["announce", "--end", "0190f1a2-0000-7000-8000-000000000000"], "No se encontró el aviso"),
    ):
        refused = run_cli(args, {**cli_db_env, "COLUMNS": "200"})
        assert refused.returncode != 0, args
        assert message in refused.stderr, (args, refused.stderr)


def test_console_help_lists_levels_and_audiences(cli_db_env: dict[str, str]) -> None:
    shown = run_cli(["announce", "--help"], {**cli_db_env, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "<info|warning>" in shown.stdout
    assert "<all|admin|supervisor|trabajador>" in shown.stdout
