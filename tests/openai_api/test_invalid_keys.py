"""Invalid API keys from one address: many clients may share it (an office behind NAT), so the
address's limit slows and reports whoever sends invalid keys, never the valid keys sent from
the same address."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.config import Settings
from energyapp.llm.fake_server import FakeOllama
from tests.conftest import HeadersFactory, UserFactory, make_settings
from tests.openai_api.conftest import KeyFactory

LIMIT = 3
WRONG_KEY = "ea_" + "x" * 43


@pytest.fixture
def settings(db_url: str, fake: tuple[str, FakeOllama]) -> Settings:
    return make_settings(db_url, ollama_url=fake[0], api_invalid_keys_per_ip=LIMIT)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Requests from an address of their own: with Redis, counts outlive a test."""
    office = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"
    transport = httpx.ASGITransport(app=app, client=(office, 50123))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _models(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})


def _assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "too_many_invalid_keys"
    assert "Demasiadas claves de API inválidas" in error["message"]
    assert int(response.headers["Retry-After"]) > 0


async def test_valid_keys_keep_working_from_an_address_over_the_invalid_key_limit(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_key: KeyFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One script retrying a revoked key in a loop, far past the limit (there is no ceiling
    past which the key goes unchecked), and a colleague's valid key from the same address."""
    valid = (await make_key(client, await auth_headers(await make_user())))["key"]
    owner = await auth_headers(await make_user())
    old = await make_key(client, owner, name="Script antiguo")
    assert (await client.delete(f"/api-keys/{old['id']}", headers=owner)).status_code == 200
    revoked = old["key"]
    for _ in range(LIMIT):
        refused = await _models(client, revoked)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
    assert (await _models(client, valid)).status_code == 200
    for _ in range(10 * LIMIT):
        _assert_throttled(await _models(client, revoked))
    _assert_throttled(await client.get("/v1/models"))  # no key at all counts as invalid
    assert (await _models(client, valid)).status_code == 200
    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("invalid API key") == LIMIT
    assert messages.count("API keys refused: too many invalid keys") == 10 * LIMIT + 1
    assert all(
        revoked not in str(r.__dict__) and valid not in str(r.__dict__) for r in caplog.records
    )


async def test_keys_of_owners_who_may_not_use_them_count_as_invalid(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_key: KeyFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A deactivated owner's key and the key of an owner who must set up 2FA are refused like
    an unknown key and counted against the address; a valid key from it still works."""
    valid = (await make_key(client, await auth_headers(await make_user())))["key"]
    deactivated, unenrolled = await make_user(), await make_user()
    disabled = (await make_key(client, await auth_headers(deactivated)))["key"]
    needs_2fa = (await make_key(client, await auth_headers(unenrolled)))["key"]
    async with sessionmaker.begin() as session:
        await session.execute(update(User).where(User.id == deactivated.id).values(is_active=False))
        await session.execute(update(User).where(User.id == unenrolled.id).values(require_2fa=True))

    codes = [(await _models(client, key)).json()["error"]["code"] for key in (disabled, needs_2fa)]
    assert codes == ["api_access_disabled", "2fa_setup_required"]
    assert (await _models(client, WRONG_KEY)).status_code == 401
    _assert_throttled(await _models(client, disabled))
    _assert_throttled(await _models(client, needs_2fa))
    assert (await _models(client, valid)).status_code == 200
