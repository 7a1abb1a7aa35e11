"""Details of OpenAI's shape a client relies on: ``/v1/models`` lists only what the Ollama
servers have, an empty model name is a malformed request, and a stream asked for its usage
carries ``usage: null`` on every chunk but the last."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import LiveApp
from tests.conftest import HeadersFactory, UserFactory
from tests.openai_api.conftest import KeyFactory, new_key, sdk_client

DEFAULT_MODEL = "qwen2.5:3b-instruct"
HELLO = [{"role": "user", "content": "Hola"}]


async def test_a_default_the_servers_lack_is_neither_listed_nor_found(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    """As the web picker: a client that picks a model from the list must not get one that
    answers 404 (the default was listed first although Ollama did not have it)."""
    fake[1].config.models = ("otro:1b", "mistral:latest")
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Modelos"))
        assert [m.id for m in (await client.models.list()).data] == ["otro:1b", "mistral:latest"]
        with pytest.raises(openai.NotFoundError) as missing:
            await client.models.retrieve(DEFAULT_MODEL)
        assert missing.value.code == "model_not_found"
        assert (await client.models.retrieve("mistral")).id == "mistral:latest"


async def test_models_answer_503_while_no_ollama_server_answers(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_key: KeyFactory,
) -> None:
    """The app's test settings point at a closed port: nothing can be said to exist, so the
    list is a 503 the SDK retries (Retry-After), not a guess."""
    key = (await make_key(client, await auth_headers(await make_user())))["key"]
    for path in ("/v1/models", f"/v1/models/{DEFAULT_MODEL}"):
        response = await client.get(path, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "llm_unavailable"
        assert int(response.headers["Retry-After"]) > 0


async def test_an_empty_model_name_is_a_malformed_request(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_key: KeyFactory,
) -> None:
    key = (await make_key(client, await auth_headers(await make_user())))["key"]
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "", "messages": HELLO},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "model",
        "invalid_request",
    )
    assert error["message"] == "Datos inválidos: model: no puede estar vacío."


async def _stream(
    http: httpx.AsyncClient, base: str, key: str, **body: Any
) -> list[dict[str, Any]]:
    """The JSON chunks of a streamed completion, exactly as sent (the SDK reads a missing
    field and a null alike)."""
    payload = {"model": DEFAULT_MODEL, "messages": HELLO, "stream": True, **body}
    headers = {"Authorization": f"Bearer {key}"}
    chunks: list[dict[str, Any]] = []
    async with http.stream(
        "POST", f"{base}/v1/chat/completions", json=payload, headers=headers
    ) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line[6:]))
    return chunks


async def test_usage_is_null_on_every_chunk_but_the_last_when_asked(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        key = await new_key(http, base, headers, "Uso")
        asked = await _stream(http, base, key, stream_options={"include_usage": True})
        plain = await _stream(http, base, key)
    assert len(asked) > 3
    assert all("usage" in chunk and chunk["usage"] is None for chunk in asked[:-1])
    assert asked[-1]["choices"] == [] and asked[-1]["usage"]["total_tokens"] > 0
    assert all("usage" not in chunk for chunk in plain)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/chat/completions", "POST"),
        ("PUT", "/v1/chat/completions", "POST"),
        ("DELETE", "/v1/models", "GET, HEAD"),
        ("POST", "/v1/models", "GET, HEAD"),
        ("PATCH", f"/v1/models/{DEFAULT_MODEL}", "GET, HEAD"),
    ],
)
async def test_a_method_a_route_does_not_take_is_405_not_an_unknown_url(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    """docs/api.md: 405 ``method_not_allowed`` for a method the route does not take. The
    catch-all for other ``/v1`` paths answered 404 ``unknown_url`` ("No existe la ruta
    /v1/chat/completions") for a GET to the chat route, which sends a person debugging a
    client looking for a typo in a path that is right."""
    response = await client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.headers["Allow"] == allowed
    # A path that exists nowhere is still OpenAI's 404, whatever the method.
    unknown = await client.request(method, "/v1/chat/nada")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_url"
