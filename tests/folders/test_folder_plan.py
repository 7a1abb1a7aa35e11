"""One folder's list is read like the whole list: through an index in its own order, with no
sort of the folder's conversations (PostgreSQL's plan)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations.models import CONVERSATIONS


@pytest.mark.postgres_only
async def test_a_folders_page_is_an_index_scan_in_list_order(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    c = CONVERSATIONS.c
    stmt = (
        select(c.id, c.title)
        .where(c.user_id == uuid.uuid4(), c.archived.is_(False), c.folder_id == uuid.uuid4())
        .order_by(c.pinned.desc(), c.updated_at.desc(), c.id.desc())
        .limit(31)
    )
    async with sessionmaker() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        sql = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = "\n".join(str(row[0]) for row in await session.execute(text(f"EXPLAIN {sql}")))
    assert "ix_conversations_folder_list" in plan, plan
    assert "Sort" not in plan, plan
