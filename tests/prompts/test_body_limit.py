"""A prompt's body may be as long as a message in force: the global limit (a small
``num_ctx`` makes it smaller than ``max_message_chars`` here), shortened for a person's own
prompts by their custom instructions, as GET /chat/limit says; a published one, the global."""

from __future__ import annotations

import httpx
import pytest

from energyapp.config import Settings
from tests.conftest import HeadersFactory, UserFactory, make_settings


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, num_ctx=1024, max_message_chars=200_000)


async def _post(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], title: str, length: int
) -> httpx.Response:
    return await client.post(url, json={"title": title, "body": "x" * length}, headers=headers)


async def test_the_body_limit_follows_the_message_limit_in_force(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    headers = await auth_headers(await make_user())
    limit = (await client.get("/config/public")).json()["max_message_chars"]
    assert 100 < limit < 200_000
    assert (await _post(client, "/prompts", headers, "Cabe", limit)).status_code == 201
    over = await _post(client, "/prompts", headers, "No cabe", limit + 1)
    assert over.status_code == 422 and over.json()["code"] == "prompt_body_too_long"
    assert str(limit) in over.json()["detail"]


async def test_custom_instructions_shorten_a_persons_limit_not_a_published_one(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    headers = await auth_headers(await make_user("admin"))
    general = (await client.get("/config/public")).json()["max_message_chars"]
    saved = await client.put(
        "/auth/me/instructions",
        json={"about_user": "a" * 1000, "response_style": "b" * 1000, "enabled": True},
        headers=headers,
    )
    assert saved.status_code == 200
    limit = (await client.get("/chat/limit", headers=headers)).json()["max_message_chars"]
    assert limit < general
    assert (await _post(client, "/prompts", headers, "A", limit)).status_code == 201
    over = await _post(client, "/prompts", headers, "B", limit + 1)
    assert over.status_code == 422 and over.json()["code"] == "prompt_body_too_long"
    published = await _post(client, "/admin/prompts", headers, "Para todos", general)
    assert published.status_code == 201, published.text
    too_long = await _post(client, "/admin/prompts", headers, "Larga", general + 1)
    assert too_long.status_code == 422
