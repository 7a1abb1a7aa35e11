"""Helpers of the announcement tests."""

from __future__ import annotations

from typing import Any

import httpx

ADMIN_LIST = "/admin/announcements"
MINE = "/announcements"


async def announce(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    body: str = "Reinicio a las 18:00",
    **fields: Any,
) -> dict[str, Any]:
    """Create one through the admin API; its JSON."""
    response = await client.post(ADMIN_LIST, json={"body": body, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def shown(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    """The texts of the announcements the caller sees, in order."""
    response = await client.get(MINE, headers=headers)
    assert response.status_code == 200, response.text
    return [item["body"] for item in response.json()]
