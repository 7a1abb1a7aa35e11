"""Writing announcements, and closing one, are changes like any other: they count against the
person's ``write_rate_limit_per_minute``; reading them is not counted (the band reads every
minute)."""

from __future__ import annotations

import httpx
import pytest

from energyapp.config import Settings
from tests.announcements.conftest import ADMIN_LIST, MINE, announce
from tests.conftest import HeadersFactory, UserFactory, make_settings


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, write_rate_limit_per_minute=2)


async def test_announcement_writes_are_rate_limited(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin = await auth_headers(await make_user("admin"))
    made = await announce(client, admin)
    await client.post(f"{ADMIN_LIST}/{made['id']}/end", headers=admin)
    limited = await client.post(ADMIN_LIST, json={"body": "Otro"}, headers=admin)
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    for _ in range(3):
        assert (await client.get(ADMIN_LIST, headers=admin)).status_code == 200

    worker = await auth_headers(await make_user())
    other = await announce(client, await auth_headers(await make_user("admin")))
    for _ in range(3):
        assert (await client.get(MINE, headers=worker)).status_code == 200
    dismiss = f"{MINE}/{other['id']}/dismiss"
    assert (await client.post(dismiss, headers=worker)).status_code == 204
    assert (await client.post(dismiss, headers=worker)).status_code == 204
    assert (await client.post(dismiss, headers=worker)).status_code == 429
