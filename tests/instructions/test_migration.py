"""Migration 0015: existing conversations get no custom instructions; the downgrade drops the
table and the two columns and keeps the conversations."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from energyapp.core.migrate import downgrade, upgrade
from energyapp.db import create_engine

BEFORE = "0014_email_verification"
COLUMNS = {"instructions_about_user", "instructions_response_style"}


async def _run(url: str, work: Callable[[sa.Connection], Any]) -> Any:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def _id(conn: sa.Connection) -> Any:
    value = uuid.uuid4()
    return value if conn.dialect.name == "postgresql" else value.hex


def _insert_conversation(conn: sa.Connection) -> None:
    meta = sa.MetaData()
    users = sa.Table("users", meta, autoload_with=conn)
    conversations = sa.Table("conversations", meta, autoload_with=conn)
    now = datetime.now(UTC)
    user_id = _id(conn)
    conn.execute(
        users.insert().values(
            id=user_id, email="antigua@alvaradomazzei.cl", full_name="Cuenta Antigua",
            password_hash="x", role="trabajador", is_active=True, totp_enabled=False,
            created_at=now, updated_at=now, last_active_at=now, conversation_count=1,
            message_count=0,
        )
    )  # fmt: skip
    conn.execute(
        conversations.insert().values(
            id=_id(conn), user_id=user_id, title="Antigua", title_source="user", pinned=False,
            archived=False, message_count=0, has_versions=False, created_at=now, updated_at=now,
        )
    )  # fmt: skip


def _state(conn: sa.Connection) -> tuple[bool, set[str], list[Any]]:
    inspector = sa.inspect(conn)
    columns = {c["name"] for c in inspector.get_columns("conversations")}
    rows = conn.execute(sa.text("SELECT * FROM conversations")).mappings().all()
    kept = [
        {k: row[k] for k in COLUMNS & set(row.keys())} | {"title": row["title"]} for row in rows
    ]
    return "custom_instructions" in inspector.get_table_names(), columns & COLUMNS, kept


def test_upgrade_leaves_old_conversations_without_and_downgrade_keeps_them(
    scratch_db_url: str,
) -> None:
    url = scratch_db_url
    upgrade(url, BEFORE)
    asyncio.run(_run(url, _insert_conversation))
    upgrade(url, "head")
    has_table, columns, rows = asyncio.run(_run(url, _state))
    assert has_table and columns == COLUMNS
    assert rows == [
        {"title": "Antigua", "instructions_about_user": None, "instructions_response_style": None}
    ]
    downgrade(url, BEFORE)
    has_table, columns, rows = asyncio.run(_run(url, _state))
    assert not has_table and columns == set()
    assert rows == [{"title": "Antigua"}]
    upgrade(url, "head")  # and back up again
    assert asyncio.run(_run(url, _state))[:2] == (True, COLUMNS)
