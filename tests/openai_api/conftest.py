"""API-key fixtures: a key made through the API, as a user would make it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import openai
import pytest

from tests.chat.conftest import fake, http, live_app

__all__ = ["fake", "http", "live_app"]

KeyFactory = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture
def make_key() -> KeyFactory:
    """``await make_key(client, headers, name=...)``: the creation's answer (with ``key``)."""

    async def _make(
        client: httpx.AsyncClient, headers: dict[str, str], name: str = "Script", **body: object
    ) -> dict[str, str]:
        response = await client.post("/api-keys", json={"name": name, **body}, headers=headers)
        assert response.status_code == 201, response.text
        created: dict[str, str] = response.json()
        return created

    return _make


async def new_key(http: httpx.AsyncClient, base: str, headers: dict[str, str], name: str) -> str:
    """A new key of the user behind ``headers``, on the app served at ``base``."""
    response = await http.post(f"{base}/api-keys", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def sdk_client(base: str, key: str) -> openai.AsyncOpenAI:
    """The official SDK pointed at the app served at ``base``, without retries."""
    return openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=20)
