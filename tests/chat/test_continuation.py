""" "Continuar": ``POST /chat`` with ``continue_message_id`` writes on an answer the length cap
cut, in the same message (chat/continuation.py): what the model is sent, what is stored and
counted, the refusals, and that a stop or a failure never loses the text it had."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.chat import runner
from energyapp.chat.live import LiveAnswer, LocalLiveAnswers
from energyapp.chat.redis_broker import RedisBroker
from energyapp.conversations.models import Message
from energyapp.core.redis import async_redis
from energyapp.core.tokens import answer_reserve
from energyapp.llm import fake_server
from energyapp.llm.fake_server import FakeOllama
from energyapp.usage.quota import quota_day_bounds
from tests.chat.conftest import (
    LiveApp,
    collect,
    load_conversation,
    load_message,
    named,
    open_chat,
    read_until,
    sse_events,
    text_of,
)
from tests.chat.test_redis_broker import broker, prefix, two_apps
from tests.chat.test_redis_queue import REDIS_URL, redis
from tests.conftest import HeadersFactory, UserFactory, make_settings

__all__ = ["prefix", "redis"]  # the fixtures

NUM_CTX = 512
CAP = answer_reserve(NUM_CTX)  # 128 tokens
Events = list[tuple[str, dict[str, Any]]]


async def _post(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], **body: Any
) -> tuple[int, Events, dict[str, Any]]:
    """``POST /chat``: (status, its events when 200, its JSON error otherwise)."""
    async with http.stream("POST", f"{base}/chat", json=body, headers=headers) as response:
        if response.status_code != 200:
            return response.status_code, [], json.loads(await response.aread())
        return 200, await collect(response), {}


async def _cut_answer(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], fake: FakeOllama, **body: Any
) -> dict[str, str]:
    """A new answer the cap cuts: the ``meta`` ids and its text."""
    fake.config.answer_tokens = 1000
    status, events, _ = await _post(http, base, headers, message="Cuénteme todo", **body)
    assert status == 200
    assert named(events, "done")[0]["finish_reason"] == "length"
    return {**events[0][1], "text": text_of(events)}


def _continue(asked: dict[str, str]) -> dict[str, str]:
    return {
        "conversation_id": asked["conversation_id"],
        "continue_message_id": asked["assistant_message_id"],
    }


async def test_continue_writes_on_the_same_answer(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    stand_in = fake[1]
    stand_in.config.prompt_tokens_per_second = 1e9  # its prompt cache, at no cost
    async with live_app(num_ctx=NUM_CTX) as (base, _app):
        asked = await _cut_answer(http, base, headers, stand_in)
        answer_id = asked["assistant_message_id"]
        before = await load_message(sessionmaker, answer_id)
        assert before.content == asked["text"] and before.completion_tokens == CAP

        status, events, _ = await _post(http, base, headers, **_continue(asked))
        assert status == 200
        assert events[0] == ("meta", {
            "conversation_id": asked["conversation_id"],
            "user_message_id": asked["user_message_id"],
            "assistant_message_id": answer_id,
        })  # fmt: skip
        # The model is sent the same prompt with the answer so far last, as the assistant's,
        # capped as any answer; its server finds all of it in its cache.
        sent = stand_in.config.requests[-1]
        assert sent["messages"][-1] == {"role": "assistant", "content": asked["text"]}
        assert sent["messages"][-2] == {"role": "user", "content": "Cuénteme todo"}
        assert sent["options"]["num_predict"] == CAP
        assert stand_in.config.evaluated[-1] == 1
        # The stream gives the whole text; the same message holds it, its counts added up.
        done = named(events, "done")[0]
        assert (done["status"], done["finish_reason"]) == ("complete", "length")
        whole = text_of(events)
        assert whole.startswith(asked["text"]) and len(whole) > len(asked["text"])
        after = await load_message(sessionmaker, answer_id)
        assert (after.content, after.status, after.finish_reason) == (whole, "complete", "length")
        assert after.completion_tokens == done["completion_tokens"] == 2 * CAP
        assert before.prompt_tokens is not None and after.prompt_tokens is not None
        assert after.prompt_tokens > 2 * before.prompt_tokens  # the answer so far was sent too
        assert before.duration_ms is not None and after.duration_ms is not None
        assert after.duration_ms >= before.duration_ms
        # The ``done`` event carries the times as saved (both parts'), for the speed shown.
        assert (done["duration_ms"], done["first_token_ms"]) == (
            after.duration_ms,
            after.first_token_ms,
        )
        assert before.first_token_ms is not None and after.first_token_ms is not None
        assert after.first_token_ms >= before.first_token_ms
        conversation = await load_conversation(sessionmaker, asked["conversation_id"])
        assert conversation.message_count == 2

        # Cut again, continued again; this time the model ends it: no more "Continuar".
        stand_in.config.answer_tokens = 5
        status, events, _ = await _post(http, base, headers, **_continue(asked))
        assert named(events, "done")[0]["finish_reason"] == "stop"
        final = await load_message(sessionmaker, answer_id)
        assert final.content.startswith(whole) and final.completion_tokens == 2 * CAP + 5
        status, _, error = await _post(http, base, headers, **_continue(asked))
        assert (status, error["code"]) == (409, "not_cut")


async def test_continue_is_refused_where_it_does_not_apply(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    headers = await auth_headers(await make_user())
    other = await auth_headers(await make_user())
    async with live_app(num_ctx=NUM_CTX) as (base, _app):
        asked = await _cut_answer(http, base, headers, fake[1])
        cid = asked["conversation_id"]
        refusals = [
            # Someone else's: as missing.
            (other, _continue(asked), 404, "not_found"),
            # The question, or a message of no conversation of this one.
            (headers, {"conversation_id": cid, "continue_message_id": asked["user_message_id"]},
             404, "message_not_found"),
            (headers, {"conversation_id": cid, "continue_message_id": str(uuid.uuid4())},
             404, "message_not_found"),
            # Only with the conversation, and nothing else asked.
            (headers, {"continue_message_id": asked["assistant_message_id"]},
             422, "conversation_required"),
            (headers, {**_continue(asked), "message": "Y además"}, 422, "invalid_continue"),
            (headers, {**_continue(asked), "regenerate": True}, 422, "invalid_continue"),
            # Temporary from its creation only: not ignored, as anything else asked.
            (headers, {**_continue(asked), "temporary": True}, 422, "invalid_continue"),
        ]  # fmt: skip
        for who, body, status, code in refusals:
            got, _, error = await _post(http, base, who, **body)
            assert (got, error.get("code")) == (status, code), body
            assert isinstance(error["detail"], str) and error["detail"]

        # A question below it: no longer the last answer of its branch.
        fake[1].config.answer_tokens = 5
        later = await _post(http, base, headers, message="Otra cosa", conversation_id=cid)
        assert later[0] == 200
        got, _, error = await _post(http, base, headers, **_continue(asked))
        assert (got, error["code"]) == (409, "not_last_answer")
        # An answer the model ended.
        last = named(later[1], "done")[0]["assistant_message_id"]
        got, _, error = await _post(
            http, base, headers, conversation_id=cid, continue_message_id=last
        )
        assert (got, error["code"]) == (409, "not_cut")


async def test_only_its_own_person_continues_an_answer_and_only_on_its_day(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    """A continuation's tokens go to its answer, which usage and the quota count by its person
    and its day: yesterday's cut answer continued would escape today's quota, and an answer of a
    conversation's earlier owner would be charged to them."""
    user = await make_user()
    headers = await auth_headers(user)
    async with live_app(num_ctx=NUM_CTX) as (base, _app):
        asked = await _cut_answer(http, base, headers, fake[1])
        answer_id = uuid.UUID(asked["assistant_message_id"])
        start, _ = quota_day_bounds()
        async with sessionmaker() as session:
            await session.execute(
                update(Message)
                .where(Message.id == answer_id)
                .values(created_at=start - timedelta(minutes=1))
            )
            await session.commit()
        got, _, error = await _post(http, base, headers, **_continue(asked))
        assert (got, error["code"]) == (409, "continue_too_late")

        earlier_owner = await make_user()
        async with sessionmaker() as session:
            await session.execute(
                update(Message)
                .where(Message.id == answer_id)
                .values(created_at=start + timedelta(minutes=1), user_id=earlier_owner.id)
            )
            await session.commit()
        got, _, error = await _post(http, base, headers, **_continue(asked))
        assert (got, error["code"]) == (409, "answer_of_another")
        message = await load_message(sessionmaker, str(answer_id))
        assert (message.status, message.finish_reason) == ("complete", "length")
        # The list tells which messages were written for the caller, so the UI offers no
        # "Continuar" under an earlier owner's answer.
        listed = await http.get(
            f"{base}/conversations/{asked['conversation_id']}/messages", headers=headers
        )
        yours = {item["role"]: item["yours"] for item in listed.json()["items"]}
        assert yours == {"user": True, "assistant": False}


