"""``db.for_update`` and ``db.get_for_update`` lock the row they read until the transaction
ends, on PostgreSQL (``FOR UPDATE``) and on SQLite, which drops the clause (the engine's hook,
told by a public execution option, takes the database's write lock instead)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import Role2FAPolicy, User
from energyapp.db import for_update, get_for_update, utcnow
from tests.conftest import UserFactory

Lock = Callable[[AsyncSession, User], Awaitable[object]]


async def _lock_user(session: AsyncSession, user: User) -> object:
    return await session.scalar(for_update(select(User.id).where(User.id == user.id)))


async def _lock_policy(session: AsyncSession, _user: User) -> object:
    return await get_for_update(session, Role2FAPolicy, "trabajador")


@pytest.mark.parametrize("lock", [_lock_user, _lock_policy], ids=["for_update", "get"])
async def test_a_locked_read_holds_off_a_concurrent_writer(
    sessionmaker: async_sessionmaker[AsyncSession], make_user: UserFactory, lock: Lock
) -> None:
    user = await make_user()
    async with sessionmaker.begin() as session:
        session.add(Role2FAPolicy(role="trabajador", require_2fa=False, updated_at=utcnow()))
    order: list[str] = []

    async def write() -> None:
        async with sessionmaker.begin() as other:
            await other.execute(update(User).where(User.id == user.id).values(full_name="B"))
            await other.execute(
                update(Role2FAPolicy)
                .where(Role2FAPolicy.role == "trabajador")
                .values(require_2fa=True)
            )
        order.append("writer")

    async with sessionmaker() as holder:
        assert await lock(holder, user) is not None
        writer = asyncio.create_task(write())
        await asyncio.sleep(0.5)
        assert not writer.done(), "the writer did not wait for the lock"
        order.append("holder")
        await holder.commit()
    await asyncio.wait_for(writer, timeout=10)
    assert order == ["holder", "writer"]
