"""Saved prompts written at the same time by several processes or requests: the checks of a
title and of the cap see each other's rows (no duplicate published title, no 101st)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.config import Settings
from energyapp.errors import Conflict
from energyapp.prompts import service
from energyapp.prompts.models import SavedPrompt
from tests.conftest import UserFactory


async def test_two_admins_publishing_one_title_at_once_get_one_prompt_and_a_409(
    sessionmaker: async_sessionmaker[AsyncSession], make_user: UserFactory, settings: Settings
) -> None:
    first, second = await make_user(role="admin"), await make_user(role="admin")
    async with sessionmaker() as one, sessionmaker() as other:
        admin_one = await one.get(User, first.id)
        admin_other = await other.get(User, second.id)
        assert admin_one is not None and admin_other is not None
        await service.create(one, settings, admin_one, title="Resumen", body="a", publish=True)
        # The second admin's transaction started before the first one committed its row.
        late = asyncio.create_task(
            service.create(other, settings, admin_other, title="resumen", body="b", publish=True)
        )
        await asyncio.sleep(0.3)
        await one.commit()
        with pytest.raises(Conflict) as refused:
            await asyncio.wait_for(late, timeout=15)
        assert refused.value.code == "prompt_title_taken"
        await other.rollback()
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(SavedPrompt).where(SavedPrompt.user_id.is_(None))
        )
    assert count == 1
