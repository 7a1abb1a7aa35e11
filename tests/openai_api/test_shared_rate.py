"""The per-user message rate of ``/chat`` also counts the ``/v1`` API's requests, both ways."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.chat.conftest import LiveApp
from tests.conftest import HeadersFactory, UserFactory
from tests.openai_api.conftest import new_key, sdk_client

DEFAULT_MODEL = "qwen2.5:3b-instruct"


async def test_the_web_and_the_api_share_one_message_rate(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    headers = await auth_headers(await make_user())
    async with live_app(chat_rate_limit_per_minute=2, max_active_per_user=5) as (base, _app):
        client = sdk_client(base, await new_key(http, base, headers, "Ritmo"))
        web = await http.post(f"{base}/chat", json={"message": "Hola"}, headers=headers)
        assert web.status_code == 200
        await client.chat.completions.create(
            model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Hola"}]
        )
        with pytest.raises(openai.RateLimitError) as limited:
            await client.chat.completions.create(
                model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Otra"}]
            )
        assert limited.value.code == "rate_limited"
        assert 1 <= int(limited.value.response.headers["Retry-After"]) <= 60
        again = await http.post(f"{base}/chat", json={"message": "Otra"}, headers=headers)
        assert again.status_code == 429 and again.json()["code"] == "rate_limited"
