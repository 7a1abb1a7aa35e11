"""Migration 0005: users.last_login_at is filled from the trail's login events, and removed by
the downgrade."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import text

from energyapp.core.migrate import downgrade, upgrade
from energyapp.db import create_engine

BEFORE = "0004_totp_sealed"


async def _run(url: str, *statements: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            rows: list[tuple[object, ...]] = []
            for statement in statements:
                result = await conn.execute(text(statement))
                if result.returns_rows:
                    rows = [tuple(row) for row in result.all()]
            return rows
    finally:
        await engine.dispose()


def _uuid(url: str, value: str) -> str:
    # How a uuid is written in SQL: 32 hex digits on SQLite, the usual form on PostgreSQL.
    return value.replace("-", "") if url.startswith("sqlite") else value


def test_last_login_comes_from_the_audit_trail(scratch_db_url: str) -> None:
    url = scratch_db_url
    upgrade(url, BEFORE)
    seen, never = "0b7e2a56-1f0d-4c53-9a57-3f1f6a1d0001", "0b7e2a56-1f0d-4c53-9a57-3f1f6a1d0002"
    moments = ("2026-11-01 10:00:00+00:00", "2026-11-20 08:30:00+00:00")
    user_sql = (
        "INSERT INTO users (id, email, full_name, password_hash, role, is_active, totp_enabled, "
        "created_at, updated_at, last_active_at, conversation_count, message_count) VALUES "
        "('{id}', '{id}@x.cl', 'X', 'h', 'trabajador', true, false, '2026-10-01 00:00:00+00:00', "
        "'2026-10-01 00:00:00+00:00', '2026-10-01 00:00:00+00:00', 0, 0)"
    )
    event_sql = (
        "INSERT INTO audit_events (id, created_at, actor_id, action) VALUES "
        "('{id}', '{at}', '{actor}', '{action}')"
    )
    asyncio.run(
        _run(
            url,
            user_sql.format(id=_uuid(url, seen)),
            user_sql.format(id=_uuid(url, never)),
            *(
                event_sql.format(
                    id=_uuid(url, f"0b7e2a56-1f0d-4c53-9a57-3f1f6a1d01{i:02d}"),
                    at=at,
                    actor=_uuid(url, seen),
                    action="login",
                )
                for i, at in enumerate(moments)
            ),
            event_sql.format(
                id=_uuid(url, "0b7e2a56-1f0d-4c53-9a57-3f1f6a1d0199"),
                at="2026-11-30 00:00:00+00:00",
                actor=_uuid(url, never),
                action="login_failed",
            ),
        )
    )
    upgrade(url, "head")
    rows = asyncio.run(_run(url, "SELECT email, last_login_at FROM users ORDER BY email"))
    found = {str(email).split("@")[0].replace("-", ""): value for email, value in rows}
    latest = found[seen.replace("-", "")]
    assert latest is not None
    if isinstance(latest, str):
        latest = datetime.fromisoformat(latest)
    assert isinstance(latest, datetime)
    assert latest.replace(tzinfo=latest.tzinfo or UTC) == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    assert found[never.replace("-", "")] is None

    downgrade(url, BEFORE)
    columns = asyncio.run(
        _run(
            url,
            "SELECT name FROM pragma_table_info('users')"
            if url.startswith("sqlite")
            else "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'",
        )
    )
    assert "last_login_at" not in {str(c[0]) for c in columns}
    upgrade(url, "head")
