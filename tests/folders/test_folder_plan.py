"""One folder's list is read like the whole list: through an index in its own order, with no
sort of the folder's conversations (PostgreSQL's plan)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations.models import CONVERSATIONS
from energyapp.db import new_id, utcnow
from energyapp.folders.models import Folder
from tests.conftest import UserFactory


@pytest.mark.postgres_only
async def test_a_folders_page_is_an_index_scan_in_list_order(
    sessionmaker: async_sessionmaker[AsyncSession], make_user: UserFactory
) -> None:
    # A person with a long history, most of it in one folder, and statistics that say so: on the
    # suite's few rows the planner may pick any index (under load, a one-row table chose
    # ix_conversations_user_updated). Everything is rolled back; only ANALYZE's row estimate
    # stays, as after any autovacuum.
    user = await make_user()
    folders = [new_id() for _ in range(40)]
    now = utcnow()
    c = CONVERSATIONS.c
    async with sessionmaker() as session:
        await session.execute(
            insert(Folder),
            [{"id": f, "user_id": user.id, "name": f"F{i}"} for i, f in enumerate(folders)],
        )
        await session.execute(
            insert(CONVERSATIONS),
            [
                {
                    "id": new_id(),
                    "user_id": user.id,
                    "title": f"C{i}",
                    "folder_id": folders[0] if i < 3000 else folders[i % len(folders)],
                    "pinned": i % 17 == 0,
                    "archived": i % 5 == 0,
                    "updated_at": now - timedelta(minutes=i),
                }
                for i in range(4000)
            ],
        )
        await session.execute(text("ANALYZE conversations"))
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        stmt = (
            select(c.id, c.title)
            .where(c.user_id == user.id, c.archived.is_(False), c.folder_id == folders[0])
            .order_by(c.pinned.desc(), c.updated_at.desc(), c.id.desc())
            .limit(31)
        )
        sql = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = "\n".join(str(row[0]) for row in await session.execute(text(f"EXPLAIN {sql}")))
        await session.rollback()
    assert "ix_conversations_folder_list" in plan, plan
    assert "Sort" not in plan, plan
