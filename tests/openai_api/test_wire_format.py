"""What a client sees on the wire, byte for byte, beyond what the SDK smooths over: requests
that send every optional field (null when unset), and the stream's framing as OpenAI sends it."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations.models import Conversation
from tests.chat.conftest import LiveApp
from tests.conftest import HeadersFactory, UserFactory
from tests.openai_api.conftest import KeyFactory, new_key

DEFAULT_MODEL = "qwen2.5:3b-instruct"
HELLO = [{"role": "user", "content": "Hola"}]


async def test_booleans_sent_as_null_take_their_default(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """OpenAI's spec has ``stream`` and ``store`` as nullable booleans: a client that writes
    every field of its request type (``"stream": null``) gets a whole, unstored answer."""
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        key = await new_key(http, base, headers, "Nulos")
        response = await http.post(
            f"{base}/v1/chat/completions",
            json={"model": DEFAULT_MODEL, "messages": HELLO, "stream": None, "store": None},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["object"] == "chat.completion"
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 0


async def test_a_stream_is_framed_with_line_feeds_as_openais(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    """``data: {...}`` then a blank line, LF only: hand-written clients (a browser script, a
    shell loop) split the stream on ``\\n\\n`` and compare a line with ``data: [DONE]``."""
    headers = await auth_headers(await make_user())
    payload = {"model": DEFAULT_MODEL, "messages": HELLO, "stream": True, "max_tokens": 3}
    async with live_app() as (base, _app):
        key = await new_key(http, base, headers, "Bytes")
        async with http.stream(
            "POST",
            f"{base}/v1/chat/completions",
            json=payload,
            headers={"Authorization": f"Bearer {key}"},
        ) as response:
            assert response.status_code == 200
            raw = (await response.aread()).decode()
    assert "\r" not in raw
    events = raw.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert len(events) > 3
    assert all(event.startswith('data: {"id":"chatcmpl-') for event in events[:-2])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("messages", [], "Datos inválidos: messages: debe traer entre 1 y 500 mensajes."),
        (
            "stop",
            ["a", "b", "c", "d", "e"],
            "Datos inválidos: stop: admite hasta 4 secuencias; quite 1.",
        ),
        ("temperature", 2.5, "Datos inválidos: temperature: debe ser como máximo 2.0."),
        ("top_p", -0.1, "Datos inválidos: top_p: debe ser como mínimo 0.0."),
        ("max_tokens", 0, "Datos inválidos: max_tokens: debe ser como mínimo 1."),
        (
            "max_completion_tokens",
            100_000,
            "Datos inválidos: max_completion_tokens: debe ser como máximo 32768.",
        ),
    ],
)
async def test_a_value_out_of_bounds_is_described_with_its_bound(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_key: KeyFactory,
    field: str,
    value: object,
    message: str,
) -> None:
    """400 naming the field and the bound, as OpenAI's ("Expected a value <= 2"), not the
    parser's "es demasiado grande", "no es válido" or a line per member of ``stop``'s union."""
    key = (await make_key(client, await auth_headers(await make_user())))["key"]
    response = await client.post(
        "/v1/chat/completions",
        json={"model": DEFAULT_MODEL, "messages": HELLO, field: value},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"], error["message"]) == (field, "invalid_request", message)


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
async def test_json_sent_without_its_content_type_is_told_so(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_key: KeyFactory,
    content_type: str | None,
) -> None:
    """``curl -d`` without ``-H``, or ``requests.post(data=json.dumps(...))``: the body is a
    JSON object, but unread as one; the 400 says which header is missing rather than that
    the body "must be a JSON object"."""
    key = (await make_key(client, await auth_headers(await make_user())))["key"]
    headers = {"Authorization": f"Bearer {key}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = json.dumps({"model": DEFAULT_MODEL, "messages": HELLO}).encode()
    response = await client.post("/v1/chat/completions", content=body, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (None, "invalid_request")
    assert "Content-Type: application/json" in error["message"]
    not_an_object = await client.post(
        "/v1/chat/completions",
        json=[{"model": DEFAULT_MODEL}],
        headers={"Authorization": f"Bearer {key}"},
    )
    assert not_an_object.json()["error"]["message"] == (
        "Datos inválidos: solicitud: debe ser un objeto JSON."
    )


async def test_every_chunk_of_a_stream_names_the_same_completion(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    """Clients merge chunks by ``id`` and read the role from the first: one id, one
    ``created``, the model; the role first, then text only; a request it cannot honour is a
    400 before any stream starts, not an error event after a 200."""
    headers = await auth_headers(await make_user())
    payload = {
        "model": DEFAULT_MODEL,
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with live_app() as (base, _app):
        auth = {"Authorization": f"Bearer {await new_key(http, base, headers, 'Trozos')}"}
        url = f"{base}/v1/chat/completions"
        async with http.stream("POST", url, json=payload, headers=auth) as response:
            lines = [line async for line in response.aiter_lines() if line]
        refused = await http.post(url, json={**payload, "n": 2}, headers=auth)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert len({(c["id"], c["created"], c["model"], c["object"]) for c in chunks}) == 1
    assert chunks[0]["id"].startswith("chatcmpl-") and chunks[0]["model"] == DEFAULT_MODEL
    assert chunks[0]["object"] == "chat.completion.chunk"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(set(c["choices"][0]["delta"]) == {"content"} for c in chunks[1:-2])
    assert (chunks[-2]["choices"][0]["finish_reason"], chunks[-1]["choices"]) == ("stop", [])
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "n"
