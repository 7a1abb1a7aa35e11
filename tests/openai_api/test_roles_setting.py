"""``api_keys_roles``: a role left out may neither create nor use keys."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from energyapp.main import create_app
from tests.conftest import HeadersFactory, UserFactory, make_settings


@pytest.fixture
async def admins_only(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(db_url, api_keys_roles=["admin"]))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_a_role_left_out_cannot_create_keys(
    admins_only: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    worker = await auth_headers(await make_user())
    admin = await auth_headers(await make_user("admin"))
    refused = await admins_only.post("/api-keys", json={"name": "X"}, headers=worker)
    assert refused.status_code == 403
    allowed = await admins_only.post("/api-keys", json={"name": "X"}, headers=admin)
    assert allowed.status_code == 201
