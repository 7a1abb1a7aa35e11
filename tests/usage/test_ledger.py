"""The usage ledger (``usage_events``): what the quota and the usage reports read, one row per
generation, kept when the history is deleted (by its owner or by the retention sweep)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.chat import service as chat_service
from energyapp.conversations import retention
from energyapp.conversations.models import Conversation
from energyapp.core.tokens import answer_reserve
from energyapp.db import utcnow
from energyapp.llm.fake_server import FakeOllama
from energyapp.usage.models import UsageEvent
from energyapp.usage.quota import quota_day_bounds
from tests.chat.conftest import LiveApp, collect, load_message, named
from tests.conftest import HeadersFactory, UserFactory, make_settings
from tests.openai_api.conftest import new_key

Events = list[tuple[str, dict[str, Any]]]


async def _ask(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    """``POST /chat`` read to its end: the ``meta`` ids and the ``done`` event."""
    async with http.stream(
        "POST", f"{base}/chat", json={"message": "Hola", **body}, headers=headers
    ) as response:
        assert response.status_code == 200, json.loads(await response.aread())
        events = await collect(response)
    return {**events[0][1], "done": named(events, "done")[0]}


async def _used_today(sessionmaker: async_sessionmaker[AsyncSession], user: User) -> int:
    async with sessionmaker() as session:
        start = quota_day_bounds()[0]
        return await chat_service.tokens_used_since(session, user.id, start)


async def _events(sessionmaker: async_sessionmaker[AsyncSession], user: User) -> list[UsageEvent]:
    async with sessionmaker() as session:
        query = select(UsageEvent).where(UsageEvent.user_id == user.id)
        return list(await session.scalars(query.order_by(UsageEvent.created_at)))


async def _reports(http: httpx.AsyncClient, base: str, admin: dict[str, str]) -> list[Any]:
    """The usage report by user and by day, and the CSV export."""
    got = [
        (await http.get(f"{base}/admin/usage", params={"group_by": g}, headers=admin)).json()
        for g in ("user", "day")
    ]
    csv = await http.get(f"{base}/admin/usage/export.csv", headers=admin)
    assert csv.status_code == 200, csv.text
    return [*got, csv.text]


async def test_deleting_a_conversation_keeps_the_quota_spent_and_the_report(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # The quota summed the messages' counts: deleting the conversation gave the tokens back.
    worker = await make_user("trabajador")
    headers = await auth_headers(worker)
    admin = await auth_headers(await make_user("admin"))
    async with live_app(daily_token_quota={"trabajador": 10}) as (base, _app):
        asked = await _ask(http, base, headers)
        over = await http.post(f"{base}/chat", json={"message": "Hola"}, headers=headers)
        assert over.status_code == 429 and over.json()["code"] == "quota_exceeded"
        used, before = await _used_today(sessionmaker, worker), await _reports(http, base, admin)
        assert before[0]["totals"]["answers"] == 1 and used > 10

        cid = asked["conversation_id"]
        deleted = await http.delete(f"{base}/conversations/{cid}", headers=headers)
        assert deleted.status_code == 204, deleted.text

        still = await http.post(f"{base}/chat", json={"message": "Hola"}, headers=headers)
        assert still.status_code == 429 and still.json()["code"] == "quota_exceeded"
        assert await _used_today(sessionmaker, worker) == used
        assert await _reports(http, base, admin) == before


async def test_the_retention_sweep_keeps_past_usage(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    db_url: str,
) -> None:
    worker = await make_user("trabajador")
    headers = await auth_headers(worker)
    admin = await auth_headers(await make_user("admin"))
    async with live_app() as (base, _app):
        asked = await _ask(http, base, headers)
        await _ask(http, base, headers, temporary=True)
        used, before = await _used_today(sessionmaker, worker), await _reports(http, base, admin)
        assert before[0]["totals"]["answers"] == 2
        async with sessionmaker.begin() as session:  # both past their life
            await session.execute(
                update(Conversation)
                .where(Conversation.user_id == worker.id)
                .values(updated_at=utcnow() - timedelta(days=40))
            )
        policy = make_settings(db_url, retention_days={"trabajador": 30})
        summary = await retention.run(sessionmaker, policy)
        assert summary.conversations == 2
        async with sessionmaker() as session:
            assert await session.get(Conversation, uuid.UUID(asked["conversation_id"])) is None
        assert await _used_today(sessionmaker, worker) == used > 0
        assert await _reports(http, base, admin) == before


async def test_a_continuation_and_a_regeneration_are_counted_once_each(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    worker = await make_user()
    headers = await auth_headers(worker)
    admin = await auth_headers(await make_user("admin"))
    fake[1].config.answer_tokens = 1000  # the cap cuts it: it can be continued
    async with live_app(num_ctx=512) as (base, _app):
        asked = await _ask(http, base, headers, message="Cuénteme todo")
        assert asked["done"]["finish_reason"] == "length"
        cid, answer_id = asked["conversation_id"], asked["assistant_message_id"]
        first = await load_message(sessionmaker, answer_id)
        await _ask(http, base, headers, message="", conversation_id=cid,
                   continue_message_id=answer_id)  # fmt: skip
        continued = await load_message(sessionmaker, answer_id)
        assert continued.completion_tokens == 2 * answer_reserve(512)
        again = await _ask(http, base, headers, message="", conversation_id=cid,
                           parent_message_id=asked["user_message_id"], regenerate=True)  # fmt: skip
        regenerated = await load_message(sessionmaker, again["assistant_message_id"])
        report = (await _reports(http, base, admin))[0]

    events = await _events(sessionmaker, worker)
    # One row per generation, each with its own counts: the continuation's are not the sums
    # its answer shows (those already include the first generation's).
    assert [(e.messages, e.answers, e.message_id) for e in events] == [
        (2, 1, first.id),
        (0, 0, first.id),
        (1, 1, regenerated.id),
    ]
    assert (events[0].prompt_tokens, events[0].completion_tokens) == (
        first.prompt_tokens, first.completion_tokens,
    )  # fmt: skip
    assert continued.prompt_tokens == first.prompt_tokens + events[1].prompt_tokens
    assert continued.completion_tokens == first.completion_tokens + events[1].completion_tokens
    answers = (continued, regenerated)
    prompt = sum(a.prompt_tokens or 0 for a in answers)
    completion = sum(a.completion_tokens or 0 for a in answers)
    assert report["totals"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "messages": 3,  # the question and its two answers
        "answers": 2,
    }
    assert await _used_today(sessionmaker, worker) == prompt + completion


async def test_api_answers_stored_or_not_are_counted_once(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    worker = await make_user()
    headers = await auth_headers(worker)
    admin = await auth_headers(await make_user("admin"))
    async with live_app() as (base, _app):
        key = {"Authorization": f"Bearer {await new_key(http, base, headers, 'Script')}"}
        usage = []
        for store in (False, True):
            answered = await http.post(
                f"{base}/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "Hola"}], "store": store},
                headers=key,
            )
            assert answered.status_code == 200, answered.text
            usage.append(answered.json()["usage"]["total_tokens"])
        report = (await _reports(http, base, admin))[0]
        keys = (await http.get(f"{base}/api-keys", headers=headers)).json()
        stored = (await http.get(f"{base}/conversations", headers=headers)).json()["items"]
        deleted = await http.delete(f"{base}/conversations/{stored[0]['id']}", headers=headers)
        assert deleted.status_code == 204
        assert (await _reports(http, base, admin))[0] == report

    events = await _events(sessionmaker, worker)
    assert [(e.source, e.messages, e.answers, e.message_id is None) for e in events] == [
        ("api", 0, 1, True),
        ("api", 2, 1, False),  # the question and the answer kept
    ]
    assert [e.prompt_tokens + e.completion_tokens for e in events] == usage
    assert await _used_today(sessionmaker, worker) == sum(usage)
    totals = report["totals"]
    assert (totals["answers"], totals["messages"]) == (2, 2)
    assert totals["prompt_tokens"] + totals["completion_tokens"] == sum(usage)
    (listed,) = keys["items"]
    assert listed["tokens_30d"] == sum(usage)
