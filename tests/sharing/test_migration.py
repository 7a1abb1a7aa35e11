"""Migration 0019: shared_links is created empty, goes with its conversation, refuses a second
link for one conversation, and the downgrade drops it leaving the conversations."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from energyapp.core.migrate import downgrade, upgrade
from energyapp.db import create_engine

BEFORE = "0018_finish_reason"
AFTER = "0019_shared_links"
USER, CONVERSATION = uuid.uuid4(), uuid.uuid4()


async def _run(url: str, work: Callable[[sa.Connection], Any]) -> Any:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def _id(conn: sa.Connection, value: uuid.UUID) -> Any:
    return value if conn.dialect.name == "postgresql" else value.hex


def _insert_conversation(conn: sa.Connection) -> None:
    meta = sa.MetaData()
    users = sa.Table("users", meta, autoload_with=conn)
    conversations = sa.Table("conversations", meta, autoload_with=conn)
    now = datetime.now(UTC)
    conn.execute(
        users.insert().values(
            id=_id(conn, USER), email="duena@alvaradomazzei.cl", full_name="Dueña",
            password_hash="x", role="trabajador", is_active=True, totp_enabled=False,
            created_at=now, updated_at=now, last_active_at=now, conversation_count=1,
            message_count=0,
        )
    )  # fmt: skip
    conn.execute(
        conversations.insert().values(
            id=_id(conn, CONVERSATION), user_id=_id(conn, USER), title="Antigua",
            title_source="user", pinned=False, archived=False, message_count=0,
            has_versions=False, created_at=now, updated_at=now,
        )
    )  # fmt: skip


def _link(conn: sa.Connection, token: str) -> None:
    links = sa.Table("shared_links", sa.MetaData(), autoload_with=conn)
    now = datetime.now(UTC)
    conn.execute(
        links.insert().values(
            id=_id(conn, uuid.uuid4()), token=token, conversation_id=_id(conn, CONVERSATION),
            user_id=_id(conn, USER), leaf_message_id=_id(conn, uuid.uuid4()), view_count=0,
            created_at=now, updated_at=now,
        )
    )  # fmt: skip


def _delete_conversation(conn: sa.Connection) -> int:
    conn.execute(
        sa.text("DELETE FROM conversations WHERE id = :id"), {"id": _id(conn, CONVERSATION)}
    )
    return int(conn.execute(sa.text("SELECT count(*) FROM shared_links")).scalar_one())


def _tables(conn: sa.Connection) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


def test_shared_links_table(scratch_db_url: str) -> None:
    url = scratch_db_url
    upgrade(url, BEFORE)
    asyncio.run(_run(url, _insert_conversation))
    upgrade(url, AFTER)
    assert "shared_links" in asyncio.run(_run(url, _tables))
    asyncio.run(_run(url, lambda conn: _link(conn, "primero")))
    with pytest.raises(sa.exc.IntegrityError):  # one link per conversation
        asyncio.run(_run(url, lambda conn: _link(conn, "segundo")))
    assert asyncio.run(_run(url, _delete_conversation)) == 0
    downgrade(url, BEFORE)
    assert "shared_links" not in asyncio.run(_run(url, _tables))
    assert "conversations" in asyncio.run(_run(url, _tables))
