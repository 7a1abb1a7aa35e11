"""Migration 0024: the ledger is backfilled from the messages and api_usage so that the quota
and the reports over past days keep their figures, and the downgrade brings api_usage back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from energyapp.core.migrate import downgrade, upgrade
from tests.conftest import run_sync_on

BEFORE = "0023_temporary_chats"
AFTER = "0024_usage_ledger"

USER, KEY, CONVERSATION = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
QUESTION, ANSWER, API_ANSWER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
# An answer whose author's account was deleted since (messages.user_id is SET NULL): the
# admin's report counted it (under no one) and goes on doing so.
LEFT_BY_A_DELETED_USER = uuid.uuid4()
MOMENT = datetime(2026, 10, 1, 15, tzinfo=UTC)


def _table(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns))


def _id(value: uuid.UUID) -> sa.BindParameter[uuid.UUID]:
    return sa.bindparam(None, value, type_=sa.Uuid())


def _at(seconds: int) -> sa.BindParameter[datetime]:
    return sa.bindparam(None, MOMENT + timedelta(seconds=seconds), type_=sa.DateTime(True))


def _seed(conn: sa.Connection) -> None:
    """A question and its answer on the web, an API answer kept (its message and its
    api_usage row), one not kept, and one whose conversation was deleted since."""
    conn.execute(_table("users", "id", "email", "full_name", "password_hash", "role",
        "is_active", "totp_enabled", "created_at", "updated_at", "last_active_at",
        "conversation_count", "message_count", "api_keys_enabled",
    ).insert().values(
        id=_id(USER), email="a@x.cl", full_name="A", password_hash="h", role="trabajador",
        is_active=True, totp_enabled=False, created_at=_at(0), updated_at=_at(0),
        last_active_at=_at(0), conversation_count=1, message_count=3, api_keys_enabled=True,
    ))  # fmt: skip
    conn.execute(_table("api_keys", "id", "user_id", "name", "prefix", "digest", "created_at",
        "expires_at").insert().values(
        id=_id(KEY), user_id=_id(USER), name="Script", prefix="ea_x", digest="d" * 64,
        created_at=_at(0), expires_at=_at(86400),
    ))  # fmt: skip
    conn.execute(_table("conversations", "id", "user_id", "title", "title_source", "pinned",
        "archived", "message_count", "created_at", "updated_at").insert().values(
        id=_id(CONVERSATION), user_id=_id(USER), title="Vieja", title_source="auto",
        pinned=False, archived=False, message_count=3, created_at=_at(0), updated_at=_at(0),
    ))  # fmt: skip
    messages = _table("messages", "id", "conversation_id", "user_id", "role", "content",
        "status", "model", "prompt_tokens", "completion_tokens", "first_token_ms",
        "created_at", "updated_at")  # fmt: skip
    for i, (message_id, role, tokens, wait) in enumerate([
        (QUESTION, "user", (None, None), None),
        (ANSWER, "assistant", (100, 50), 1200),
        (API_ANSWER, "assistant", (7, 3), None),
        (LEFT_BY_A_DELETED_USER, "assistant", (30, 20), 900),
    ]):  # fmt: skip
        author = None if message_id == LEFT_BY_A_DELETED_USER else _id(USER)
        conn.execute(messages.insert().values(
            id=_id(message_id), conversation_id=_id(CONVERSATION), user_id=author,
            role=role, content="x", status="complete", model="m" if tokens[0] else None,
            prompt_tokens=tokens[0], completion_tokens=tokens[1], first_token_ms=wait,
            created_at=_at(i), updated_at=_at(i),
        ))  # fmt: skip
    usage = _table("api_usage", "id", "key_id", "user_id", "created_at", "model", "status",
        "prompt_tokens", "completion_tokens", "message_id")  # fmt: skip
    for i, (tokens, message_id) in enumerate([
        ((7, 3), API_ANSWER), ((20, 10), None), ((4, 1), uuid.uuid4()),  # the last one deleted
    ]):  # fmt: skip
        conn.execute(usage.insert().values(
            id=_id(uuid.uuid4()), key_id=_id(KEY), user_id=_id(USER), created_at=_at(10 + i),
            model="m", status="complete", prompt_tokens=tokens[0], completion_tokens=tokens[1],
            message_id=None if message_id is None else _id(message_id),
        ))  # fmt: skip


def _ledger(conn: sa.Connection) -> list[tuple[Any, ...]]:
    rows = conn.execute(sa.text(
        "SELECT source, key_id IS NOT NULL, prompt_tokens, completion_tokens, first_token_ms, "
        "messages, answers, message_id IS NOT NULL FROM usage_events "
        "ORDER BY created_at"
    ))  # fmt: skip
    return [tuple(int(v) if isinstance(v, bool) else v for v in row) for row in rows]


def _api_usage(conn: sa.Connection) -> list[tuple[Any, ...]]:
    rows = conn.execute(sa.text(
        "SELECT prompt_tokens, completion_tokens, message_id IS NOT NULL FROM api_usage "
        "ORDER BY created_at"
    ))  # fmt: skip
    return [tuple(int(v) if isinstance(v, bool) else v for v in row) for row in rows]


def _tables(conn: sa.Connection) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


def test_the_backfill_keeps_past_usage_and_the_downgrade_brings_api_usage_back(
    scratch_db_url: str,
) -> None:
    url = scratch_db_url
    upgrade(url, BEFORE)
    run_sync_on(url, _seed)
    upgrade(url, AFTER)
    assert "api_usage" not in run_sync_on(url, _tables)
    # One event per message (1 message each, the answers with their tokens and wait; the
    # answer the API kept is the API's, with its key), then the API's answers whose message
    # is not there: the one not kept and the one deleted since (no messages of their own).
    assert run_sync_on(url, _ledger) == [
        ("web", 0, 0, 0, None, 1, 0, 1),
        ("web", 0, 100, 50, 1200, 1, 1, 1),
        ("api", 1, 7, 3, None, 1, 1, 1),
        ("web", 0, 30, 20, 900, 1, 1, 1),
        ("api", 1, 20, 10, None, 0, 1, 0),
        ("api", 1, 4, 1, None, 0, 1, 1),
    ]

    downgrade(url, BEFORE)
    assert "usage_events" not in run_sync_on(url, _tables)
    assert run_sync_on(url, _api_usage) == [(7, 3, 1), (20, 10, 0), (4, 1, 1)]
    upgrade(url, "head")
    assert len(run_sync_on(url, _ledger)) == 6
