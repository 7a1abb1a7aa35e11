"""An account deactivated while its API answers are being generated gets nothing more: the
streaming answer ends with ``api_access_disabled`` and the one waiting for a slot never takes
it, whether the admin's request reaches the process that generates them or (with Redis)
another one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.chat.request_answers import AnswerStopped, RequestAnswers
from energyapp.llm.fake_server import FakeOllama
from energyapp.usage.models import UsageEvent
from tests.chat.conftest import LiveApp
from tests.chat.test_redis_broker import broker, prefix, two_apps
from tests.conftest import HeadersFactory, UserFactory
from tests.openai_api.conftest import new_key

__all__ = ["prefix"]

ASK = {"model": "qwen2.5:3b-instruct", "messages": [{"role": "user", "content": "Hola"}]}


@contextlib.asynccontextmanager
async def apps_for(live_app: LiveApp, shared: str | None) -> AsyncIterator[tuple[str, str]]:
    """(where the answers run, where the admin deactivates): one process, or two on Redis."""
    settings: dict[str, Any] = {"max_active_per_user": 2}
    if shared is None:
        async with live_app(**settings) as (base, _app):
            yield base, base
    else:
        async with two_apps(live_app, **broker(shared), **settings) as (base_a, base_b):
            yield base_b, base_a


async def chunks_of(lines: AsyncIterator[str], until: int) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = []
    async for line in lines:
        if line.startswith("data: ") and line != "data: [DONE]":
            chunks.append(json.loads(line[6:]))
            if len(chunks) >= until:
                break
    return chunks


@contextlib.asynccontextmanager
async def streaming_and_waiting(
    http: httpx.AsyncClient, url: str, key: dict[str, str]
) -> AsyncIterator[tuple[AsyncIterator[str], list[dict[str, Any]], asyncio.Task[httpx.Response]]]:
    """A streaming answer holding the slot (its lines, its first chunks) and a second answer
    waiting for it (its request's task)."""
    async with http.stream("POST", url, json={**ASK, "stream": True}, headers=key) as streamed:
        assert streamed.status_code == 200
        lines = streamed.aiter_lines()
        first = await chunks_of(lines, 4)  # the role, then text: it holds the slot
        queued = asyncio.create_task(http.post(url, json=ASK, headers=key))
        await asyncio.sleep(0.3)  # the second one waits for the slot
        yield lines, first, queued


@pytest.mark.parametrize("broker_kind", ["local", "redis"])
async def test_deactivation_stops_the_api_answers_of_the_account(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
    prefix: str,
    broker_kind: str,
) -> None:
    fake[1].config.tokens_per_second = 20
    fake[1].config.answer_tokens = 500
    admin = await auth_headers(await make_user("admin"))
    leaving = await make_user()
    async with apps_for(live_app, prefix if broker_kind == "redis" else None) as (runs, admin_on):
        secret = await new_key(http, runs, await auth_headers(leaving), "Script")
        key = {"Authorization": f"Bearer {secret}"}
        url = f"{runs}/v1/chat/completions"
        async with streaming_and_waiting(http, url, key) as (lines, first, queued):
            off = await http.patch(
                f"{admin_on}/admin/users/{leaving.id}", json={"is_active": False}, headers=admin
            )
            assert off.status_code == 200, off.text
            rest = await asyncio.wait_for(chunks_of(lines, 10**6), timeout=10)
        waited = await asyncio.wait_for(queued, timeout=10)
    chunks = first + rest
    # The type a 401 has, as when the answer was not streamed (it was "server_error").
    error = chunks[-1]["error"]
    assert (error["code"], error["type"]) == ("api_access_disabled", "authentication_error")
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1])
    assert 0 < len(text.split()) < 500
    assert waited.status_code == 401 and waited.json()["error"]["code"] == "api_access_disabled"
    async with sessionmaker() as session:
        used = list(await session.scalars(select(UsageEvent)))
    # The streamed answer counts as stopped; the queued one was never asked of Ollama.
    assert [(u.status, u.completion_tokens > 0) for u in used] == [("stopped", True)]


@pytest.mark.no_database
async def test_a_stopped_answer_starts_nothing_more() -> None:
    """A step that could finish without yielding (a free slot, a buffered piece) is not even
    started once the answer is stopped: a cancel would never reach it."""
    answers = RequestAnswers()
    owner = uuid.uuid4()
    started: list[str] = []

    async def free_slot() -> str:
        started.append("slot")
        return "http://ollama"

    with answers.hold(owner) as held:
        assert await held.wait(free_slot()) == "http://ollama"
        assert answers.stop_all_of(owner) == 1
        with pytest.raises(AnswerStopped):
            await held.wait(free_slot())
    assert started == ["slot"]
    assert answers.stop_all_of(owner) == 0  # let go once the answer is over
