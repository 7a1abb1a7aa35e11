"""The ``/v1`` API driven by the official ``openai`` SDK against the app under uvicorn and the
stand-in Ollama over real HTTP."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.audit.models import AuditEvent
from energyapp.auth.models import User
from energyapp.conversations.models import Conversation, Message
from energyapp.llm.fake_server import FakeOllama
from energyapp.usage.models import UsageEvent
from tests.chat.conftest import LiveApp
from tests.conftest import HeadersFactory, UserFactory
from tests.openai_api.conftest import new_key, sdk_client

DEFAULT_MODEL = "qwen2.5:3b-instruct"


async def _usage(sessionmaker: async_sessionmaker[AsyncSession]) -> list[UsageEvent]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(UsageEvent).order_by(UsageEvent.created_at)))


async def test_models_and_completions_streamed_and_not(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    fake[1].config.models = ("otro:1b", DEFAULT_MODEL)
    headers = await auth_headers(await make_user())
    async with live_app() as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Script"))
        models = await client.models.list()
        assert [m.id for m in models.data] == [DEFAULT_MODEL, "otro:1b"]

        whole = await client.chat.completions.create(
            model=DEFAULT_MODEL,
            messages=[{"role": "user", "content": "Hola"}],
            temperature=0.2,
            max_tokens=50,
            stop=["###"],
            user="planilla-7",
            extra_body={"campo_desconocido": 1},
        )
        assert whole.object == "chat.completion"
        assert whole.choices[0].message.role == "assistant"
        assert whole.choices[0].message.content
        assert whole.choices[0].finish_reason == "stop"
        assert whole.usage is not None and whole.usage.completion_tokens == 16
        assert whole.usage.prompt_tokens > 0
        sent = fake[1].config.requests[-1]
        assert sent["options"]["temperature"] == 0.2
        assert sent["options"]["num_predict"] == 50 and sent["options"]["stop"] == ["###"]
        assert sent["messages"][0]["role"] == "system"  # the server's prompt, none was sent

        stream = await client.chat.completions.create(
            model=DEFAULT_MODEL,
            messages=[{"role": "user", "content": "Hola"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 16  # the stand-in's 16 tokens, one word each
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == whole.usage.total_tokens
    used = await _usage(sessionmaker)
    assert [(u.status, u.completion_tokens, u.message_id) for u in used] == [
        ("complete", 16, None),
        ("complete", 16, None),
    ]
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 0
        actions = list(await session.scalars(select(AuditEvent.action)))
    # Four calls from one address: its first use is audited, once.
    assert sorted(actions) == ["api_key_created", "api_key_new_ip"]
    async with live_app() as (base, _app):
        listed = (await http.get(f"{base}/api-keys", headers=headers)).json()["items"]
    assert (listed[0]["requests_30d"], listed[0]["tokens_30d"]) == (2, 2 * whole.usage.total_tokens)


async def test_store_keeps_a_conversation_titled_after_the_key(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    async with live_app() as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "n8n"))
        answer = await client.chat.completions.create(
            model=DEFAULT_MODEL,
            messages=[{"role": "user", "content": "Resuma el informe"}],
            store=True,
        )
    async with sessionmaker() as session:
        conversation = await session.scalar(select(Conversation))
        assert conversation is not None and conversation.title == "API: n8n"
        messages = list(await session.scalars(select(Message).order_by(Message.created_at)))
        owner = await session.get(User, user.id)
    assert [(m.role, m.status) for m in messages] == [
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert messages[0].content == "Resuma el informe"
    assert messages[1].content == answer.choices[0].message.content
    assert owner is not None and (owner.conversation_count, owner.message_count) == (1, 2)
    assert conversation.message_count == 2
    used = await _usage(sessionmaker)
    assert len(used) == 1 and used[0].message_id == messages[1].id


async def test_revoked_key_and_deactivated_owner_are_refused(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    admin = await auth_headers(await make_user("admin"))
    async with live_app() as (base, _app):
        revoked = await http.post(f"{base}/api-keys", json={"name": "A"}, headers=headers)
        key_id = revoked.json()["id"]
        assert (await http.delete(f"{base}/api-keys/{key_id}", headers=headers)).status_code == 200
        with pytest.raises(openai.AuthenticationError) as refused:
            await sdk_client(base, revoked.json()["key"]).models.list()
        assert refused.value.code == "invalid_api_key"

        kept = sdk_client(base, await new_key(http, base, headers, "B"))
        await kept.models.list()
        deactivated = await http.patch(
            f"{base}/admin/users/{user.id}", json={"is_active": False}, headers=admin
        )
        assert deactivated.status_code == 200
        with pytest.raises(openai.AuthenticationError) as disabled:
            await kept.models.list()
        assert disabled.value.code == "api_access_disabled"
        body = disabled.value.body
        assert isinstance(body, dict) and body["type"] == "authentication_error"

        # An admin requires 2FA of an owner who has not set it up: the key stops working.
        enrolled_later = await make_user()
        later = await auth_headers(enrolled_later)
        needs_2fa = sdk_client(base, await new_key(http, base, later, "D"))
        await needs_2fa.models.list()
        required = await http.patch(
            f"{base}/admin/users/{enrolled_later.id}", json={"require_2fa": True}, headers=admin
        )
        assert required.status_code == 200
        with pytest.raises(openai.AuthenticationError) as unmet:
            await needs_2fa.models.list()
        assert unmet.value.code == "2fa_setup_required"

        # Web access tokens are not API keys, and API keys are not access tokens.
        web_token = headers["Authorization"].removeprefix("Bearer ")
        with pytest.raises(openai.AuthenticationError):
            await sdk_client(base, web_token).models.list()
        other = await auth_headers(await make_user())
        key = await new_key(http, base, other, "C")
        on_web = await http.get(f"{base}/conversations", headers={"Authorization": f"Bearer {key}"})
        assert on_web.status_code == 401 and on_web.json()["code"]


async def test_quota_is_shared_with_the_web_and_counts_unstored_answers(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    headers = await auth_headers(await make_user())
    async with live_app(daily_token_quota={"trabajador": 20}) as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Cuota"))
        await client.chat.completions.create(
            model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Hola"}]
        )
        with pytest.raises(openai.RateLimitError) as exhausted:
            await client.chat.completions.create(
                model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Otra"}]
            )
        assert exhausted.value.code == "quota_exceeded"
        assert int(exhausted.value.response.headers["Retry-After"]) > 0
        # The quota renews tomorrow: the SDK must not retry on its own.
        assert exhausted.value.response.headers["x-should-retry"] == "false"
        web = await http.post(f"{base}/chat", json={"message": "Hola"}, headers=headers)
        assert web.status_code == 429 and web.json()["code"] == "quota_exceeded"


async def test_a_client_that_leaves_mid_stream_frees_the_slot(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """One slot and one answer per user: the next request of the same user is served only if
    the abandoned answer gave back both its place and its slot."""
    fake[1].config.tokens_per_second = 5
    fake[1].config.answer_tokens = 200  # 40 s if nobody stopped it
    headers = await auth_headers(await make_user())
    async with live_app(ollama_max_parallel=1, max_active_per_user=1) as (base, _app):
        key = await new_key(http, base, headers, "Editor")
        client = sdk_client(base, key)
        stream = await client.chat.completions.create(
            model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Larga"}], stream=True
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        await stream.close()
        fake[1].config.tokens_per_second = 0
        fake[1].config.answer_tokens = 4
        started = time.monotonic()
        for _ in range(20):  # the server notices the disconnect within moments
            try:
                answer = await client.chat.completions.create(
                    model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Corta"}]
                )
                break
            except openai.RateLimitError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the abandoned answer kept its place")
        assert time.monotonic() - started < 5
    assert answer.usage is not None and answer.usage.completion_tokens == 4
    statuses = [u.status for u in await _usage(sessionmaker)]
    assert statuses == ["stopped", "complete"]


async def test_a_non_streamed_client_that_leaves_frees_the_slot(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    fake[1].config.tokens_per_second = 5
    fake[1].config.answer_tokens = 200
    headers = await auth_headers(await make_user())
    async with live_app(ollama_max_parallel=1, max_active_per_user=1) as (base, _app):
        key = await new_key(http, base, headers, "Planilla")
        impatient = openai.AsyncOpenAI(
            base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=0.8
        )
        with pytest.raises(openai.APITimeoutError):
            await impatient.chat.completions.create(
                model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Larga"}]
            )
        fake[1].config.tokens_per_second = 0
        fake[1].config.answer_tokens = 4
        client = sdk_client(base, key)
        for _ in range(30):
            try:
                answer = await client.chat.completions.create(
                    model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Corta"}]
                )
                break
            except openai.RateLimitError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the abandoned answer kept its place")
    assert answer.choices[0].message.content
    assert [u.status for u in await _usage(sessionmaker)] == ["stopped", "complete"]


async def test_errors_in_openai_shape(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    headers = await auth_headers(await make_user())
    async with live_app(num_ctx=256, api_invalid_keys_per_ip=3) as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Errores"))
        with pytest.raises(openai.NotFoundError) as missing:
            await client.chat.completions.create(
                model="no-existe:7b", messages=[{"role": "user", "content": "Hola"}]
            )
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError) as too_big:
            await client.chat.completions.create(
                model=DEFAULT_MODEL, messages=[{"role": "user", "content": "x" * 2000}]
            )
        assert too_big.value.code == "context_length_exceeded"
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(model=DEFAULT_MODEL, messages=[])
        unknown = await http.get(f"{base}/v1/nada")
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_url"
        # Invalid keys from one address: 401 each, then 429 for a while.
        wrong = sdk_client(base, "ea_" + "x" * 43)
        for _ in range(3):
            with pytest.raises(openai.AuthenticationError):
                await wrong.models.list()
        with pytest.raises(openai.RateLimitError) as throttled:
            await wrong.models.list()
        assert throttled.value.code == "too_many_invalid_keys"
        # The guards in front of every route (size, encoding) answer /v1 in OpenAI's shape too.
        key_header = {"Authorization": f"Bearer {client.api_key}"}
        huge = await http.post(
            f"{base}/v1/chat/completions", content=b"x" * 1_100_000, headers=key_header
        )
        assert huge.status_code == 413
        assert huge.json()["error"]["code"] == "payload_too_large"
        latin1 = await http.post(
            f"{base}/v1/chat/completions",
            content='{"model": "ñ"}'.encode("latin-1"),
            headers={**key_header, "Content-Type": "application/json"},
        )
        assert latin1.status_code in (400, 422) and "error" in latin1.json()
        # The rest of the app keeps its own error format.
        web = await http.get(f"{base}/conversations")
        assert web.status_code == 401 and set(web.json()) == {"detail", "code"}
