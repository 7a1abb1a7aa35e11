"""Races: several refreshes with one token, several logins with one TOTP code, parallel guesses
on one challenge. The compare-and-set UPDATEs must hold on both databases (PostgreSQL row locks
under READ COMMITTED, SQLite's single writer)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import LoginChallenge, User
from tests.auth.conftest import PASSWORD, EnableTotpFn, LoginFn, bearer, code_now
from tests.conftest import UserFactory


async def test_concurrent_refreshes_with_one_token_let_at_most_one_through(
    client: httpx.AsyncClient, make_user: UserFactory, login: LoginFn
) -> None:
    user = await make_user()
    tokens = await login(user.email)
    body = {"refresh_token": tokens["refresh_token"]}
    responses = await asyncio.gather(*(client.post("/auth/refresh", json=body) for _ in range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) <= 1
    assert statuses.count(401) >= 3
    assert any(r.json().get("code") == "refresh_token_reused" for r in responses)
    # The reuse killed the family, including the pair the winner got.
    for response in responses:
        if response.status_code == 200:
            me = await client.get("/auth/me", headers=bearer(response.json()))
            assert me.status_code == 401


async def _two_factor_user(make_user: UserFactory, enable_totp: EnableTotpFn) -> tuple[User, str]:
    user = await make_user(email=f"c-{uuid.uuid4().hex[:6]}@inacapmail.cl")
    return user, await enable_totp(user)


async def _challenge(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    token: str = response.json()["challenge_token"]
    return token


async def test_one_totp_code_opens_one_session_even_in_parallel(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    enable_totp: EnableTotpFn,
) -> None:
    user, secret = await _two_factor_user(make_user, enable_totp)
    challenges = [await _challenge(client, user.email) for _ in range(3)]
    code = code_now(secret)
    responses = await asyncio.gather(
        *(
            client.post("/auth/verify-2fa", json={"challenge_token": c, "code": code})
            for c in challenges
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 401, 401]


async def test_parallel_guesses_cannot_exceed_five_per_challenge(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    enable_totp: EnableTotpFn,
) -> None:
    user, secret = await _two_factor_user(make_user, enable_totp)
    challenge = await _challenge(client, user.email)
    right = code_now(secret)
    wrong = "000000" if right != "000000" else "111111"
    responses = await asyncio.gather(
        *(
            client.post("/auth/verify-2fa", json={"challenge_token": challenge, "code": wrong})
            for _ in range(8)
        )
    )
    codes = [r.json()["code"] for r in responses]
    # 5 attempts are counted against the challenge; the account throttle (5) may refuse some.
    assert codes.count("invalid_code") <= 5
    assert all(c in ("invalid_code", "challenge_invalid", "too_many_attempts") for c in codes)
    async with sessionmaker() as session:
        row = (
            await session.execute(select(LoginChallenge).where(LoginChallenge.user_id == user.id))
        ).scalar_one()
        assert row.attempts <= 5
