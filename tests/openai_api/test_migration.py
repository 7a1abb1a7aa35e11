"""Migration 0010: existing users keep API access; the downgrade drops keys and usage only."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from energyapp.core.migrate import downgrade, upgrade
from energyapp.db import create_engine

BEFORE = "0004_totp_sealed"


async def _run(url: str, work: Callable[[sa.Connection], Any]) -> Any:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def _insert_user(conn: sa.Connection) -> uuid.UUID:
    users = sa.Table("users", sa.MetaData(), autoload_with=conn)
    user_id = uuid.uuid4()
    now = datetime.now(UTC)
    conn.execute(
        users.insert().values(
            id=user_id if conn.dialect.name == "postgresql" else user_id.hex,
            email="antigua@alvaradomazzei.cl",
            full_name="Cuenta Antigua",
            password_hash="x",
            role="trabajador",
            is_active=True,
            totp_enabled=False,
            created_at=now,
            updated_at=now,
            last_active_at=now,
            conversation_count=0,
            message_count=0,
        )
    )
    return user_id


def _add_key(conn: sa.Connection) -> None:
    users = sa.Table("users", sa.MetaData(), autoload_with=conn)
    keys = sa.Table("api_keys", sa.MetaData(), autoload_with=conn)
    user_id = conn.execute(sa.select(users.c.id)).scalar_one()
    now = datetime.now(UTC)
    conn.execute(
        keys.insert().values(
            id=uuid.uuid4() if conn.dialect.name == "postgresql" else uuid.uuid4().hex,
            user_id=user_id, name="Vieja", prefix="ea_abcde", digest="0" * 64,
            created_at=now, expires_at=now + timedelta(days=90),
        )
    )  # fmt: skip


def _state(conn: sa.Connection) -> tuple[set[str], list[Any]]:
    tables = set(sa.inspect(conn).get_table_names())
    users = sa.Table("users", sa.MetaData(), autoload_with=conn)
    return tables, [tuple(row) for row in conn.execute(sa.select(users)).mappings()]


def test_upgrade_keeps_users_allowed_and_downgrade_drops_only_keys(scratch_db_url: str) -> None:
    url = scratch_db_url
    upgrade(url, BEFORE)
    asyncio.run(_run(url, _insert_user))
    upgrade(url, "head")
    enabled = asyncio.run(
        _run(url, lambda c: c.execute(sa.text("SELECT api_keys_enabled FROM users")).scalar_one())
    )
    assert bool(enabled) is True
    asyncio.run(_run(url, _add_key))

    downgrade(url, BEFORE)
    tables, users = asyncio.run(_run(url, _state))
    assert not {"api_keys", "api_key_addresses", "api_usage"} & tables
    assert len(users) == 1
    columns = asyncio.run(
        _run(url, lambda c: {col["name"] for col in sa.inspect(c).get_columns("users")})
    )
    assert "api_keys_enabled" not in columns and "email" in columns
    upgrade(url, "head")  # and back up again
