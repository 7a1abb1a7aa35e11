"""The app's choices for the model server's prompt cache, against the stand-in in CPU mode (slots
with their caches, reloads on another num_ctx): the warm-up, one set of options, one title as
a follow-up, what /metrics and usage count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from energyapp.chat import prompt
from energyapp.core.metrics import PROMPT_TOKENS_EVALUATED, PROMPT_TOKENS_SENT
from energyapp.llm.cpu_server import CpuConfig, render, token_count
from energyapp.llm.fake_server import FakeConfig, FakeOllama
from tests.chat.conftest import LiveApp, named, sse_events
from tests.conftest import HeadersFactory, UserFactory
from tests.llm.stand_in import stand_in


@pytest.fixture
async def fake() -> AsyncIterator[tuple[str, FakeOllama]]:
    """The stand-in as a CPU server with two slots, a thousand times faster than real."""
    cpu = CpuConfig(prompt_tps=60, gen_tps=10, load_s=4, parallel=2, speed=1000)
    config = FakeConfig(answer_tokens=12, seed=5, keep_requests=20, cpu=cpu)
    async with stand_in(config) as served:
        yield served


async def _stats(url: str) -> dict[str, int]:
    async with httpx.AsyncClient() as client:
        data: dict[str, int] = (await client.get(f"{url}/stats")).json()
        return data


async def _loaded(url: str) -> None:
    for _ in range(200):
        if (await _stats(url))["loads"]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the app did not warm the model up")


async def test_warm_up_one_set_of_options_one_title_and_what_is_counted(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    url, stand_in_app = fake
    headers = await auth_headers(await make_user())
    sent_before = PROMPT_TOKENS_SENT._value.get()
    evaluated_before = PROMPT_TOKENS_EVALUATED._value.get()
    async with live_app(ollama_max_parallel=2, num_ctx=2048) as (base, _app):
        await _loaded(url)  # before anyone asks: the first user does not pay the load
        assert stand_in_app.cpu is not None and stand_in_app.cpu.runner.num_ctx == 2048
        dones = []
        conversation = None
        for question in ("¿Cuánto consumió la planta en marzo?", "¿Y en abril?", "Gracias"):
            body = {"message": question}
            if conversation:
                body["conversation_id"] = conversation
            response = await http.post(f"{base}/chat", json=body, headers=headers)
            events = [e async for e in sse_events(response)]
            conversation = events[0][1]["conversation_id"]
            dones.append(named(events, "done")[0])
        metrics = (await http.get(f"{base}/metrics")).text
    totals = await _stats(url)
    assert (totals["loads"], totals["reloads"]) == (1, 0)  # every request had the same num_ctx
    assert totals["requests"] == 4 and totals["unstreamed"] == 1  # three answers, one title
    requests = stand_in_app.config.requests
    answers = [r for r in requests if r.get("stream") is not False]
    assert {r["options"]["num_ctx"] for r in requests} == {2048}
    # Usage counts the whole prompt the user's request sent, not what the cache saved.
    for done, request in zip(dones, answers, strict=True):
        assert done["prompt_tokens"] == prompt.sent_tokens(request["messages"])
        assert done["prompt_tokens"] == token_count(render(request, chat=True))
    # The cache did save it: after the first turn the model read only the new turns.
    assert totals["prompt_tokens_evaluated"] < totals["prompt_tokens_sent"] / 2
    sent = PROMPT_TOKENS_SENT._value.get() - sent_before
    evaluated = PROMPT_TOKENS_EVALUATED._value.get() - evaluated_before
    assert sent == totals["prompt_tokens_sent"]
    assert evaluated == totals["prompt_tokens_evaluated"]
    assert "energyapp_llm_prompt_tokens_sent_total" in metrics
    assert "energyapp_llm_prompt_tokens_evaluated_total" in metrics
    assert "energyapp_queue_wait_seconds_count" in metrics
    assert "energyapp_title_requests_total" in metrics


async def test_no_warm_up_when_turned_off(live_app: LiveApp, fake: tuple[str, FakeOllama]) -> None:
    url, _ = fake
    async with live_app(ollama_warm_up=False):
        await asyncio.sleep(0.2)
        assert (await _stats(url))["loads"] == 0
