"""The usage ledger on the less travelled ends of an answer: a save retried after a commit that
held but was reported failed, a crash that left an answer ``streaming``, and an answer that ends
while its conversation is being deleted. Each generation is one row, never two, never none."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.chat import runner
from energyapp.chat import service as chat_service
from energyapp.conversations.models import Conversation, Message
from energyapp.llm.fake_server import FakeOllama
from energyapp.openai_api import service as openai_service
from energyapp.usage.models import UsageEvent
from tests.chat.conftest import LiveApp, collect, load_message, sse_events
from tests.conftest import HeadersFactory, UserFactory
from tests.openai_api.conftest import new_key


async def _events(sessionmaker: async_sessionmaker[AsyncSession], user: User) -> list[UsageEvent]:
    async with sessionmaker() as session:
        query = select(UsageEvent).where(UsageEvent.user_id == user.id)
        return list(await session.scalars(query.order_by(UsageEvent.created_at)))


async def _settled(sessionmaker: async_sessionmaker[AsyncSession], answer_id: str) -> Message:
    for _ in range(200):
        answer = await load_message(sessionmaker, answer_id)
        if answer.status != "streaming":
            return answer
        await asyncio.sleep(0.05)
    raise AssertionError("the answer's end was never saved")


async def test_a_commit_that_held_but_was_reported_failed_is_retried_without_a_second_row(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connection can drop after the database committed and before it said so: the runner
    retries the whole end, which must not charge the generation twice."""
    real = runner._save_end
    lost_replies = {"left": 1}

    async def commit_then_lose_the_reply(*args: Any, **kwargs: Any) -> bool | Exception:
        saved = await real(*args, **kwargs)
        if lost_replies["left"]:
            lost_replies["left"] -= 1
            return OSError("connection reset after COMMIT")
        return saved

    monkeypatch.setattr(runner, "_save_end", commit_then_lose_the_reply)
    monkeypatch.setattr(runner, "FINAL_SAVE_RETRY_DELAYS", (0.01,))
    user = await make_user()
    headers = await auth_headers(user)
    async with live_app() as (base, _app):
        async with http.stream(
            "POST", f"{base}/chat", json={"message": "Hola"}, headers=headers
        ) as response:
            events = await collect(response)
        answer_id = events[0][1]["assistant_message_id"]
        for _ in range(100):
            if not lost_replies["left"] and len(await _events(sessionmaker, user)) >= 1:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # the retry lands meanwhile
    answer = await load_message(sessionmaker, answer_id)
    rows = await _events(sessionmaker, user)
    assert answer.status == "complete"
    assert [(e.message_id, e.answers, e.messages) for e in rows] == [(answer.id, 1, 2)]
    assert rows[0].completion_tokens == answer.completion_tokens


