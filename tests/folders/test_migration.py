"""Migration 0022: the folders table and conversations.folder_id come and go without touching
the conversations (SQLite adds the column in place: a copied table would cascade its
messages away when the old one is dropped)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from energyapp.core.migrate import downgrade, upgrade
from energyapp.db import UTCDateTime, create_engine, utcnow

BEFORE = "0021_saved_prompts"
AFTER = "0022_folders"


async def _run(url: str, work: Callable[[sa.Connection], Any]) -> Any:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def _shape(conn: sa.Connection) -> tuple[set[str], set[str], set[str]]:
    inspector = sa.inspect(conn)
    folders = (
        {c["name"] for c in inspector.get_columns("folders")}
        if "folders" in inspector.get_table_names()
        else set()
    )
    columns = {c["name"] for c in inspector.get_columns("conversations")}
    indexes = {i["name"] or "" for i in inspector.get_indexes("conversations")}
    return folders, columns, indexes


def _table(name: str, *columns: str) -> sa.TableClause:
    """A table as revision 0021 has it (only the columns written here)."""
    kinds: dict[str, sa.types.TypeEngine[object]] = {"created_at": UTCDateTime()}
    kinds["updated_at"] = kinds["last_active_at"] = UTCDateTime()
    return sa.table(
        name,
        *(sa.column(c, kinds.get(c, sa.Uuid() if c.endswith("id") else None)) for c in columns),
    )


def _seed(conn: sa.Connection) -> None:
    user, conversation, now = uuid.uuid4(), uuid.uuid4(), utcnow()
    stamps = {"created_at": now, "updated_at": now}
    users = _table("users", "id", "email", "full_name", "password_hash", "role", "is_active",
                   "totp_enabled", "conversation_count", "message_count", "last_active_at",
                   *stamps)  # fmt: skip
    conn.execute(sa.insert(users).values(
        id=user, email="a@alvaradomazzei.cl", full_name="Ana", password_hash="x",
        role="trabajador", is_active=True, totp_enabled=False, conversation_count=1,
        message_count=1, last_active_at=now, **stamps,
    ))  # fmt: skip
    conversations = _table("conversations", "id", "user_id", "title", "title_source", "pinned",
                           "archived", "message_count", *stamps)  # fmt: skip
    conn.execute(sa.insert(conversations).values(
        id=conversation, user_id=user, title="T", title_source="user", pinned=False,
        archived=False, message_count=1, **stamps,
    ))  # fmt: skip
    messages = _table("messages", "id", "conversation_id", "role", "content", "status", *stamps)
    conn.execute(sa.insert(messages).values(
        id=uuid.uuid4(), conversation_id=conversation, role="user", content="hola",
        status="complete", **stamps,
    ))  # fmt: skip


def _messages(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one())


def test_upgrade_adds_folders_and_downgrade_removes_them(scratch_db_url: str) -> None:
    url = scratch_db_url
    upgrade(url, BEFORE)
    asyncio.run(_run(url, _seed))
    folders, columns, _ = asyncio.run(_run(url, _shape))
    assert folders == set() and "folder_id" not in columns
    upgrade(url, AFTER)
    folders, columns, indexes = asyncio.run(_run(url, _shape))
    assert folders == {"id", "user_id", "name", "created_at", "updated_at"}
    assert "folder_id" in columns and "ix_conversations_folder_list" in indexes
    assert asyncio.run(_run(url, _messages)) == 1
    downgrade(url, BEFORE)
    folders, columns, indexes = asyncio.run(_run(url, _shape))
    assert folders == set() and "folder_id" not in columns
    assert "ix_conversations_folder_list" not in indexes
    assert asyncio.run(_run(url, _messages)) == 1
    upgrade(url, "head")
    assert "folder_id" in asyncio.run(_run(url, _shape))[1]
