from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.conftest import make_settings


async def test_public_config_exposes_only_ui_settings(client: httpx.AsyncClient) -> None:
    response = await client.get("/config/public")
    assert response.status_code == 200
    assert response.json() == {
        "demo_quick_access": True,
        "registration_domains": ["alvaradomazzei.cl", "inacapmail.cl"],
        "max_message_chars": 8000,
        "self_service_2fa_domains": ["inacapmail.cl"],
        "password_change_domains": ["inacapmail.cl"],
        "mail_enabled": False,
        "temporary_chat_hours": 24,
    }
    assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_public_config_follows_settings(db_url: str) -> None:
    from asgi_lifespan import LifespanManager

    from energyapp.main import create_app

    settings = make_settings(db_url, demo_quick_access=False, max_message_chars=1234)
    app: FastAPI = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            body = (await c.get("/config/public")).json()
    assert body["demo_quick_access"] is False
    assert body["max_message_chars"] == 1234


async def test_the_message_limit_is_what_num_ctx_holds(db_url: str) -> None:
    """With a small context a message of ``max_message_chars`` would not fit beside the system
    prompt and the answer's room, and Ollama would cut the prompt's start. The composer's limit
    and the chat's 413 follow what fits."""
    from asgi_lifespan import LifespanManager

    from energyapp.core.tokens import message_limit
    from energyapp.main import create_app

    settings = make_settings(db_url, num_ctx=2048, max_message_chars=8000)
    room = 2048 - 512 - (len(settings.system_prompt) // 3 + 8) - 8
    assert message_limit(settings) == room * 3 < 8000
    roomy = make_settings(db_url, num_ctx=8192, max_message_chars=8000)
    assert message_limit(roomy) == 8000
    app: FastAPI = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            body = (await c.get("/config/public")).json()
    assert body["max_message_chars"] == room * 3
