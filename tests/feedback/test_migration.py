"""Migration 0017: message_feedback is created empty beside existing messages, its foreign keys
cascade with the message and let the rater go; the downgrade drops it and keeps the messages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from energyapp.core.migrate import downgrade, upgrade
from energyapp.db import create_engine

BEFORE = "0016_refresh_reuse_grace"
AFTER = "0017_message_feedback"


async def _run(url: str, work: Callable[[sa.Connection], Any]) -> Any:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def _id(conn: sa.Connection, value: uuid.UUID) -> Any:
    return value if conn.dialect.name == "postgresql" else value.hex


USER, RATER, CONVERSATION, ANSWER = (uuid.uuid4() for _ in range(4))


def _insert_answer(conn: sa.Connection) -> None:
    meta = sa.MetaData()
    users = sa.Table("users", meta, autoload_with=conn)
    conversations = sa.Table("conversations", meta, autoload_with=conn)
    messages = sa.Table("messages", meta, autoload_with=conn)
    now = datetime.now(UTC)
    for user_id, email in ((USER, "duena"), (RATER, "valora")):
        conn.execute(
            users.insert().values(
                id=_id(conn, user_id), email=f"{email}@alvaradomazzei.cl", full_name=email,
                password_hash="x", role="trabajador", is_active=True, totp_enabled=False,
                created_at=now, updated_at=now, last_active_at=now, conversation_count=0,
                message_count=0,
            )
        )  # fmt: skip
    conn.execute(
        conversations.insert().values(
            id=_id(conn, CONVERSATION), user_id=_id(conn, USER), title="Antigua",
            title_source="user", pinned=False, archived=False, message_count=1,
            has_versions=False, created_at=now, updated_at=now,
        )
    )  # fmt: skip
    conn.execute(
        messages.insert().values(
            id=_id(conn, ANSWER), conversation_id=_id(conn, CONVERSATION), role="assistant",
            content="Respuesta", status="complete", created_at=now, updated_at=now,
        )
    )  # fmt: skip


def _rate_then_delete(conn: sa.Connection) -> tuple[list[Any], list[Any]]:
    feedback = sa.Table("message_feedback", sa.MetaData(), autoload_with=conn)
    now = datetime.now(UTC)
    conn.execute(
        feedback.insert().values(
            message_id=_id(conn, ANSWER), user_id=_id(conn, RATER), rating="down",
            comment="Mal", created_at=now, updated_at=now,
        )
    )  # fmt: skip
    conn.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": _id(conn, RATER)})
    kept = conn.execute(sa.select(feedback.c.rating, feedback.c.user_id)).all()
    conn.execute(
        sa.text("DELETE FROM conversations WHERE id = :id"), {"id": _id(conn, CONVERSATION)}
    )
    return [tuple(row) for row in kept], conn.execute(sa.select(feedback.c.rating)).all()


def _tables(conn: sa.Connection) -> tuple[set[str], int]:
    names = set(sa.inspect(conn).get_table_names())
    return names, int(conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one())


def test_feedback_table_cascades_and_downgrades(scratch_db_url: str) -> None:
    url = scratch_db_url
    upgrade(url, BEFORE)
    asyncio.run(_run(url, _insert_answer))
    upgrade(url, AFTER)
    names, messages = asyncio.run(_run(url, _tables))
    assert "message_feedback" in names and messages == 1
    downgrade(url, BEFORE)
    names, messages = asyncio.run(_run(url, _tables))
    assert "message_feedback" not in names and messages == 1
    upgrade(url, AFTER)
    kept, left = asyncio.run(_run(url, _rate_then_delete))
    assert kept == [("down", None)]  # the rater's account went: the rating stays, unattributed
    assert left == []  # the conversation went: its answer's rating with it
