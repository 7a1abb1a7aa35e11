"""What real OpenAI clients send beyond the basics, driven by the official ``openai`` SDK against
the app under uvicorn and the stand-in Ollama: model retrieval, the sampling and output-format
parameters, the ones the API cannot honour, and the finish reason of a cut answer."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from openai.types.shared_params import ResponseFormatJSONSchema
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.llm.fake_server import FakeOllama
from energyapp.usage.models import UsageEvent
from tests.chat.conftest import LiveApp
from tests.conftest import HeadersFactory, UserFactory
from tests.openai_api.conftest import new_key, sdk_client

DEFAULT_MODEL = "qwen2.5:3b-instruct"
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hola"}]


async def test_an_answer_cut_by_the_token_limit_ends_with_length(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Corto"))
        cut = await client.chat.completions.create(
            model=DEFAULT_MODEL, messages=HELLO, max_completion_tokens=3
        )
        assert cut.choices[0].finish_reason == "length"
        assert cut.usage is not None and cut.usage.completion_tokens == 3
        stream = await client.chat.completions.create(
            model=DEFAULT_MODEL, messages=HELLO, max_tokens=3, stream=True
        )
        reasons = [c.choices[0].finish_reason async for c in stream if c.choices]
        assert reasons[-1] == "length" and reasons[:-1] == [None] * (len(reasons) - 1)
        whole = await client.chat.completions.create(model=DEFAULT_MODEL, messages=HELLO)
        assert whole.choices[0].finish_reason == "stop"


async def test_a_model_is_retrieved_by_its_id(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.models = (DEFAULT_MODEL, "hf.co/owner/otro:Q4_K_M")
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Modelos"))
        default = await client.models.retrieve(DEFAULT_MODEL)
        assert (default.id, default.object) == (DEFAULT_MODEL, "model")
        other = await client.models.retrieve("hf.co/owner/otro:Q4_K_M")
        assert other.id == "hf.co/owner/otro:Q4_K_M"
        with pytest.raises(openai.NotFoundError) as missing:
            await client.models.retrieve("no-existe:7b")
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.AuthenticationError):
            await sdk_client(base, "ea_" + "x" * 43).models.retrieve(DEFAULT_MODEL)


async def test_sampling_and_output_format_reach_ollama(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Opciones"))
        await client.chat.completions.create(
            model=DEFAULT_MODEL,
            messages=HELLO,
            temperature=0,
            top_p=0.5,
            seed=42,
            frequency_penalty=0.3,
            presence_penalty=-0.2,
            response_format={"type": "json_object"},
        )
        sent = fake[1].config.requests[-1]
        options = {name: sent["options"].get(name) for name in ("temperature", "top_p", "seed")}
        assert options == {"temperature": 0, "top_p": 0.5, "seed": 42}
        assert (sent["options"]["frequency_penalty"], sent["options"]["presence_penalty"]) == (
            0.3,
            -0.2,
        )
        assert sent["format"] == "json"

        # Structured output: the answer follows the schema.
        schema: dict[str, object] = {"type": "object", "properties": {"kwh": {"type": "number"}}}
        structured: ResponseFormatJSONSchema = {
            "type": "json_schema",
            "json_schema": {"name": "lectura", "schema": schema, "strict": True},
        }
        await client.chat.completions.create(
            model=DEFAULT_MODEL, messages=HELLO, response_format=structured
        )
        assert fake[1].config.requests[-1]["format"] == schema

        await client.chat.completions.create(
            model=DEFAULT_MODEL, messages=HELLO, response_format={"type": "text"}
        )
        assert "format" not in fake[1].config.requests[-1]
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(model=DEFAULT_MODEL, messages=HELLO, top_p=1.5)


async def test_parameters_it_cannot_honour_are_refused_before_anything_runs(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    tools: list[ChatCompletionToolParam] = [
        {"type": "function", "function": {"name": "medir", "parameters": {}}}
    ]
    headers = await auth_headers(await make_user())
    async with live_app(max_active_per_user=1) as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Agente"))
        refused: list[tuple[str | None, object]] = []
        legacy = {"functions": [{"name": "medir", "parameters": {}}]}
        cases = ({"n": 2}, {"logprobs": True}, {"tools": tools}, {"tools": tools, "n": 1}, legacy)
        for extra in cases:
            with pytest.raises(openai.BadRequestError) as error:
                await client.chat.completions.create(model=DEFAULT_MODEL, messages=HELLO, **extra)
            assert error.value.code == "unsupported_parameter"
            assert isinstance(error.value.body, dict) and error.value.body["message"]
            refused.append((error.value.param, error.value.body["type"]))
        assert refused == [
            ("n", "invalid_request_error"),
            ("logprobs", "invalid_request_error"),
            ("tools", "invalid_request_error"),
            ("tools", "invalid_request_error"),
            ("functions", "invalid_request_error"),
        ]
        # An image the text model could not see, in the second message.
        image: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": "Eres breve."},
            {"role": "user", "content": [
                {"type": "text", "text": "¿Qué medidor es?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ]},
        ]  # fmt: skip
        with pytest.raises(openai.BadRequestError) as unseen:
            await client.chat.completions.create(model=DEFAULT_MODEL, messages=image)
        assert (unseen.value.code, unseen.value.param) == (
            "unsupported_parameter",
            "messages[1].content",
        )
        assert fake[1].config.requests == []  # Ollama was never asked
        # What the API can honour still works, and no refused request kept a queue place.
        answer = await client.chat.completions.create(
            model=DEFAULT_MODEL, messages=HELLO, n=1, logprobs=False, tools=tools,
            tool_choice="none",
        )  # fmt: skip
        assert len(answer.choices) == 1 and answer.choices[0].message.content
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(UsageEvent)) == 1


async def test_a_refused_answer_says_truthfully_what_was_kept(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.busy = True  # Ollama answers 503 to every generation
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Saturado"))
        with pytest.raises(openai.InternalServerError) as whole:
            await client.chat.completions.create(model=DEFAULT_MODEL, messages=HELLO)
        assert whole.value.status_code == 503 and whole.value.response.headers["Retry-After"]
        stream = await client.chat.completions.create(
            model=DEFAULT_MODEL, messages=HELLO, stream=True
        )
        with pytest.raises(openai.APIError) as streamed:
            _chunks = [chunk async for chunk in stream]
        with pytest.raises(openai.InternalServerError) as stored:
            await client.chat.completions.create(model=DEFAULT_MODEL, messages=HELLO, store=True)
    # Nothing of an unstored request is kept, so the message must not say it was.
    assert "saturado" in whole.value.message and "guardad" not in whole.value.message
    assert "saturado" in streamed.value.message and "guardad" not in streamed.value.message
    # The error event has the documented shape, as every /v1 error.
    assert isinstance(streamed.value.body, dict)
    assert set(streamed.value.body) == {"message", "type", "param", "code"}
    assert "quedaron guardados" in stored.value.message


async def test_a_refused_answer_costs_no_quota(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Ollama refused (saturated): nothing was read or written, so nothing is counted, as for a
    failed web answer; a script retrying through a busy spell keeps its daily quota."""
    fake[1].config.busy = True
    headers = await auth_headers(await make_user())
    # A quota below one request's prompt (the server's system prompt and "Hola").
    async with live_app(daily_token_quota={"trabajador": 60}) as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Reintentos"))
        for store in (False, False, True):
            with pytest.raises(openai.InternalServerError):
                await client.chat.completions.create(
                    model=DEFAULT_MODEL, messages=HELLO, store=store
                )
        fake[1].config.busy = False
        answer = await client.chat.completions.create(model=DEFAULT_MODEL, messages=HELLO)
        assert answer.choices[0].message.content
    async with sessionmaker() as session:
        used = list(await session.scalars(select(UsageEvent).order_by(UsageEvent.created_at)))
    assert [(u.status, u.prompt_tokens + u.completion_tokens) for u in used][:3] == [
        ("error", 0),
        ("error", 0),
        ("error", 0),
    ]
    assert used[3].status == "complete" and used[3].completion_tokens == 16


