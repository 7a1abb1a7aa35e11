"""`energyapp set-role` and `deactivate-user` follow the admin panel's rules: the last active
admin stays, and every change is in the audit trail (the server's console as its author)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from energyapp.audit.labels import EventFacts, Names, Person, describe
from energyapp.audit.models import AuditEvent
from energyapp.auth.models import User
from energyapp.db import create_engine, create_sessionmaker
from tests.cli.conftest import run_cli


async def _trail(db_url: str) -> list[tuple[AuditEvent, str]]:
    """The account events, oldest first, each with the name of the person it is about."""
    engine = create_engine(db_url)
    try:
        async with create_sessionmaker(engine)() as session:
            events = await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.like("user.%"))
                .order_by(AuditEvent.created_at)
            )
            named = []
            for event in events.all():
                user = await session.get(User, uuid.UUID(str(event.target_id)))
                named.append((event, user.full_name if user else "?"))
            return named
    finally:
        await engine.dispose()


def test_console_role_changes_keep_an_admin_and_are_audited(cli_db_env: dict[str, str]) -> None:
    assert run_cli(["db", "upgrade"], cli_db_env).returncode == 0
    assert run_cli(["seed-demo"], cli_db_env).returncode == 0  # one admin: admin@example.com
    for args in (["set-role", "admin@example.com", "supervisor"],
                 ["deactivate-user", "admin@example.com"]):  # fmt: skip
        refused = run_cli(args, cli_db_env)
        assert refused.returncode == 1, refused.stdout
        assert "último administrador activo" in refused.stderr
    promoted = run_cli(["set-role", "trabajador@example.com", "supervisor"], cli_db_env)
    assert promoted.returncode == 0, promoted.stderr
    gone = run_cli(["deactivate-user", "trabajador@example.com"], cli_db_env)
    assert gone.returncode == 0, gone.stderr

    trail = asyncio.run(_trail(cli_db_env["ENERGYAPP_DB_URL"]))
    assert [(e.action, e.actor_id, e.details, name) for e, name in trail] == [
        ("user.role_changed", None, {"from": "trabajador", "to": "supervisor", "via": "console"},
         "Trabajador Demo"),
        ("user.deactivated", None, {"via": "console"}, "Trabajador Demo"),
    ]  # fmt: skip
    event = trail[0][0]
    person = {str(event.target_id): Person("Trabajador Demo", "trabajador@example.com")}
    facts = EventFacts(event.action, event.target_type, event.target_id, event.details or {})
    assert describe(facts, Names(people=person)) == (
        "Cambió el rol de Trabajador Demo de Trabajador a Supervisor "
        "(desde la consola del servidor)"
    )