async def test_a_stopped_continuation_keeps_the_text_it_had(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    headers = await auth_headers(await make_user())
    async with live_app(num_ctx=NUM_CTX) as (base, _app):
        asked = await _cut_answer(http, base, headers, fake[1])
        answer_id = asked["assistant_message_id"]
        before = await load_message(sessionmaker, answer_id)
        fake[1].config.tokens_per_second = 20
        response, stream = await open_chat(http, base, headers, message="", **_continue(asked))
        events: Events = []
        await read_until(stream, events, "token")
        while len(text_of(events)) <= len(asked["text"]):  # the text so far, then new tokens
            events.append(await anext(stream))
        assert text_of(events).startswith(asked["text"])
        assert (await load_message(sessionmaker, answer_id)).status == "streaming"
        # One answer at a time, a continuation's too; and not the same one twice.
        got, _, error = await _post(http, base, headers, **_continue(asked))
        assert (got, error["code"]) == (409, "answer_streaming")
        got, _, error = await _post(http, base, headers, message="Otra conversación")
        assert (got, error["code"]) == (429, "generation_in_progress")
        # A re-attach (a reload) replays the whole answer, not only what the continuation added.
        async with http.stream("GET", f"{base}/chat/{answer_id}/stream", headers=headers) as r:
            replay: Events = []
            await read_until(sse_events(r), replay, "token")
        assert text_of(replay).startswith(asked["text"])
        stopped = await http.post(f"{base}/chat/{answer_id}/stop", headers=headers)
        assert stopped.json()["status"] == "stopped"
        await response.aclose()
        after = await load_message(sessionmaker, answer_id)
        assert after.status == "stopped" and after.content.startswith(asked["text"])
        assert len(after.content) > len(asked["text"])
        # An unfinished continuation adds no tokens; the answer's own stay counted.
        assert (after.prompt_tokens, after.completion_tokens) == (
            before.prompt_tokens, before.completion_tokens,
        )  # fmt: skip
        assert after.finish_reason is None


async def test_a_failed_continuation_keeps_the_text_it_had(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    headers = await auth_headers(await make_user())
    async with live_app(num_ctx=NUM_CTX) as (base, _app):
        asked = await _cut_answer(http, base, headers, fake[1])
        answer_id = asked["assistant_message_id"]
        fake[1].config.fail_after_tokens = 0  # an error line before any new text
        status, events, _ = await _post(http, base, headers, **_continue(asked))
        assert status == 200 and named(events, "error")[0]["code"] == "llm_error"
        assert named(events, "done")[0]["status"] == "error"
        after = await load_message(sessionmaker, answer_id)
        assert (after.status, after.content) == ("error", asked["text"])
        assert after.completion_tokens == CAP

        # Ollama away: the same.
        fake[1].config.fail_after_tokens = None
        asked = await _cut_answer(http, base, headers, fake[1])
    async with live_app(num_ctx=NUM_CTX, ollama_url="http://127.0.0.1:9") as (base, _app):
        status, events, _ = await _post(http, base, headers, **_continue(asked))
        assert named(events, "error")[0]["code"] == "llm_unavailable"
        after = await load_message(sessionmaker, asked["assistant_message_id"])
        assert (after.status, after.content) == ("error", asked["text"])


@pytest.mark.no_database
async def test_a_continuation_is_not_forgotten_with_the_generation_before_it() -> None:
    """The registry forgets a closed answer after a short retention; a continuation that took
    its place meanwhile (same id) stays, or its stop and re-attach would find nothing."""
    live = LocalLiveAnswers(retention_seconds=0.01)
    ids = [uuid.uuid4() for _ in range(4)]
    before = LiveAnswer(*ids)
    live.add(before)
    live.release(before.id)
    again = LiveAnswer(*ids)
    live.add(again)
    await asyncio.sleep(0.05)
    assert live.get(before.id) is again
    live.release(again.id)
    await asyncio.sleep(0.05)
    assert live.get(before.id) is None


@pytest.mark.no_database
async def test_a_continued_answer_s_redis_stream_starts_after_its_previous_one(
    redis: Redis,
) -> None:
    """With the Redis broker, a continuation's events go to the answer's stream anew: the copy
    of the previous generation's last events (and its end) must be over first, or a watcher
    of the continuation would read an end at once."""
    prefix = redis.prefix  # type: ignore[attr-defined]
    settings = make_settings("sqlite+aiosqlite://", redis_url=REDIS_URL, redis_prefix=prefix)
    broker = RedisBroker(settings, async_redis(REDIS_URL, decode_responses=True))
    ids = [uuid.uuid4() for _ in range(4)]
    try:
        before = LiveAnswer(*ids)
        await broker.claim(before)
        broker.publish(before)
        before.publish("Hola")
        before.finish([("done", {"status": "complete"})])
        before.close()
        again = LiveAnswer(*ids)
        again.publish("Hola")
        await broker.claim(again, again=True)
        broker.publish(again)
        again.publish(" mundo")
        again.finish([("done", {"status": "complete"})])
        again.close()
        for _ in range(50):
            entries = await redis.xrange(broker.keys.stream(ids[0]))
            if entries and entries[-1][1]["e"] == "end":
                break
            await asyncio.sleep(0.05)
        assert [fields["e"] for _, fields in entries] == ["open", "token", "done", "end"]
        assert json.loads(entries[1][1]["d"]) == {"content": "Hola mundo"}
    finally:
        await broker.close()


async def test_a_continuation_on_another_process_is_stopped_from_the_first(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
    prefix: str,
) -> None:
    """With the Redis broker, the process that wrote the answer keeps its closed generation a
    moment: a stop sent there while another process writes the continuation stops that one
    (before, it answered the old generation's status, and the continuation went on)."""
    stand_in = fake[1]
    headers = await auth_headers(await make_user())
    async with two_apps(live_app, **broker(prefix, num_ctx=NUM_CTX)) as (base_a, base_b):
        asked = await _cut_answer(http, base_a, headers, stand_in)
        answer_id = asked["assistant_message_id"]
        stand_in.config.tokens_per_second = 20
        response, stream = await open_chat(http, base_b, headers, message="", **_continue(asked))
        events: Events = []
        while len(text_of(events)) <= len(asked["text"]) + 5:
            events.append(await anext(stream))
        stop = await http.post(f"{base_a}/chat/{answer_id}/stop", headers=headers)
        assert stop.status_code == 200 and stop.json()["status"] == "stopped"
        await read_until(stream, events, "done")
        await response.aclose()
    assert named(events, "done")[0]["status"] == "stopped"
    saved = await load_message(sessionmaker, answer_id)
    assert saved.status == "stopped" and saved.content.startswith(asked["text"])


async def test_a_continuation_end_the_database_refuses_keeps_the_counts_it_had(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An end refused for its values is saved as an error without its counts: the answer's
    earlier counts, saved and counted in usage and quotas, stay (before, they were wiped)."""
    headers = await auth_headers(await make_user())
    monkeypatch.setattr(runner, "FINAL_SAVE_RETRY_DELAYS", (0.01,))
    async with live_app(num_ctx=NUM_CTX) as (base, _app):
        asked = await _cut_answer(http, base, headers, fake[1])
        answer_id = asked["assistant_message_id"]
        before = await load_message(sessionmaker, answer_id)
        real_final = fake_server._final
        monkeypatch.setattr(
            fake_server, "_final", lambda *a, **k: real_final(*a, **k) | {"eval_count": 10**20}
        )
        status, events, _ = await _post(http, base, headers, **_continue(asked))
        assert status == 200
        for _ in range(100):
            after = await load_message(sessionmaker, answer_id)
            if after.status != "streaming":
                break
            await asyncio.sleep(0.05)
    assert (after.status, after.error_code) == ("error", "internal_error")
    assert after.content == text_of(events) and after.content.startswith(asked["text"])
    assert before.completion_tokens == CAP
    assert (after.prompt_tokens, after.completion_tokens) == (
        before.prompt_tokens,
        before.completion_tokens,
    )
