"""A temporary chat started through POST /chat: created temporary, named by its first words with
no title request to the model (now or after it is saved), not listed, continued by id; an
existing conversation cannot become temporary."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.chat import prompt
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import LiveApp, ask, collect, load_conversation, named
from tests.conftest import HeadersFactory, UserFactory


async def test_a_temporary_chat_asks_the_model_for_its_answers_only(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    headers = await auth_headers(await make_user())
    message = "¿Cuánto consume un motor trifásico de diez caballos en vacío?"
    requests = fake[1].config.requests
    async with live_app() as (base, _app):
        async with http.stream(
            "POST", f"{base}/chat", json={"message": message, "temporary": True}, headers=headers
        ) as response:
            assert response.status_code == 200
            events = await collect(response)
        assert named(events, "done")[0]["status"] == "complete"
        assert not named(events, "title")
        conversation_id = events[0][1]["conversation_id"]
        assert len(requests) == 1 and requests[0]["stream"] is True  # the answer, no title

        listed = await http.get(f"{base}/conversations", headers=headers)
        assert listed.json()["items"] == []
        opened = await http.get(f"{base}/conversations/{conversation_id}", headers=headers)
        assert opened.json()["temporary"] is True
        await ask(http, base, headers, message="¿Y con carga?", conversation_id=conversation_id)
        assert len(requests) == 2

        refused = await http.post(
            f"{base}/chat",
            json={"message": "hola", "conversation_id": conversation_id, "temporary": True},
            headers=headers,
        )
        assert refused.status_code == 409
        assert refused.json()["code"] == "temporary_only_at_creation"

        # Saved, it keeps its first words: still no title request at its next answer.
        saved = await http.patch(
            f"{base}/conversations/{conversation_id}", json={"temporary": False}, headers=headers
        )
        assert saved.status_code == 200, saved.text
        await ask(http, base, headers, message="Gracias", conversation_id=conversation_id)
        assert len(requests) == 3 and all(r["stream"] is True for r in requests)
        listed = await http.get(f"{base}/conversations", headers=headers)
        assert [i["id"] for i in listed.json()["items"]] == [conversation_id]

    conversation = await load_conversation(sessionmaker, conversation_id)
    assert conversation.temporary is False
    assert (conversation.title, conversation.title_source) == (
        prompt.provisional_title(message),
        "auto",
    )
