"""POST /chat end to end over real HTTP: streaming, persistence, titles, history, re-attach,
disconnects and stop."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.chat import prompt
from energyapp.chat import service as chat_service
from energyapp.conversations.models import Conversation, Message
from energyapp.db import utcnow
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import (
    LiveApp,
    collect,
    load_conversation,
    load_message,
    named,
    sse_events,
    text_of,
)
from tests.conftest import HeadersFactory, UserFactory


async def test_streams_saves_and_names_a_new_conversation(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    user = await make_user(last_active_at=utcnow() - timedelta(hours=1))
    headers = await auth_headers(user)
    async with live_app() as (base, _app):
        message = "¿Cómo se calcula el factor de potencia de una planta industrial grande?"
        async with http.stream(
            "POST", f"{base}/chat", json={"message": message}, headers=headers
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-store"
            assert response.headers["x-accel-buffering"] == "no"
            events = await collect(response)
        metrics = (await http.get(f"{base}/metrics")).text

    assert events[0][0] == "meta"
    meta = events[0][1]
    done = named(events, "done")[0]
    assert done["status"] == "complete" and done["completion_tokens"] == 16
    assert done["prompt_tokens"] > 0 and done["duration_ms"] >= 0
    assert done["assistant_message_id"] == meta["assistant_message_id"]
    text = text_of(events)
    assert len(text.split()) == 16
    names = [name for name, _ in events]
    assert names.index("done") < names.index("title") == len(names) - 1

    answer = await load_message(sessionmaker, meta["assistant_message_id"])
    question = await load_message(sessionmaker, meta["user_message_id"])
    assert (answer.status, answer.content, answer.completion_tokens) == ("complete", text, 16)
    assert answer.first_token_ms is not None and answer.model == "qwen2.5:3b-instruct"
    assert (question.role, question.content, question.status) == ("user", message, "complete")
    conversation = await load_conversation(sessionmaker, meta["conversation_id"])
    title = named(events, "title")[0]["title"]
    assert conversation.title == title and conversation.title_source == "auto"
    assert 1 <= len(title.split()) <= 6
    assert conversation.message_count == 2 and conversation.user_id == user.id
    async with sessionmaker() as session:
        stored = await session.get(User, user.id)
        assert stored is not None
        assert (stored.conversation_count, stored.message_count) == (1, 2)
        assert stored.last_active_at > user.last_active_at
    # The title request is small and not streamed; the answer got the system prompt.
    answer_request, title_request = fake[1].config.requests[-2:]
    assert answer_request["messages"][0]["role"] == "system"
    assert answer_request["options"]["num_ctx"] == 4096 and answer_request["keep_alive"] == "30m"
    assert title_request["stream"] is False and title_request["options"]["num_predict"] == 24
    # ... and asked as the next turn of the conversation, which is still in Ollama's cache.
    asked = answer_request["messages"]
    assert title_request["messages"][: len(asked)] == asked
    assert title_request["messages"][len(asked) :] == [
        {"role": "assistant", "content": text},
        {"role": "user", "content": prompt.TITLE_INSTRUCTION},
    ]
    assert title_request["options"]["num_ctx"] == answer_request["options"]["num_ctx"]
    assert 'energyapp_generations_finished_total{status="complete"}' in metrics


async def test_follow_up_sends_history_and_keeps_the_title(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        first = await http.post(
            f"{base}/chat", json={"message": "Primera pregunta"}, headers=headers
        )
        first_events = [e async for e in sse_events(first)]
        conversation_id = first_events[0][1]["conversation_id"]
        second = await http.post(
            f"{base}/chat",
            json={"message": "Segunda pregunta", "conversation_id": conversation_id},
            headers=headers,
        )
        second_events = [e async for e in sse_events(second)]
    assert second_events[0][1]["conversation_id"] == conversation_id
    assert not named(second_events, "title")
    sent = fake[1].config.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "Primera pregunta" and sent[3]["content"] == "Segunda pregunta"
    assert sent[2]["content"] == text_of(first_events)
    conversation = await load_conversation(sessionmaker, conversation_id)
    assert conversation.message_count == 4
    assert conversation.title == named(first_events, "title")[0]["title"]


async def test_the_title_keeps_the_conversation_in_the_model_prompt_cache(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    """The stand-in reads prompts like Ollama with one cache slot: only what follows the prefix
    shared with the last prompt and its answer costs. After a title asked as the next turn,
    the model reads only the instruction, and the user's next message only that message."""
    config = fake[1].config
    config.prompt_tokens_per_second = 1_000_000  # counted, not waited for
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        first = await http.post(
            f"{base}/chat", json={"message": "Primera pregunta"}, headers=headers
        )
        first_events = [e async for e in sse_events(first)]
        assert named(first_events, "title")
        second = await http.post(
            f"{base}/chat",
            json={
                "message": "Segunda pregunta",
                "conversation_id": first_events[0][1]["conversation_id"],
            },
            headers=headers,
        )
        assert named([e async for e in sse_events(second)], "done")[0]["status"] == "complete"
    first_answer, title, second_answer = config.evaluated[-3:]
    template = 40 // 4  # the turn markers around a message, in the stand-in's 4 characters
    assert title <= len(prompt.TITLE_INSTRUCTION) // 4 + 2 * template
    assert second_answer <= len("Segunda pregunta") // 4 + 2 * template
    whole = sum(len(m["content"]) for m in config.requests[-1]["messages"]) // 4
    assert first_answer > whole // 2 > second_answer  # the system prompt was read once


