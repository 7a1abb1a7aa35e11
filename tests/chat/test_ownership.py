"""One process owns the chat runtime of a database: only it marks the answers a crash left
``streaming`` as interrupted, and a second process started on the same database leaves the
first one's answers alone."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from energyapp.chat.ownership import ownership_for
from energyapp.conversations.models import Conversation, Message
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import Event, LiveApp, load_message, named, open_chat, read_until
from tests.conftest import HeadersFactory, UserFactory

pytestmark = pytest.mark.local_broker  # crash recovery by start-up ownership


async def test_ownership_is_held_by_one_at_a_time(engine: AsyncEngine) -> None:
    first, second = ownership_for(engine), ownership_for(engine)
    assert await first.acquire() is True
    try:
        assert await second.acquire() is False
    finally:
        await first.release()
    assert await second.acquire() is True
    await second.release()


async def test_a_second_process_leaves_the_owners_answers_alone(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.tokens_per_second = 40
    fake[1].config.answer_tokens = 60
    user = await make_user()
    headers = await auth_headers(user)
    async with live_app() as (base, _owner):
        _response, stream = await open_chat(http, base, headers)
        events: list[Event] = []
        await read_until(stream, events, "token")
        answer_id = events[0][1]["assistant_message_id"]
        async with live_app() as (_other_base, _other):
            # The second app started while the owner writes the answer.
            assert (await load_message(sessionmaker, answer_id)).status == "streaming"
        events.extend([event async for event in stream])
    assert named(events, "done")[0]["status"] == "complete"
    assert (await load_message(sessionmaker, answer_id)).status == "complete"


async def test_the_next_owner_recovers_what_a_crash_left(
    live_app: LiveApp,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    async with sessionmaker() as session:
        conversation = Conversation(user_id=user.id, title="Corte")
        session.add(conversation)
        await session.flush()
        left = Message(
            conversation_id=conversation.id,
            user_id=user.id,
            role="assistant",
            content="A medias",
            status="streaming",
        )
        session.add(left)
        await session.commit()
    async with live_app():
        pass  # the owner recovers at start and gives ownership back at shutdown
    async with live_app():
        pass
    stored = await load_message(sessionmaker, str(left.id))
    assert stored.status == "interrupted" and stored.content == "A medias"
