"""``GET /auth/me/usage``: a person sees what they used of today's quota and what is left, from
the ledger (web and API alike), before a 429 tells them."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.usage import service as usage_service
from energyapp.usage.models import UsageEvent
from energyapp.usage.quota import quota_day_bounds
from tests.chat.conftest import LiveApp
from tests.conftest import HeadersFactory, UserFactory


async def _charge(
    sessionmaker: async_sessionmaker[AsyncSession], user: User, tokens: int, *, days_ago: int = 0
) -> None:
    charge = usage_service.Charge(
        user_id=user.id,
        source="web",
        model="qwen2.5:3b-instruct",
        status="complete",
        prompt_tokens=tokens - tokens // 3,
        completion_tokens=tokens // 3,
    )
    async with sessionmaker() as session:
        await usage_service.record(session, charge)
        if days_ago:
            start = quota_day_bounds()[0] - timedelta(days=days_ago - 1, seconds=1)
            moved = update(UsageEvent).where(UsageEvent.id == charge.id).values(created_at=start)
            await session.execute(moved)
        await session.commit()


async def test_a_person_sees_what_is_left_of_todays_quota(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    worker, supervisor = await make_user("trabajador"), await make_user("supervisor")
    headers, boss = await auth_headers(worker), await auth_headers(supervisor)
    await _charge(sessionmaker, worker, 300, days_ago=1)  # yesterday's: not counted today
    await _charge(sessionmaker, supervisor, 50)  # someone else's
    async with live_app(daily_token_quota={"trabajador": 1000}) as (base, _app):
        got = await http.get(f"{base}/auth/me/usage", headers=headers)
        assert got.status_code == 200, got.text
        body = got.json()
        _, reset = quota_day_bounds()
        assert body["resets_at"].startswith(reset.isoformat()[:16])
        assert {k: body[k] for k in ("quota", "used_today", "remaining")} == {
            "quota": 1000,
            "used_today": 0,
            "remaining": 1000,
        }

        asked = await http.post(f"{base}/chat", json={"message": "Hola"}, headers=headers)
        assert asked.status_code == 200
        await asked.aread()  # the answer to its end: its ledger row is written
        body = (await http.get(f"{base}/auth/me/usage", headers=headers)).json()
        assert 0 < body["used_today"] < 1000
        assert body["remaining"] == 1000 - body["used_today"]

        await _charge(sessionmaker, worker, 5000)  # over the quota: nothing left, not negative
        body = (await http.get(f"{base}/auth/me/usage", headers=headers)).json()
        assert body["used_today"] > 5000 and body["remaining"] == 0
        over = await http.post(f"{base}/chat", json={"message": "Hola"}, headers=headers)
        assert over.status_code == 429 and over.json()["code"] == "quota_exceeded"

        # A role without a quota: what it used, nothing to run out of.
        body = (await http.get(f"{base}/auth/me/usage", headers=boss)).json()
        assert (body["quota"], body["used_today"], body["remaining"]) == (None, 50, None)

        anonymous = await http.get(f"{base}/auth/me/usage")
        assert anonymous.status_code == 401 and anonymous.json()["code"]
