"""The Ollama client against recorded Ollama responses (written from Ollama's API docs),
replayed over real HTTP line by line, as Ollama sends them."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from energyapp.llm import cli as stand_in_cli
from energyapp.llm import client as llm
from energyapp.logging import JsonFormatter
from tests.llm.stand_in import free_port, serve

pytestmark = pytest.mark.no_database

FIXTURES = Path(__file__).parent / "fixtures"


def _replay(routes: dict[str, tuple[int, str]]) -> Any:
    """An ASGI app answering each path with a recorded body (NDJSON sent one line per chunk)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        status, name = routes[scope["path"]]
        body = (FIXTURES / name).read_bytes()
        ctype = b"application/x-ndjson" if name.endswith(".ndjson") else b"application/json"
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", ctype)]}
        )
        for line in body.splitlines(keepends=True):
            await send({"type": "http.response.body", "body": line, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


async def _collect(http: aiohttp.ClientSession, url: str, stats: llm.ChatStats) -> list[str]:
    payload = llm.chat_payload("qwen2.5:3b-instruct", [{"role": "user", "content": "hola"}])
    return [p async for p in llm.stream_chat(http, url, payload, token_timeout=5, stats=stats)]


async def test_streamed_chat_text_and_final_stats(http: aiohttp.ClientSession) -> None:
    async with serve(_replay({"/api/chat": (200, "chat_stream.ndjson")})) as url:
        stats = llm.ChatStats()
        pieces = await _collect(http, url, stats)
    assert "".join(pieces) == "La potencia activa se mide en kW ⚡."
    assert stats.prompt_tokens == 41
    assert stats.completion_tokens == 8
    assert stats.total_duration_ns == 2391456789
    assert stats.done_reason == "stop"


async def test_error_line_in_the_middle_of_a_200_stream(http: aiohttp.ClientSession) -> None:
    received: list[str] = []
    async with serve(_replay({"/api/chat": (200, "chat_midstream_error.ndjson")})) as url:
        payload = llm.chat_payload("qwen2.5:3b-instruct", [{"role": "user", "content": "x"}])
        with pytest.raises(llm.LLMError) as err:
            async for piece in llm.stream_chat(
                http, url, payload, token_timeout=5, stats=llm.ChatStats()
            ):
                received.append(piece)
    assert err.value.code == llm.LLM_ERROR
    assert "unexpected EOF" in err.value.message
    assert "".join(received) == "El transformador"


@pytest.mark.parametrize(
    ("status", "fixture", "code", "text"),
    [
        (404, "error_404.json", llm.MODEL_MISSING, "not found"),
        (503, "error_503.json", llm.LLM_ERROR, "server busy"),
        (500, "error_500.json", llm.LLM_ERROR, "llama runner"),
    ],
)
async def test_http_status_errors(
    http: aiohttp.ClientSession, status: int, fixture: str, code: str, text: str
) -> None:
    async with serve(_replay({"/api/chat": (status, fixture)})) as url:
        with pytest.raises(llm.LLMError) as err:
            await _collect(http, url, llm.ChatStats())
    assert err.value.code == code
    assert err.value.status_code == status
    assert text in err.value.message


async def test_unreachable_server(http: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(llm.LLMError) as err:
        await _collect(http, url, llm.ChatStats())
    assert err.value.code == llm.UNAVAILABLE
    with pytest.raises(llm.LLMError) as err2:
        await llm.list_models(http, url)
    assert err2.value.code == llm.UNAVAILABLE
    assert await llm.ollama_version(http, url) is None


async def test_a_url_password_never_reaches_a_log_line(http: aiohttp.ClientSession) -> None:
    # An Ollama behind a proxy with basic auth: the failure names the server, and the runner
    # logs that message ("generation failed"); the password must not be in the line.
    url = f"http://ollama:Pr0xy-S3cret%40x@127.0.0.1:{free_port()}"
    with pytest.raises(llm.LLMError) as err:
        await _collect(http, url, llm.ChatStats())
    record = logging.LogRecord("energyapp.chat.runner", logging.WARNING, __file__, 1, "%s", (
        err.value.message,), None)  # fmt: skip
    record.error = err.value.message
    try:
        raise RuntimeError("could not connect to redis://:p@ss-w0rd@10.0.0.5:6379/0")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "Pr0xy" not in line and "p@ss" not in line and "w0rd" not in line
    assert "http://ollama:[redactado]@127.0.0.1:" in json.loads(line)["error"]


async def test_tags_and_non_streamed_chat(http: aiohttp.ClientSession) -> None:
    routes = {"/api/tags": (200, "tags.json"), "/api/chat": (200, "chat_once.json")}
    async with serve(_replay(routes)) as url:
        models = await llm.list_models(http, url)
        payload = llm.chat_payload("qwen2.5:3b-instruct", [{"role": "user", "content": "x"}])
        text, stats = await llm.chat_once(http, url, payload, read_timeout=5)
    assert [m.name for m in models] == ["qwen2.5:3b-instruct", "llama3.2:1b"]
    assert models[0].parameter_size == "3.1B"
    assert models[1].quantization_level == "Q8_0"
    assert not any(m.stand_in for m in models)  # a real Ollama's models are not the stand-in
    assert text == '"Medición de potencia activa."'
    assert (stats.prompt_tokens, stats.completion_tokens) == (64, 7)


def test_generate_lines_parse_like_chat_lines() -> None:
    lines = (FIXTURES / "generate_stream.ndjson").read_bytes().splitlines()
    parsed = [llm.parse_chat_line(line) for line in lines]
    assert "".join(text for text, _ in parsed) == "Hola, ¿en qué ayudo?"
    final = parsed[-1][1]
    assert final is not None and final.completion_tokens == 3 and final.prompt_tokens == 12
    assert all(stats is None for _, stats in parsed[:-1])


def test_malformed_line_is_an_error() -> None:
    with pytest.raises(llm.LLMError) as err:
        llm.parse_chat_line(b'{"model": "x", "message": {"content": "ro')
    assert err.value.code == llm.LLM_ERROR


def test_energyapp_dev_names_an_ollama_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `energyapp dev` says which Ollama did not answer; a URL with basic auth is named without
    # its password (the settings' own errors never show the URL for the same reason).
    assert stand_in_cli.start_stand_in("http://ollama:Pr0xy-S3cret@192.0.2.1:11434", 11434) is None
    said = capsys.readouterr().out
    assert "192.0.2.1:11434" in said and "Pr0xy" not in said
