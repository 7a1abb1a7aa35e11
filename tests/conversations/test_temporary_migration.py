"""Migration 0023: conversations.temporary comes (false for every existing conversation) and
goes without touching the conversations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from energyapp.core.migrate import downgrade, upgrade
from tests.conftest import run_sync_on

BEFORE = "0022_folders"
AFTER = "0023_temporary_chats"


def _columns(conn: sa.Connection) -> set[str]:
    return {c["name"] for c in sa.inspect(conn).get_columns("conversations")}


def _seed(conn: sa.Connection) -> None:
    users = sa.table("users", *(sa.column(n) for n in (
        "id", "email", "full_name", "password_hash", "role", "is_active", "totp_enabled",
        "created_at", "updated_at", "last_active_at", "conversation_count", "message_count",
    )))  # fmt: skip
    conversations = sa.table("conversations", *(sa.column(n) for n in (
        "id", "user_id", "title", "title_source", "pinned", "archived", "message_count",
        "created_at", "updated_at",
    )))  # fmt: skip
    user_id, moment = uuid.uuid4(), datetime(2026, 10, 1, tzinfo=UTC)
    # Through the column types of the revision: uuids and times written as each database wants.
    uid = sa.bindparam("uid", user_id, type_=sa.Uuid())
    at = sa.bindparam("at", moment, type_=sa.DateTime(timezone=True))
    conn.execute(users.insert().values(
        id=uid, email="a@x.cl", full_name="A", password_hash="h", role="trabajador",
        is_active=True, totp_enabled=False, created_at=at, updated_at=at, last_active_at=at,
        conversation_count=1, message_count=0,
    ))  # fmt: skip
    conn.execute(conversations.insert().values(
        id=sa.bindparam("cid", uuid.uuid4(), type_=sa.Uuid()), user_id=uid, title="Vieja",
        title_source="auto", pinned=False, archived=False, message_count=0, created_at=at,
        updated_at=at,
    ))  # fmt: skip


def _flags(conn: sa.Connection) -> list[tuple[str, Any]]:
    return [tuple(r) for r in conn.execute(sa.text("SELECT title, temporary FROM conversations"))]


def test_upgrade_adds_temporary_false_and_downgrade_drops_it(scratch_db_url: str) -> None:
    url = scratch_db_url
    upgrade(url, BEFORE)
    assert "temporary" not in run_sync_on(url, _columns)
    run_sync_on(url, _seed)
    upgrade(url, AFTER)
    assert [(title, bool(flag)) for title, flag in run_sync_on(url, _flags)] == [("Vieja", False)]
    downgrade(url, BEFORE)
    assert "temporary" not in run_sync_on(url, _columns)
    assert run_sync_on(url, _columns) >= {"id", "title", "updated_at"}
    upgrade(url, "head")
    assert "temporary" in run_sync_on(url, _columns)
