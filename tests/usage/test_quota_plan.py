"""The daily quota check reads the ledger through ``ix_usage_events_user_created`` (PostgreSQL's
plan), however long the company's history grows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.db import new_id, utcnow
from energyapp.usage import service as usage_service
from energyapp.usage.models import USAGE_EVENTS
from energyapp.usage.quota import quota_day_bounds
from tests.conftest import UserFactory


@pytest.mark.postgres_only
async def test_the_quota_check_is_a_range_of_the_user_and_time_index(
    sessionmaker: async_sessionmaker[AsyncSession], make_user: UserFactory
) -> None:
    # Forty people and a busy day and a half of generations (the range of today alone would be
    # cheap to scan whole on a quiet history), with statistics that say so; everything is
    # rolled back, only ANALYZE's row estimate stays (as after any autovacuum).
    users = [(await make_user()).id for _ in range(40)]
    now = utcnow()
    async with sessionmaker() as session:
        await session.execute(
            insert(USAGE_EVENTS),
            [
                {"id": new_id(), "user_id": users[i % 40], "source": "web", "status": "complete",
                 "prompt_tokens": 10, "completion_tokens": 20, "messages": 2, "answers": 1,
                 "created_at": now - timedelta(seconds=10 * i)}
                for i in range(12000)
            ],
        )  # fmt: skip
        await session.execute(text("ANALYZE usage_events"))
        since = quota_day_bounds()[0]
        stmt = usage_service.used_since_query(users[0], since)
        sql = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = "\n".join(str(row[0]) for row in await session.execute(text(f"EXPLAIN {sql}")))
        await session.rollback()
    assert "ix_usage_events_user_created" in plan, plan
    assert "Seq Scan" not in plan, plan
