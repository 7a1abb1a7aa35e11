"""Folders written at the same time: the name and cap checks of one person see each other's rows
(no two folders with one name), and a conversation is never left pointing at a folder deleted
while it was being filed."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.conversations import service as conversations_service
from energyapp.conversations.models import Conversation
from energyapp.conversations.schemas import ConversationUpdate
from energyapp.errors import Conflict, NotFound
from energyapp.folders import service
from energyapp.folders.models import Folder
from tests.conftest import UserFactory
from tests.conversations.conftest import ConversationFactory


async def _committed_folder(
    sessionmaker: async_sessionmaker[AsyncSession], owner_id: uuid.UUID, name: str
) -> uuid.UUID:
    async with sessionmaker() as session:
        owner = await session.get(User, owner_id)
        assert owner is not None
        folder_id = (await service.create(session, owner, name)).id
        await session.commit()
    return folder_id


async def test_two_creations_of_one_name_at_once_get_one_folder_and_a_409(
    sessionmaker: async_sessionmaker[AsyncSession], make_user: UserFactory
) -> None:
    person = await make_user()
    async with sessionmaker() as one, sessionmaker() as other:
        user_one = await one.get(User, person.id)
        user_other = await other.get(User, person.id)
        assert user_one is not None and user_other is not None
        await service.create(one, user_one, "Informes")
        # The second request's transaction started before the first one committed its row.
        late = asyncio.create_task(service.create(other, user_other, "INFORMES"))
        await asyncio.sleep(0.3)
        await one.commit()
        with pytest.raises(Conflict) as refused:
            await asyncio.wait_for(late, timeout=15)
        assert refused.value.code == "folder_name_taken"
        await other.rollback()
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Folder).where(Folder.user_id == person.id)
        )
    assert count == 1


async def test_a_folder_deleted_while_a_conversation_is_filed_waits_for_it(
    sessionmaker: async_sessionmaker[AsyncSession],
    make_user: UserFactory,
    make_conversation: ConversationFactory,
) -> None:
    person = await make_user()
    conversation = await make_conversation(person)
    folder_id = await _committed_folder(sessionmaker, person.id, "Efímera")
    async with sessionmaker() as filing, sessionmaker() as deleting:
        row = await filing.get(Conversation, conversation.id)
        assert row is not None
        await service.file_conversation(filing, row, folder_id)
        await filing.flush()
        folder = await deleting.get(Folder, folder_id)
        assert folder is not None
        late = asyncio.create_task(service.delete(deleting, folder))
        await asyncio.sleep(0.3)
        await filing.commit()
        await asyncio.wait_for(late, timeout=15)
        await deleting.commit()
    async with sessionmaker() as session:
        stored = await session.get(Conversation, conversation.id)
        assert stored is not None and stored.folder_id is None


async def test_a_conversation_reassigned_while_being_filed_stays_out_of_the_old_owners_folder(
    sessionmaker: async_sessionmaker[AsyncSession],
    make_user: UserFactory,
    make_conversation: ConversationFactory,
) -> None:
    ana, bea = await make_user(), await make_user()
    conversation = await make_conversation(ana)
    folder_id = await _committed_folder(sessionmaker, ana.id, "De Ana")
    async with sessionmaker() as filing, sessionmaker() as reassigning:
        # Ana's PATCH has loaded her conversation when an admin gives it to Bea.
        row = await filing.get(Conversation, conversation.id)
        assert row is not None
        moved = await reassigning.get(Conversation, conversation.id)
        assert moved is not None
        conversations_service.leave_owner(moved, bea.id)
        await reassigning.commit()
        with pytest.raises(NotFound):
            await conversations_service.update_conversation(
                filing, row, ConversationUpdate(folder_id=folder_id)
            )
        await filing.rollback()
    async with sessionmaker() as session:
        stored = await session.get(Conversation, conversation.id)
        assert stored is not None and stored.user_id == bea.id and stored.folder_id is None
