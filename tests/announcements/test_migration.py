"""Migration 0019: the announcement tables are created empty, a dismissal goes with its
announcement and with its person, an announcement outlives its author (``created_by`` null);
the downgrade drops both tables."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from energyapp.core.migrate import downgrade, upgrade
from energyapp.db import create_engine

BEFORE = "0019_shared_links"
AFTER = "0020_announcements"
AUTHOR, READER, NOTICE = (uuid.uuid4() for _ in range(3))


async def _run(url: str, work: Callable[[sa.Connection], Any]) -> Any:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def _id(conn: sa.Connection, value: uuid.UUID) -> Any:
    return value if conn.dialect.name == "postgresql" else value.hex


def _tables(conn: sa.Connection) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


def _announce_dismiss_delete(conn: sa.Connection) -> tuple[list[Any], list[Any]]:
    meta = sa.MetaData()
    users = sa.Table("users", meta, autoload_with=conn)
    notices = sa.Table("announcements", meta, autoload_with=conn)
    dismissals = sa.Table("announcement_dismissals", meta, autoload_with=conn)
    now = datetime.now(UTC)
    for user_id, name in ((AUTHOR, "autora"), (READER, "lectora")):
        conn.execute(
            users.insert().values(
                id=_id(conn, user_id), email=f"{name}@alvaradomazzei.cl", full_name=name,
                password_hash="x", role="admin", is_active=True, totp_enabled=False,
                created_at=now, updated_at=now, last_active_at=now, conversation_count=0,
                message_count=0,
            )
        )  # fmt: skip
    conn.execute(
        notices.insert().values(
            id=_id(conn, NOTICE), body="Reinicio", level="warning", audience="all",
            starts_at=now, created_by=_id(conn, AUTHOR), created_at=now, updated_at=now,
        )
    )  # fmt: skip
    conn.execute(
        dismissals.insert().values(
            announcement_id=_id(conn, NOTICE), user_id=_id(conn, READER), dismissed_at=now
        )
    )
    conn.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": _id(conn, AUTHOR)})
    authors = conn.execute(sa.select(notices.c.created_by)).all()
    conn.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": _id(conn, READER)})
    after_reader = conn.execute(sa.select(dismissals.c.user_id)).all()
    return [tuple(r) for r in authors], after_reader


def test_announcement_tables_cascade_and_downgrade(scratch_db_url: str) -> None:
    url = scratch_db_url
    upgrade(url, AFTER)
    assert {"announcements", "announcement_dismissals"} <= asyncio.run(_run(url, _tables))
    downgrade(url, BEFORE)
    assert not {"announcements", "announcement_dismissals"} & asyncio.run(_run(url, _tables))
    upgrade(url, AFTER)
    authors, after_reader = asyncio.run(_run(url, _announce_dismiss_delete))
    assert authors == [(None,)]  # the author's account went: the announcement stays
    assert after_reader == []  # the reader's account went: their dismissal with it
