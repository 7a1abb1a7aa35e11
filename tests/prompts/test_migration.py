"""Migration 0019: the saved_prompts table comes and goes without touching the users."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from energyapp.core.migrate import downgrade, upgrade
from energyapp.db import create_engine

BEFORE = "0020_announcements"


async def _run(url: str, work: Callable[[sa.Connection], Any]) -> Any:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def _columns(conn: sa.Connection) -> set[str]:
    inspector = sa.inspect(conn)
    if "saved_prompts" not in inspector.get_table_names():
        return set()
    return {c["name"] for c in inspector.get_columns("saved_prompts")}


def test_upgrade_creates_saved_prompts_and_downgrade_drops_it(scratch_db_url: str) -> None:
    url = scratch_db_url
    upgrade(url, BEFORE)
    assert asyncio.run(_run(url, _columns)) == set()
    upgrade(url, "head")
    assert asyncio.run(_run(url, _columns)) == {
        "id", "user_id", "title", "body", "created_at", "updated_at", "created_by",
    }  # fmt: skip
    downgrade(url, BEFORE)
    assert asyncio.run(_run(url, _columns)) == set()
    upgrade(url, "head")
    assert "title" in asyncio.run(_run(url, _columns))