async def test_text_parts_and_the_developer_role_reach_ollama(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    headers = await auth_headers(await make_user())
    messages: list[ChatCompletionMessageParam] = [
        {"role": "developer", "content": [
            {"type": "text", "text": "Responde en español."},
            {"type": "text", "text": "Sé breve."},
        ]},
        {"role": "user", "content": [
            {"type": "text", "text": "Compara la demanda"},
            {"type": "text", "text": "de enero y febrero."},
        ]},
    ]  # fmt: skip
    async with live_app() as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Partes"))
        await client.chat.completions.create(model=DEFAULT_MODEL, messages=messages)
    # The developer's instructions stand for the server's system prompt; parts stay apart.
    assert fake[1].config.requests[-1]["messages"] == [
        {"role": "system", "content": "Responde en español.\nSé breve."},
        {"role": "user", "content": "Compara la demanda\nde enero y febrero."},
    ]


async def test_a_model_named_without_its_tag_is_its_latest(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    """Ollama lists ``mistral`` as ``mistral:latest`` and answers to either name; a client
    configured with ``mistral`` must not get a 404."""
    fake[1].config.models = (DEFAULT_MODEL, "mistral:latest")
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Sin etiqueta"))
        answer = await client.chat.completions.create(model="mistral", messages=HELLO)
        assert answer.model == "mistral:latest"
        assert fake[1].config.requests[-1]["model"] == "mistral:latest"
        assert (await client.models.retrieve("mistral")).id == "mistral:latest"
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(model="mistral:7b", messages=HELLO)


async def test_a_context_overflow_is_openais_400(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    """Clients recognise an overflow by OpenAI's 400 ``context_length_exceeded`` (the SDK's
    ``BadRequestError``); nothing reaches Ollama."""
    headers = await auth_headers(await make_user())
    async with live_app(num_ctx=256) as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Largo"))
        long: list[ChatCompletionMessageParam] = [{"role": "user", "content": "energía " * 400}]
        with pytest.raises(openai.BadRequestError) as overflow:
            await client.chat.completions.create(model=DEFAULT_MODEL, messages=long)
        assert overflow.value.status_code == 400
        assert overflow.value.code == "context_length_exceeded"
        assert fake[1].config.requests == []


async def test_more_stop_sequences_than_openai_takes_are_refused(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    """Four at most, as OpenAI: a fifth was dropped without a word."""
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Paradas"))
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model=DEFAULT_MODEL, messages=HELLO, stop=["a", "b", "c", "d", "e"]
            )
        assert refused.value.code == "invalid_request"
        assert fake[1].config.requests == []
        await client.chat.completions.create(
            model=DEFAULT_MODEL, messages=HELLO, stop=["a", "b", "c", "d"]
        )
        assert fake[1].config.requests[-1]["options"]["stop"] == ["a", "b", "c", "d"]


async def test_a_v1_path_no_route_matches_answers_in_openais_shape(
    client: httpx.AsyncClient,
) -> None:
    """A line break keeps ``/v1/models/{model}`` from matching (found by the fuzzer): the 404
    still comes in OpenAI's shape, as every ``/v1`` error."""
    response = await client.get("/v1/models/a%0Ab")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert (await client.get("/conversations/a%0Ab/x")).json()["code"] == "not_found"


async def test_the_answer_room_caps_num_predict(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    """Without max_tokens an answer is still capped at its room in num_ctx (answer_reserve:
    Ollama's default is unbounded), and a larger max_tokens is clamped to it."""
    headers = await auth_headers(await make_user())
    async with live_app(num_ctx=512) as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Tope"))
        fake[1].config.answer_tokens = 200
        free = await client.chat.completions.create(model=DEFAULT_MODEL, messages=HELLO)
        assert fake[1].config.requests[-1]["options"]["num_predict"] == 128
        assert free.choices[0].finish_reason == "length"
        assert free.usage is not None and free.usage.completion_tokens == 128
        await client.chat.completions.create(model=DEFAULT_MODEL, messages=HELLO, max_tokens=5000)
        assert fake[1].config.requests[-1]["options"]["num_predict"] == 128
        await client.chat.completions.create(model=DEFAULT_MODEL, messages=HELLO, max_tokens=7)
        assert fake[1].config.requests[-1]["options"]["num_predict"] == 7
