"""Deleting a conversation whose answer is being generated (the sidebar's "Eliminar" while the
answer streams, in this tab or another)."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations import counters
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import Event, LiveApp, named, open_chat, read_until
from tests.conftest import HeadersFactory, UserFactory


async def test_deleting_a_conversation_stops_its_answer(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    # The answer used to run to its end for nobody, holding a model slot that people waiting
    # in the queue needed (here 10 s of it).
    fake[1].config.tokens_per_second = 20
    fake[1].config.answer_tokens = 200
    user = await make_user()
    headers = await auth_headers(user)
    async with live_app() as (base, _app):
        response, stream = await open_chat(http, base, headers, message="Un informe largo")
        events: list[Event] = []
        await read_until(stream, events, "token")
        conversation_id = events[0][1]["conversation_id"]
        deleted = await http.delete(f"{base}/conversations/{conversation_id}", headers=headers)
        assert deleted.status_code == 204, deleted.text
        events += [event async for event in stream]
        await response.aclose()
        done = named(events, "done")
        assert done and done[0]["status"] == "stopped", events[-3:]
        assert len(named(events, "token")) < 100
        listed = await http.get(f"{base}/conversations", headers=headers)
        assert listed.json()["items"] == []
    async with sessionmaker.begin() as session:
        assert await counters.reconcile(session) == counters.Reconciled(0, 0)
