"""The stand-in Ollama speaks Ollama's protocol (checked with the real client code) and fails
the ways Ollama fails."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import httpx
import pytest

from energyapp.llm import client as llm
from energyapp.llm.fake_server import STAND_IN_VERSION, FakeOllama
from tests.llm.stand_in import free_port, wait_until_up

pytestmark = pytest.mark.no_database

MODEL = "qwen2.5:3b-instruct"


def _payload(**options: int) -> dict[str, object]:
    return llm.chat_payload(MODEL, [{"role": "user", "content": "hola"}], options=options or None)


async def _text(http: aiohttp.ClientSession, url: str, stats: llm.ChatStats, **kw: int) -> str:
    pieces = llm.stream_chat(http, url, _payload(**kw), token_timeout=2, stats=stats)
    return "".join([p async for p in pieces])


async def test_says_it_is_a_stand_in(
    http: aiohttp.ClientSession, raw: httpx.AsyncClient, fake: tuple[str, FakeOllama]
) -> None:
    url, _ = fake
    version = (await raw.get(f"{url}/api/version")).json()
    assert version == {"version": STAND_IN_VERSION} and "stand-in" in version["version"]
    show = await raw.post(f"{url}/api/show", json={"model": MODEL})
    assert show.status_code == 200
    assert "reemplazo" in show.json()["details"]["family"]
    missing = await raw.post(f"{url}/api/show", json={"model": "nope"})
    assert missing.status_code == 404 and "not found" in missing.json()["error"]
    models = await llm.list_models(http, url)
    assert [m.name for m in models] == [MODEL]
    assert await llm.ollama_version(http, url) == STAND_IN_VERSION


async def test_streams_ndjson_with_final_statistics(
    http: aiohttp.ClientSession, raw: httpx.AsyncClient, fake: tuple[str, FakeOllama]
) -> None:
    url, _ = fake
    async with raw.stream("POST", f"{url}/api/chat", json=_payload()) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) async for line in response.aiter_lines() if line]
    assert len(lines) == 13 and all(not line["done"] for line in lines[:-1])
    assert all(line["message"]["role"] == "assistant" for line in lines)
    final = lines[-1]
    assert final["done"] is True and final["done_reason"] == "stop"
    assert final["eval_count"] == 12 and final["prompt_eval_count"] >= 1
    assert final["total_duration"] >= final["eval_duration"] > 0
    stats = llm.ChatStats()
    text = await _text(http, url, stats)
    assert len(text.split()) == 12 and text.endswith(".") and text[0].isupper()
    assert stats.completion_tokens == 12


async def test_generate_endpoint_and_num_predict(
    raw: httpx.AsyncClient, fake: tuple[str, FakeOllama]
) -> None:
    url, _ = fake
    body = {"model": MODEL, "prompt": "hola", "options": {"num_predict": 3}}
    async with raw.stream("POST", f"{url}/api/generate", json=body) as response:
        lines = [json.loads(line) async for line in response.aiter_lines() if line]
    assert "".join(line["response"] for line in lines).count(" ") == 2
    # As Ollama: an answer cut by num_predict says so.
    assert (lines[-1]["eval_count"], lines[-1]["done_reason"]) == (3, "length")
    once = await raw.post(f"{url}/api/chat", json=dict(_payload(num_predict=4), stream=False))
    assert once.json()["done"] is True and len(once.json()["message"]["content"].split()) == 4
    assert once.json()["done_reason"] == "length"


async def test_failure_modes(http: aiohttp.ClientSession, fake: tuple[str, FakeOllama]) -> None:
    url, stand_in = fake
    received: list[str] = []
    stand_in.config.fail_after_tokens = 5
    with pytest.raises(llm.LLMError) as err:
        async for piece in llm.stream_chat(
            http, url, _payload(), token_timeout=2, stats=llm.ChatStats()
        ):
            received.append(piece)
    assert err.value.code == llm.LLM_ERROR and len("".join(received).split()) == 5
    stand_in.config.fail_after_tokens = None

    stand_in.config.busy = True
    with pytest.raises(llm.LLMError) as err:
        await _text(http, url, llm.ChatStats())
    assert err.value.status_code == 503 and "busy" in err.value.message
    stand_in.config.busy = False

    stand_in.config.malformed_after_tokens = 2
    with pytest.raises(llm.LLMError) as err:
        await _text(http, url, llm.ChatStats())
    assert err.value.code == llm.LLM_ERROR and "malformada" in err.value.message
    stand_in.config.malformed_after_tokens = None

    stand_in.config.stall_after_tokens = 2
    started = time.monotonic()
    with pytest.raises(llm.LLMError) as err:
        pieces = llm.stream_chat(http, url, _payload(), token_timeout=0.3, stats=llm.ChatStats())
        async for _ in pieces:
            pass
    assert err.value.code == llm.TIMEOUT and time.monotonic() - started < 2
    stand_in.config.stall_after_tokens = None

    bad = llm.chat_payload("qwen2.5:7b", [{"role": "user", "content": "x"}])
    with pytest.raises(llm.LLMError) as err:
        async for _ in llm.stream_chat(http, url, bad, token_timeout=2, stats=llm.ChatStats()):
            pass
    assert err.value.code == llm.MODEL_MISSING


async def test_paced_tokens(http: aiohttp.ClientSession, fake: tuple[str, FakeOllama]) -> None:
    url, stand_in = fake
    stand_in.config.tokens_per_second = 100
    stand_in.config.first_token_delay_ms = 100
    started = time.monotonic()
    await _text(http, url, llm.ChatStats())
    assert time.monotonic() - started >= 0.1 + 11 * 0.01 * 0.9


async def test_headers_leave_with_the_first_line(
    http: aiohttp.ClientSession, fake: tuple[str, FakeOllama]
) -> None:
    """As from Ollama (Go's net/http): no status line before the first token is ready."""
    url, stand_in = fake
    stand_in.config.first_token_delay_ms = 300
    started = time.monotonic()
    async with http.post(f"{url}/api/chat", json=_payload()) as response:
        headers_after = time.monotonic() - started
        assert response.status == 200
        assert json.loads(await response.content.readline())["done"] is False
    assert headers_after >= 0.3 * 0.9


async def test_prompt_reading_with_a_prefix_cache(
    http: aiohttp.ClientSession, fake: tuple[str, FakeOllama]
) -> None:
    """An uncached prompt is read at ``prompt_tokens_per_second``; the next request that
    continues it (the same turns, the answer, a new turn) pays only for the new turn."""
    url, stand_in = fake
    stand_in.config.prompt_tokens_per_second = 2000
    stand_in.config.answer_tokens = 4
    long = [{"role": "system", "content": "x" * 4000}, {"role": "user", "content": "hola"}]

    async def ask(messages: list[dict[str, str]]) -> tuple[float, str]:
        started = time.monotonic()
        pieces = llm.stream_chat(
            http, url, llm.chat_payload(MODEL, messages), token_timeout=5, stats=llm.ChatStats()
        )
        first = None
        text = ""
        async for piece in pieces:
            first = first or time.monotonic() - started
            text += piece
        assert first is not None
        return first, text

    cold, answer = await ask(long)
    follow_up = [*long, {"role": "assistant", "content": answer}, {"role": "user", "content": "y"}]
    warm, _ = await ask(follow_up)
    other, _ = await ask([{"role": "system", "content": "z" * 4000}])
    # ChatML: 4,000 + 84 characters of turns and markers; then the answer's end marker, the
    # new turn ("y") and the assistant's start, 62 characters; 4 characters a token.
    assert stand_in.config.evaluated[-3:-1] == [4084 // 4, 62 // 4]
    assert cold >= 0.5 > 0.1 > warm, (cold, warm)
    assert other >= 0.5


async def test_cli_stand_in_killed_mid_answer(http: aiohttp.ClientSession) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "energyapp.cli",
            "fake-ollama",
            "--port",
            str(port),
            "--tokens-per-second",
            "50",
            "--answer-tokens",
            "500",
        ],
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_up(url)
        received: list[str] = []
        with pytest.raises(llm.LLMError) as err:
            async for piece in llm.stream_chat(
                http, url, _payload(), token_timeout=5, stats=llm.ChatStats()
            ):
                received.append(piece)
                if len(received) == 3:
                    proc.kill()
        assert err.value.code == llm.DISCONNECTED
        assert len(received) >= 3
    finally:
        proc.kill()
        _, stderr = proc.communicate(timeout=5)
    assert b"REEMPLAZO" in stderr


async def test_connection_is_reused_after_a_full_answer(
    http: aiohttp.ClientSession, fake: tuple[str, FakeOllama]
) -> None:
    url, _ = fake
    for _ in range(3):
        await _text(http, url, llm.ChatStats())
        await llm.chat_once(http, url, dict(_payload(), stream=False), read_timeout=2)
    connector = http.connector
    assert connector is not None
    idle = connector._conns  # type: ignore[attr-defined]
    assert sum(len(connections) for connections in idle.values()) == 1


async def test_ps_lists_the_models_a_generation_loaded(
    http: aiohttp.ClientSession, raw: httpx.AsyncClient, fake: tuple[str, FakeOllama]
) -> None:
    """``GET /api/ps`` in Ollama's shape: empty until a generation loads the model, which then
    stays for the request's keep_alive (Ollama's default 5 minutes); keep_alive 0 unloads it."""
    url, _ = fake
    assert (await raw.get(f"{url}/api/ps")).json() == {"models": []}
    assert await llm.loaded_models(http, url) == []
    payload = _payload(num_ctx=2048)
    payload["keep_alive"] = "30m"
    async with http.post(f"{url}/api/chat", json=payload) as response:
        await response.read()
    (entry,) = (await raw.get(f"{url}/api/ps")).json()["models"]
    assert entry["name"] == entry["model"] == MODEL and entry["size"] > 0
    assert entry["context_length"] == 2048 and entry["size_vram"] == 0
    assert "stand-in" in entry["details"]["families"]
    left = datetime.fromisoformat(entry["expires_at"]) - datetime.now(UTC)
    assert timedelta(minutes=29) < left <= timedelta(minutes=30)
    (loaded,) = await llm.loaded_models(http, url) or []
    assert loaded.name == MODEL and loaded.expires_at == entry["expires_at"]
    payload["keep_alive"] = 0
    async with http.post(f"{url}/api/chat", json=payload) as response:
        await response.read()
    assert (await raw.get(f"{url}/api/ps")).json() == {"models": []}


async def test_loaded_models_of_a_server_that_does_not_answer(
    http: aiohttp.ClientSession,
) -> None:
    assert await llm.loaded_models(http, f"http://127.0.0.1:{free_port()}") is None


async def test_loaded_models_of_a_server_whose_answer_is_malformed(
    http: aiohttp.ClientSession,
) -> None:
    """A size that is no number is an answer not understood (None), never an exception: the
    admins' status page would fail whole."""
    body = b'{"models": [{"name": "m", "size": "mucho"}]}'

    async def answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        writer.write(head.encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        assert await llm.loaded_models(http, f"http://127.0.0.1:{port}") is None
    finally:
        server.close()