@pytest.mark.local_broker  # crash recovery by start-up ownership
async def test_answers_a_crash_left_streaming_are_charged_once_at_recovery(
    live_app: LiveApp,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A generation the crash cut has no counts (Ollama gives them at the end), but it was
    asked: the report keeps counting its answer and the messages it added, as before."""
    user = await make_user()
    async with sessionmaker() as session:
        conversation = Conversation(user_id=user.id, title="Antes del corte")
        session.add(conversation)
        await session.flush()
        question = Message(id=uuid.uuid4(), conversation_id=conversation.id, user_id=user.id,
                           role="user", content="¿Y?")  # fmt: skip
        cut = Message(id=uuid.uuid4(), parent_id=question.id, conversation_id=conversation.id,
                      user_id=user.id, role="assistant", content="Texto", status="streaming",
                      model="fake")  # fmt: skip
        # An answer being continued: its earlier generation was charged already.
        continued = Message(parent_id=question.id, conversation_id=conversation.id,
                            user_id=user.id, role="assistant", content="Largo", model="fake",
                            status="streaming", prompt_tokens=5, completion_tokens=7)  # fmt: skip
        session.add_all([question, cut, continued])
        await session.commit()
    async with live_app() as (_base, _app):
        pass
    async with live_app() as (_base, _app):  # a second start finds nothing more to charge
        pass
    rows = await _events(sessionmaker, user)
    assert sorted(
        (e.message_id == cut.id, e.status, e.messages, e.answers, e.prompt_tokens) for e in rows
    ) == [(False, "interrupted", 0, 0, 0), (True, "interrupted", 1, 1, 0)]


async def test_an_answer_ending_while_its_conversation_is_deleted_is_charged_once(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.tokens_per_second = 40
    user = await make_user()
    headers = await auth_headers(user)
    async with live_app() as (base, _app):
        async with http.stream(
            "POST", f"{base}/chat", json={"message": "Hola"}, headers=headers
        ) as response:
            async for _name, meta in sse_events(response):
                conversation_id = meta["conversation_id"]
                break
        deleted = await http.delete(f"{base}/conversations/{conversation_id}", headers=headers)
        assert deleted.status_code == 204, deleted.text
        for _ in range(100):
            if await _events(sessionmaker, user):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
    rows = await _events(sessionmaker, user)
    assert len(rows) == 1 and rows[0].answers == 1


async def _started(response: httpx.Response) -> str:
    async for _name, meta in sse_events(response):
        return str(meta["assistant_message_id"])
    raise AssertionError("no meta event")


@pytest.mark.parametrize("ending", ["stopped", "error", "client_gone"])
async def test_an_answer_cut_short_is_charged_once_with_what_it_cost(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
    ending: str,
) -> None:
    """Stopped by its owner, an error line from Ollama mid-answer, or a client that went away
    (the answer goes on and ends): one row each, with the answer's status and counts."""
    fake[1].config.tokens_per_second = 50
    fake[1].config.answer_tokens = 30
    if ending == "error":
        fake[1].config.fail_after_tokens = 3
    user = await make_user()
    headers = await auth_headers(user)
    async with live_app() as (base, _app):
        async with http.stream(
            "POST", f"{base}/chat", json={"message": "Hola"}, headers=headers
        ) as response:
            answer_id = await _started(response)
            if ending == "stopped":
                await asyncio.sleep(0.1)
                stop = await http.post(f"{base}/chat/{answer_id}/stop", headers=headers)
                assert stop.status_code == 200, stop.text
        answer = await _settled(sessionmaker, answer_id)
        await asyncio.sleep(0.2)
    rows = await _events(sessionmaker, user)
    expected = {"stopped": "stopped", "error": "error", "client_gone": "complete"}[ending]
    assert answer.status == expected
    assert [(e.status, e.answers, e.messages, e.message_id) for e in rows] == [
        (expected, 1, 2, answer.id)
    ]
    assert rows[0].prompt_tokens == (answer.prompt_tokens or 0)
    assert rows[0].completion_tokens == (answer.completion_tokens or 0)


async def test_a_stored_api_answer_whose_commit_held_but_was_reported_failed_counts_once(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``store: true`` saves the conversation and the usage together; should that commit hold
    but report a failure, the usage saved alone afterwards must not count the answer twice."""
    real_record = openai_service._record
    lost_replies = {"left": 1}

    class LosesTheFirstReply:
        def __init__(self, real: async_sessionmaker[AsyncSession]) -> None:
            self.real = real

        @contextlib.asynccontextmanager
        async def begin(self) -> AsyncIterator[AsyncSession]:
            async with self.real.begin() as session:
                yield session
            if lost_replies["left"]:  # committed: only the reply is lost
                lost_replies["left"] -= 1
                raise OSError("connection reset after COMMIT")

    async def record(real: async_sessionmaker[AsyncSession], completion: Any) -> None:
        await real_record(LosesTheFirstReply(real), completion)  # type: ignore[arg-type]

    monkeypatch.setattr(openai_service, "_record", record)
    user = await make_user()
    headers = await auth_headers(user)
    async with live_app() as (base, _app):
        key = {"Authorization": f"Bearer {await new_key(http, base, headers, 'Script')}"}
        answered = await http.post(
            f"{base}/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "Hola"}], "store": True},
            headers=key,
        )
        assert answered.status_code == 200, answered.text
    assert not lost_replies["left"]
    rows = await _events(sessionmaker, user)
    assert [(e.source, e.messages, e.message_id is None) for e in rows] == [("api", 2, False)]
    assert (
        rows[0].prompt_tokens + rows[0].completion_tokens
        == (answered.json()["usage"]["total_tokens"])
    )


@pytest.mark.postgres_only
async def test_two_processes_recovering_the_same_answer_charge_it_once(
    make_user: UserFactory, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Two processes may both find a dead process's answer: the second waits for the first's
    row lock, finds the answer no longer ``streaming`` and charges nothing (nor fails)."""
    user = await make_user()
    async with sessionmaker.begin() as session:
        conversation = Conversation(user_id=user.id, title="Corte")
        session.add(conversation)
        await session.flush()
        question = Message(id=uuid.uuid4(), conversation_id=conversation.id, user_id=user.id,
                           role="user", content="¿Y?")  # fmt: skip
        cut = Message(id=uuid.uuid4(), parent_id=question.id, conversation_id=conversation.id,
                      user_id=user.id, role="assistant", status="streaming")  # fmt: skip
        session.add_all([question, cut])
    async with sessionmaker() as first, sessionmaker() as second:
        assert await chat_service.interrupt_answers(first, [cut.id]) == 1
        late = asyncio.create_task(chat_service.interrupt_answers(second, [cut.id]))
        await asyncio.sleep(0.3)  # blocked on the row lock
        await first.commit()
        assert await late == 0
        await second.commit()
    rows = await _events(sessionmaker, user)
    assert [(e.message_id, e.status, e.messages) for e in rows] == [(cut.id, "interrupted", 2)]