async def test_disconnect_mid_answer_still_completes(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.tokens_per_second = 100
    fake[1].config.answer_tokens = 40
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        async with http.stream(
            "POST", f"{base}/chat", json={"message": "Hola"}, headers=headers
        ) as response:
            seen = []
            async for name, data in sse_events(response):
                seen.append((name, data))
                if name == "token":
                    break  # the tab is closed
        answer_id = seen[0][1]["assistant_message_id"]
        for _ in range(200):
            answer = await load_message(sessionmaker, answer_id)
            if answer.status != "streaming":
                break
            await asyncio.sleep(0.05)
    assert answer.status == "complete"
    assert len(answer.content.split()) == 40 and answer.completion_tokens == 40


async def test_reattach_mid_answer_gets_the_whole_text(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.tokens_per_second = 100
    fake[1].config.answer_tokens = 30
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        async with http.stream(
            "POST", f"{base}/chat", json={"message": "Hola"}, headers=headers
        ) as response:
            first_tab = []
            stream = sse_events(response)
            while len(named(first_tab, "token")) < 3:
                first_tab.append(await anext(stream))
            answer_id = first_tab[0][1]["assistant_message_id"]
            url = f"{base}/chat/{answer_id}/stream"
            second, third = await asyncio.gather(
                http.get(url, headers=headers), http.get(url, headers=headers)
            )
            second_tab = [e async for e in sse_events(second)]
            third_tab = [e async for e in sse_events(third)]
            first_tab += [e async for e in stream]
        answer = await load_message(sessionmaker, answer_id)
        # Finished answer, read from the database by a later watcher.
        async with sessionmaker() as session:
            await session.execute(
                Message.__table__.update()
                .where(Message.id == answer.id)
                .values(content="texto guardado")
            )
            await session.commit()
        app_live = _app.state.chat.live
        app_live._answers.pop(answer.id, None)
        late = [e async for e in sse_events(await http.get(url, headers=headers))]

    assert answer.status == "complete" and len(answer.content.split()) == 30
    for tab in (first_tab, second_tab, third_tab):
        assert tab[0][0] == "meta" and tab[0][1]["assistant_message_id"] == answer_id
        assert text_of(tab) == answer.content
        assert named(tab, "done")[0]["status"] == "complete"
    assert len(named(second_tab, "token")) < 30  # coalesced: the text so far came at once
    assert text_of(late) == "texto guardado" and named(late, "done")[0]["status"] == "complete"


async def test_stop_keeps_the_partial_text(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.tokens_per_second = 50
    fake[1].config.answer_tokens = 500
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        async with http.stream(
            "POST", f"{base}/chat", json={"message": "Hola"}, headers=headers
        ) as response:
            events = []
            async for name, data in sse_events(response):
                events.append((name, data))
                if len(named(events, "token")) == 3:
                    answer_id = events[0][1]["assistant_message_id"]
                    stopped = await http.post(f"{base}/chat/{answer_id}/stop", headers=headers)
                    assert stopped.status_code == 200
                    assert stopped.json() == {
                        "assistant_message_id": answer_id,
                        "status": "stopped",
                    }
        again = await http.post(f"{base}/chat/{answer_id}/stop", headers=headers)
    assert again.json()["status"] == "stopped"
    assert named(events, "done")[0]["status"] == "stopped"
    assert not named(events, "title")
    answer = await load_message(sessionmaker, answer_id)
    assert answer.status == "stopped" and answer.content == text_of(events)
    assert 3 <= len(answer.content.split()) < 500


async def test_a_stop_while_the_end_is_being_saved_waits_for_it(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stop that arrives when the answer is already whole, while its end is being saved (a
    slow database, a retry), does not cut that save short: the answer is saved ``complete``,
    its watchers get ``done`` and its title, and the stop reports the status it ended with."""
    real = chat_service.finish_answer
    saving, resume = asyncio.Event(), asyncio.Event()

    async def slow_save(*args: Any, **kwargs: Any) -> bool:
        saving.set()
        await resume.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(chat_service, "finish_answer", slow_save)
    headers = await auth_headers(await make_user())
    async with (
        live_app() as (base, _app),
        asyncio.timeout(20),
        http.stream("POST", f"{base}/chat", json={"message": "Hola"}, headers=headers) as response,
    ):
        stream = sse_events(response)
        answer_id = (await anext(stream))[1]["assistant_message_id"]
        await saving.wait()
        stop = asyncio.ensure_future(http.post(f"{base}/chat/{answer_id}/stop", headers=headers))
        await asyncio.sleep(0.2)
        assert not stop.done()  # waiting for the save, not cancelling it
        resume.set()
        stopped = await stop
        events = [event async for event in stream]
    assert stopped.status_code == 200
    assert stopped.json() == {"assistant_message_id": answer_id, "status": "complete"}
    assert named(events, "done")[0]["status"] == "complete"
    assert named(events, "title")
    answer = await load_message(sessionmaker, answer_id)
    assert answer.status == "complete" and answer.content == text_of(events)


async def test_two_stops_at_once_cancel_the_answer_once(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two stops of the same answer in the same instant (two tabs, a double click) cancel its
    task once: the end is saved by a task that is no longer being cancelled, as ``stopped``,
    with the text kept."""
    fake[1].config.tokens_per_second = 50
    fake[1].config.answer_tokens = 500
    real = chat_service.finish_answer
    cancelling: list[int] = []

    async def recording_save(*args: Any, **kwargs: Any) -> bool:
        task = asyncio.current_task()
        assert task is not None
        cancelling.append(task.cancelling())
        return await real(*args, **kwargs)

    monkeypatch.setattr(chat_service, "finish_answer", recording_save)
    headers = await auth_headers(await make_user())
    async with (
        live_app() as (base, app),
        asyncio.timeout(20),
        http.stream("POST", f"{base}/chat", json={"message": "Hola"}, headers=headers) as response,
    ):
        stream = sse_events(response)
        answer_id = (await anext(stream))[1]["assistant_message_id"]
        async for name, _data in stream:
            if name == "token":
                break
        engine = app.state.chat
        answer = engine.live.get(uuid.UUID(answer_id))
        assert answer is not None
        await asyncio.gather(engine.stop(answer), engine.stop(answer))
        events = [event async for event in stream]
    assert cancelling == [0]
    assert named(events, "done")[0]["status"] == "stopped"
    stored = await load_message(sessionmaker, answer_id)
    assert stored.status == "stopped" and stored.content


async def test_models_lists_the_default(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.models = ("qwen2.5:3b-instruct", "llama3.2:1b")
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        assert (await http.get(f"{base}/models")).status_code == 401
        body = (await http.get(f"{base}/models", headers=headers)).json()
        ok = await http.post(
            f"{base}/chat", json={"message": "Hola", "model": "llama3.2:1b"}, headers=headers
        )
        events = [e async for e in sse_events(ok)]
    assert body["default_model"] == "qwen2.5:3b-instruct"
    assert [(m["name"], m["default"]) for m in body["models"]] == [
        ("qwen2.5:3b-instruct", True),
        ("llama3.2:1b", False),
    ]
    assert all(m["stand_in"] for m in body["models"])  # the UI labels them synthetic
    assert named(events, "done")[0]["status"] == "complete"
    chat_requests = [r for r in fake[1].config.requests if r.get("stream", True)]
    assert chat_requests[-1]["model"] == "llama3.2:1b"


async def test_a_title_set_by_a_person_is_never_overwritten(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.tokens_per_second = 100
    fake[1].config.answer_tokens = 50
    headers = await auth_headers(await make_user())
    async with (
        live_app() as (base, _app),
        http.stream(
            "POST",
            f"{base}/chat",
            json={"message": "Una pregunta larga de verdad"},
            headers=headers,
        ) as response,
    ):
        stream = sse_events(response)
        events = [await anext(stream)]
        conversation_id = events[0][1]["conversation_id"]
        provisional = await load_conversation(sessionmaker, conversation_id)
        async with sessionmaker() as session:
            await session.execute(
                Conversation.__table__.update()
                .where(Conversation.id == provisional.id)
                .values(title="Mi título", title_source="user")
            )
            await session.commit()
        events += [e async for e in stream]
    assert (
        provisional.title == "Una pregunta larga de verdad"
        and provisional.title_source == "pending"
    )
    assert named(events, "done")[0]["status"] == "complete" and not named(events, "title")
    conversation = await load_conversation(sessionmaker, conversation_id)
    assert (conversation.title, conversation.title_source) == ("Mi título", "user")
