"""``temporary_chat_hours`` goes down to one hour (a company may want temporary chats gone
sooner than a day): the setting takes 1 and refuses 0 by name, and the retention run, which
the hourly timer starts, deletes a chat past one hour and keeps a younger one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.config import SettingsError
from energyapp.conversations import retention
from energyapp.conversations.models import Conversation
from energyapp.db import utcnow
from tests.conftest import UserFactory, make_settings
from tests.conversations.conftest import ConversationFactory


def test_one_hour_is_the_shortest_life(db_url: str) -> None:
    assert make_settings(db_url, temporary_chat_hours=1).temporary_chat_hours == 1
    with pytest.raises(SettingsError) as info:
        make_settings(db_url, temporary_chat_hours=0)
    assert "temporary_chat_hours" in str(info.value)


async def test_the_run_deletes_a_temporary_chat_past_one_hour(
    make_user: UserFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    db_url: str,
) -> None:
    settings = make_settings(db_url, temporary_chat_hours=1)
    ana = await make_user()
    now = utcnow()
    gone = await make_conversation(
        ana, "Hace dos horas", ["a", "b"], temporary=True, updated_at=now - timedelta(hours=2)
    )
    await make_conversation(
        ana, "Hace media hora", ["a", "b"], temporary=True, updated_at=now - timedelta(minutes=30)
    )
    await make_conversation(ana, "Normal", ["a", "b"], updated_at=now - timedelta(hours=2))

    summary = await retention.run(sessionmaker, settings)

    assert (summary.conversations, summary.messages) == (1, 2)
    async with sessionmaker() as session:
        titles = set((await session.scalars(select(Conversation.title))).all())
    assert titles == {"Hace media hora", "Normal"}
    assert gone.title not in titles
