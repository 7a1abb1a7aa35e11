"""Migration 0007: existing conversations become single-branch trees, and the downgrade keeps
every message."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from energyapp.core.migrate import downgrade, upgrade
from energyapp.db import UTCDateTime, create_engine

BEFORE = "0004_totp_sealed"


def _table(name: str, *columns: str) -> sa.TableClause:
    """A table as revision 0004 has it (only the columns written here)."""
    kinds: dict[str, sa.types.TypeEngine[object]] = {
        "created_at": UTCDateTime(),
        "updated_at": UTCDateTime(),
        "last_active_at": UTCDateTime(),
    }
    return sa.table(
        name,
        *(sa.column(c, kinds.get(c, sa.Uuid() if c.endswith("id") else None)) for c in columns),
    )


_USERS = _table(
    "users",
    "id",
    "email",
    "full_name",
    "password_hash",
    "role",
    "is_active",
    "totp_enabled",
    "created_at",
    "updated_at",
    "last_active_at",
    "conversation_count",
    "message_count",
)
_CONVERSATIONS = _table(
    "conversations",
    "id",
    "user_id",
    "title",
    "title_source",
    "pinned",
    "archived",
    "message_count",
    "created_at",
    "updated_at",
)
_MESSAGES = _table(
    "messages",
    "id",
    "conversation_id",
    "user_id",
    "role",
    "content",
    "status",
    "created_at",
    "updated_at",
)


async def _run(url: str, statement: sa.Executable) -> list[sa.Row[tuple[object, ...]]]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(statement)
            return list(result) if result.returns_rows else []
    finally:
        await engine.dispose()


async def _seed(url: str) -> tuple[list[uuid.UUID], uuid.UUID]:
    """A user with a conversation of 5 messages (two stored in the same instant: the id
    decides) and an empty one, as the previous version stored them."""
    user_id, chat_id, empty_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    start = datetime(2026, 11, 1, 12, tzinfo=UTC)
    stamps = {"created_at": start, "updated_at": start}
    await _run(url, sa.insert(_USERS).values(
        id=user_id, email="antigua@inacapmail.cl", full_name="Antigua", password_hash="x",
        role="trabajador", is_active=True, totp_enabled=False, last_active_at=start,
        conversation_count=2, message_count=5, **stamps,
    ))  # fmt: skip
    for conversation_id, count in ((chat_id, 5), (empty_id, 0)):
        await _run(url, sa.insert(_CONVERSATIONS).values(
            id=conversation_id, user_id=user_id, title="Antes", title_source="auto",
            pinned=False, archived=False, message_count=count, **stamps,
        ))  # fmt: skip
    seconds = [0, 1, 2, 3, 3]
    ids = [uuid.UUID(int=n) for n in (10, 2, 7, 4, 5)]  # not in time order
    for i, (message_id, second) in enumerate(zip(ids, seconds, strict=True)):
        at = start + timedelta(seconds=second)
        await _run(url, sa.insert(_MESSAGES).values(
            id=message_id, conversation_id=chat_id, user_id=user_id,
            role="user" if i % 2 == 0 else "assistant", content=f"m{i}", status="complete",
            created_at=at, updated_at=at,
        ))  # fmt: skip
    return ids, empty_id


def test_existing_conversations_become_single_branch_trees(scratch_db_url: str) -> None:
    url = scratch_db_url
    upgrade(url, BEFORE)
    ids, empty_id = asyncio.run(_seed(url))

    upgrade(url, "head")
    rows = asyncio.run(_run(url, sa.text("SELECT id, parent_id FROM messages")))
    parents = {_id(row[0]): _id(row[1]) for row in rows}
    # Time order, then id for the two stored in the same instant (4 before 5).
    assert parents == {ids[0]: None, ids[1]: ids[0], ids[2]: ids[1], ids[3]: ids[2], ids[4]: ids[3]}
    rows = asyncio.run(_run(url, sa.text("SELECT has_versions FROM conversations")))
    assert [bool(row[0]) for row in rows] == [False, False]
    rows = asyncio.run(_run(url, sa.text("SELECT id, current_leaf_id FROM conversations")))
    leaves = {_id(row[0]): _id(row[1]) for row in rows}
    assert leaves[empty_id] is None
    assert [leaf for key, leaf in leaves.items() if key != empty_id] == [ids[4]]

    downgrade(url, BEFORE)
    kept = asyncio.run(_run(url, sa.select(_MESSAGES.c.content).order_by(_MESSAGES.c.content)))
    assert [row[0] for row in kept] == [f"m{i}" for i in range(5)]
    with pytest.raises(sa.exc.DBAPIError):
        asyncio.run(_run(url, sa.text("SELECT parent_id FROM messages")))
    upgrade(url, "head")  # and up again, from the downgraded schema
    rows = asyncio.run(_run(url, sa.text("SELECT count(*) FROM messages WHERE parent_id IS NULL")))
    assert rows[0][0] == 1


def _id(value: object) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))
