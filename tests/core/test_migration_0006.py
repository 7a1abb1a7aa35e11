"""Migration 0006 (required 2FA, setup challenges, role policies, legal holds) on a database of
the previous version: existing rows get the defaults, nothing referring to a user is lost, and
the downgrade puts the schema back without losing rows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import inspect, text

from energyapp.core.migrate import downgrade, upgrade
from energyapp.db import create_engine

BEFORE = "0004_totp_sealed"
REVISION = "0006_required_2fa_retention"
USER = uuid.uuid4()
CONVERSATION = uuid.uuid4()


async def _sql(url: str, *statements: str, **params: object) -> list[list[tuple[object, ...]]]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            results = []
            for statement in statements:
                result = await conn.execute(text(statement), params)
                results.append([tuple(r) for r in result.all()] if result.returns_rows else [])
            return results
    finally:
        await engine.dispose()


async def _tables_and_columns(url: str) -> tuple[set[str], set[str], set[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:

            def read(sync_conn: object) -> tuple[set[str], set[str], set[str]]:
                found = inspect(sync_conn)
                return (
                    set(found.get_table_names()),
                    {c["name"] for c in found.get_columns("users")},
                    {c["name"] for c in found.get_columns("login_challenges")},
                )

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


def _hex(value: uuid.UUID, url: str) -> str:
    return value.hex if url.startswith("sqlite") else str(value)


def test_upgrade_keeps_rows_with_defaults_and_downgrade_restores(scratch_db_url: str) -> None:
    url = scratch_db_url
    upgrade(url, BEFORE)
    ids = {"user": _hex(USER, url), "conversation": _hex(CONVERSATION, url)}
    moment = datetime(2026, 11, 30, 10, tzinfo=UTC)
    now = moment.isoformat(" ") if url.startswith("sqlite") else moment  # as each driver takes it
    ids |= {"challenge": _hex(uuid.uuid4(), url), "now": now}
    asyncio.run(
        _sql(
            url,
            "INSERT INTO users (id, email, full_name, password_hash, role, is_active, "
            "totp_enabled, created_at, updated_at, last_active_at, conversation_count, "
            "message_count) VALUES (:user, 'a@alvaradomazzei.cl', 'A', 'x', 'trabajador', "
            "true, false, :now, :now, :now, 1, 0)",
            "INSERT INTO login_challenges (id, user_id, token_hash, created_at, expires_at, "
            "attempts) VALUES (:challenge, :user, 'h', :now, :now, 0)",
            "INSERT INTO conversations (id, user_id, title, title_source, pinned, archived, "
            "message_count, created_at, updated_at) VALUES (:conversation, :user, 'T', "
            "'user', false, false, 0, :now, :now)",
            **ids,
        )
    )

    upgrade(url, REVISION)
    tables, users, challenges = asyncio.run(_tables_and_columns(url))
    assert {"role_2fa_policies", "legal_holds"} <= tables
    assert "require_2fa" in users and "purpose" in challenges
    [[(required,)], [(purpose,)], [(count,)]] = asyncio.run(
        _sql(
            url,
            "SELECT require_2fa FROM users",
            "SELECT purpose FROM login_challenges",
            "SELECT count(*) FROM conversations",
        )
    )
    assert (bool(required), purpose, count) == (False, "verify", 1)
    asyncio.run(
        _sql(
            url,
            "INSERT INTO legal_holds (conversation_id, reason, created_at) "
            "VALUES (:conversation, 'Juicio', :now)",
            "INSERT INTO role_2fa_policies (role, require_2fa, updated_at) "
            "VALUES ('trabajador', true, :now)",
            **ids,
        )
    )

    downgrade(url, BEFORE)
    tables, users, challenges = asyncio.run(_tables_and_columns(url))
    assert not {"role_2fa_policies", "legal_holds"} & tables
    assert "require_2fa" not in users and "purpose" not in challenges
    counts = asyncio.run(
        _sql(
            url,
            "SELECT count(*) FROM users",
            "SELECT count(*) FROM login_challenges",
            "SELECT count(*) FROM conversations",
        )
    )
    assert counts == [[(1,)], [(1,)], [(1,)]]
    upgrade(url, REVISION)  # and up again
