"""The stand-in's CPU mode over real HTTP: slots and their caches, batches, reloads, cancels.

Times are scaled with ``speed`` so every test lasts well under a second; the assertions are on
the counters the stand-in reports (``prompt_eval_count``, ``GET /stats``), and on order, not
on wall-clock figures, except where the time is the feature (loading, sharing the CPU).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from energyapp.llm import client as llm
from energyapp.llm.cpu_server import BATCH, CpuConfig, render, token_count
from energyapp.llm.fake_server import FakeConfig, FakeOllama
from tests.llm.stand_in import stand_in

pytestmark = pytest.mark.no_database

MODEL = "qwen2.5:3b-instruct"
SYSTEM = {"role": "system", "content": "Eres un asistente de la empresa. " * 8}


def _cpu(**kw: Any) -> FakeConfig:
    # 1,000 server seconds run in one real second.
    config = CpuConfig(prompt_tps=100, gen_tps=100, load_s=4, speed=1000, **kw)
    return FakeConfig(answer_tokens=8, seed=3, cpu=config)


@pytest.fixture
async def two_slots() -> AsyncIterator[tuple[str, FakeOllama]]:
    async with stand_in(_cpu(parallel=2)) as served:
        yield served


async def _ask(
    http: aiohttp.ClientSession, url: str, messages: list[dict[str, str]], **options: int
) -> tuple[str, llm.ChatStats]:
    stats = llm.ChatStats()
    payload = llm.chat_payload(MODEL, messages, options={"num_ctx": 4096, **options})
    text = "".join(
        [p async for p in llm.stream_chat(http, url, payload, token_timeout=30, stats=stats)]
    )
    return text, stats


async def _stats(url: str) -> dict[str, int]:
    async with httpx.AsyncClient() as client:
        data: dict[str, int] = (await client.get(f"{url}/stats")).json()
        return data


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


async def test_a_follow_up_reads_only_the_new_turn(
    http: aiohttp.ClientSession, two_slots: tuple[str, FakeOllama]
) -> None:
    url, _ = two_slots
    first = [SYSTEM, _user("¿Cuánto consumió la planta en marzo?")]
    answer, stats = await _ask(http, url, first)
    assert stats.prompt_tokens == token_count(render({"messages": first}, chat=True))
    follow = [*first, {"role": "assistant", "content": answer}, _user("¿Y en abril?")]
    _, again = await _ask(http, url, follow)
    # The answer's end marker, the new turn and the assistant's start: a few tokens.
    new_part = "<|im_end|>\n<|im_start|>user\n¿Y en abril?<|im_end|>\n<|im_start|>assistant\n"
    assert again.prompt_tokens <= token_count(new_part) + 1
    totals = await _stats(url)
    sent = token_count(render({"messages": first}, chat=True)) + token_count(
        render({"messages": follow}, chat=True)
    )
    assert totals["prompt_tokens_sent"] == sent
    assert totals["prompt_tokens_evaluated"] == stats.prompt_tokens + again.prompt_tokens
    assert totals["requests"] == 2 and totals["loads"] == 1 and totals["reloads"] == 0


async def test_the_slot_with_the_longest_prefix_wins_ties_go_to_the_least_recent(
    http: aiohttp.ClientSession, two_slots: tuple[str, FakeOllama]
) -> None:
    url, fake = two_slots
    assert fake.cpu is not None
    slots = fake.cpu.runner.slots
    a = [SYSTEM, _user("Conversación A: pregunta sobre transformadores de la subestación.")]
    b = [SYSTEM, _user("Conversación B: informe de consumo de octubre.")]
    answer_a, _ = await _ask(http, url, a)  # both empty, never used: the first, slot 0
    assert slots[0].cache.startswith(render({"messages": a}, chat=True))
    # B shares the system prompt with slot 0 and nothing with the empty slot: the longest
    # prefix wins, even though it evicts A (as Ollama's runner does).
    await _ask(http, url, b)
    assert slots[0].cache.startswith(render({"messages": b}, chat=True))
    assert slots[1].cache == ""
    # Equal prefixes: the least recently used slot is taken.
    slots[1].cache = slots[0].cache
    slots[1].used_at = 0
    _, stats = await _ask(http, url, b)
    assert stats.prompt_tokens == 1  # all of it cached; the last token is always read
    assert slots[1].used_at > slots[0].used_at
    follow = [*a, {"role": "assistant", "content": answer_a}, _user("Gracias.")]
    slots[0].cache = render({"messages": a}, chat=True) + answer_a + "<|im_end|>"
    _, stats = await _ask(http, url, follow)  # slot 0 holds A although it is older
    assert slots[0].cache.startswith(render({"messages": follow}, chat=True))
    assert stats.prompt_tokens < 20


async def test_another_num_ctx_reloads_and_clears_every_cache(
    http: aiohttp.ClientSession, two_slots: tuple[str, FakeOllama]
) -> None:
    url, _ = two_slots
    messages = [SYSTEM, _user("Hola")]
    full = token_count(render({"messages": messages}, chat=True))
    _, cold = await _ask(http, url, messages)
    _, warm = await _ask(http, url, messages)
    _, other = await _ask(http, url, messages, num_ctx=2048)
    assert (cold.prompt_tokens, warm.prompt_tokens, other.prompt_tokens) == (full, 1, full)
    totals = await _stats(url)
    assert totals["loads"] == 2 and totals["reloads"] == 1


async def test_a_warm_up_loads_the_model_without_a_prompt(
    http: aiohttp.ClientSession, raw: httpx.AsyncClient
) -> None:
    async with stand_in(_cpu(parallel=1, num_ctx=4096)) as (url, _):
        started = time.monotonic()
        response = await raw.post(
            f"{url}/api/generate", json={"model": MODEL, "options": {"num_ctx": 4096}}
        )
        assert response.json()["done_reason"] == "load"
        assert response.json()["load_duration"] == 4 * 10**9
        assert time.monotonic() - started >= 4 / 1000
        again = await raw.post(f"{url}/api/generate", json={"model": MODEL})
        assert again.json()["load_duration"] == 0  # the default num_ctx: already loaded
        _, stats = await _ask(http, url, [_user("Hola")])
        totals = await _stats(url)
        assert (totals["loads"], totals["reloads"], totals["requests"]) == (1, 0, 1)


async def test_prompt_evaluation_stops_between_batches_when_the_client_leaves(
    raw: httpx.AsyncClient,
) -> None:
    # 10 prompt tokens/s: one batch of 512 tokens takes 0.5 s at this speed; the client leaves
    # during the first one.
    config = FakeConfig(
        answer_tokens=8, cpu=CpuConfig(prompt_tps=10, gen_tps=100, load_s=0, speed=100)
    )
    async with stand_in(config) as (url, fake):
        long = [_user("palabra " * 1500)]  # ~3,000 tokens: 6 batches, 3 s
        payload = {"model": MODEL, "messages": long, "options": {"num_ctx": 8192}}
        with pytest.raises(httpx.ReadTimeout):
            await raw.post(f"{url}/api/chat", json=payload, timeout=0.25)
        await asyncio.sleep(1.0)  # the batch under way ends, the next one is not started
        totals = await _stats(url)
        assert totals["cancelled"] == 1
        assert totals["prompt_tokens_evaluated"] == BATCH
        assert fake.cpu is not None
        assert not fake.cpu.runner.slots[0].busy  # the slot was given back


async def test_generation_stops_at_the_next_token_when_the_client_leaves(
    http: aiohttp.ClientSession,
) -> None:
    config = FakeConfig(
        answer_tokens=1000, cpu=CpuConfig(prompt_tps=1000, gen_tps=2, load_s=0, speed=100)
    )
    async with stand_in(config) as (url, fake):
        stats = llm.ChatStats()
        pieces = llm.stream_chat(
            http, url, llm.chat_payload(MODEL, [_user("Hola")]), token_timeout=5, stats=stats
        )
        async for _ in pieces:
            break  # one token, then the connection is closed
        await pieces.aclose()
        await asyncio.sleep(0.1)
        assert fake.cpu is not None
        assert not fake.cpu.runner.slots[0].busy
        totals = await _stats(url)
        assert totals["cancelled"] == 1
        assert (
            len(fake.cpu.runner.slots[0].cache)
            < len(render({"messages": [_user("Hola")]}, chat=True)) + 40
        )


async def test_busy_slots_share_the_cpu(http: aiohttp.ClientSession) -> None:
    """Two answers at once on two slots take as long as the two one after the other: the CPU
    is shared, not doubled."""
    config = FakeConfig(
        answer_tokens=20, cpu=CpuConfig(prompt_tps=1000, gen_tps=20, load_s=0, speed=10)
    )
    async with stand_in(config) as (url, _):
        await _ask(http, url, [_user("calentar")])
        started = time.monotonic()
        await _ask(http, url, [_user("sola")])
        alone = time.monotonic() - started
    config.cpu = CpuConfig(prompt_tps=1000, gen_tps=20, load_s=0, speed=10, parallel=2)
    async with stand_in(config) as (url, _):
        await _ask(http, url, [_user("calentar")])
        started = time.monotonic()
        await asyncio.gather(_ask(http, url, [_user("una")]), _ask(http, url, [_user("otra")]))
        together = time.monotonic() - started
    # 20 tokens at 20/s, ten times faster: 0.1 s alone; two at once share the CPU, so they
    # need 0.2 s (each alone would be done in 0.1 s if the slots did not share it).
    assert alone >= 0.095, alone
    assert together >= 0.19, (alone, together)


async def test_unstreamed_answer_and_the_instant_mode_has_no_stats(
    raw: httpx.AsyncClient, fake: tuple[str, FakeOllama]
) -> None:
    async with stand_in(_cpu(parallel=1)) as (url, _):
        response = await raw.post(
            f"{url}/api/chat", json={"model": MODEL, "messages": [_user("Hola")], "stream": False}
        )
        body = response.json()
        assert body["done"] is True and body["message"]["content"].endswith(".")
        assert body["eval_count"] == 8 and body["prompt_eval_count"] > 0
        assert (await _stats(url))["unstreamed"] == 1
    instant_url, _ = fake
    assert (await raw.get(f"{instant_url}/stats")).status_code == 404


async def test_an_answer_cut_by_num_predict_ends_with_length(
    http: aiohttp.ClientSession, raw: httpx.AsyncClient
) -> None:
    """As Ollama and the instant mode: "length" when num_predict cut the answer (the /v1 API
    turns it into finish_reason "length"), "stop" when the answer ended by itself."""
    async with stand_in(_cpu(parallel=1)) as (url, _):
        _, cut = await _ask(http, url, [_user("Hola")], num_predict=3)
        assert (cut.completion_tokens, cut.done_reason) == (3, "length")
        _, whole = await _ask(http, url, [_user("Hola")], num_predict=50)
        assert (whole.completion_tokens, whole.done_reason) == (8, "stop")
        payload = llm.chat_payload(MODEL, [_user("Hola")], options={"num_predict": 2})
        once = await raw.post(f"{url}/api/chat", json=dict(payload, stream=False))
        assert (once.json()["eval_count"], once.json()["done_reason"]) == (2, "length")


async def test_a_cut_answer_continued_is_read_from_the_slots_cache(
    http: aiohttp.ClientSession,
) -> None:
    """As Ollama's Qwen template, a last message of the assistant is left open and the answer
    continues it; a cut answer has no end marker in its slot, so its continuation's prompt is
    all there (``chat/continuation.py``)."""
    first = [SYSTEM, _user("¿Cuánto consumió la planta en marzo?")]
    opened = render({"messages": [*first, {"role": "assistant", "content": "En marzo"}]}, chat=True)
    assert opened.endswith("<|im_end|>\n<|im_start|>assistant\nEn marzo")
    async with stand_in(_cpu(parallel=1)) as (url, _):
        text, cut = await _ask(http, url, first, num_predict=5)
        assert cut.done_reason == "length" and cut.prompt_tokens > 20
        _, more = await _ask(http, url, [*first, {"role": "assistant", "content": text}])
        assert more.prompt_tokens == 1  # the last token of a prompt is always read


@pytest.mark.parametrize("batching", [False, True])
async def test_a_prompt_beside_a_writer_waits_as_ollamas_batches_make_it(
    http: aiohttp.ClientSession, batching: bool
) -> None:
    """A long prompt read while another slot writes. Shared per slot, it takes twice its own
    time; decoded in Ollama's batches (``--batching``), its own time plus one token per step
    (each batch also holds the writer's next token)."""
    cpu = CpuConfig(prompt_tps=2000, gen_tps=50, load_s=0, speed=1, parallel=2, batching=batching)
    async with stand_in(FakeConfig(answer_tokens=100, seed=3, cpu=cpu)) as (url, _):
        writing = asyncio.Event()
        payload = llm.chat_payload(MODEL, [_user("escribe")], options={"num_ctx": 4096})

        async def writer() -> None:
            async for _ in llm.stream_chat(
                http, url, payload, token_timeout=30, stats=llm.ChatStats()
            ):
                writing.set()

        task = asyncio.create_task(writer())
        await writing.wait()
        # 2,000 tokens: 1 s alone (four batches); the writer has 2 s of tokens left.
        long = llm.chat_payload(MODEL, [_user("x" * 7996)], options={"num_ctx": 4096})
        started = time.monotonic()
        async for _ in llm.stream_chat(http, url, long, token_timeout=30, stats=llm.ChatStats()):
            break
        first_token = time.monotonic() - started
        await task
    if batching:
        assert 0.95 <= first_token < 1.7, first_token  # 1 s and 4 writer tokens (0.08 s)
    else:
        assert first_token >= 1.9, first_token
