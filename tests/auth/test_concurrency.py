"""Races: several refreshes with one token, several logins with one TOTP code, parallel guesses
on one challenge. The compare-and-set UPDATEs must hold on both databases (PostgreSQL row locks
under READ COMMITTED, SQLite's single writer)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import AuthSession, LoginChallenge, RefreshToken, User
from energyapp.auth.security import sha256_hex
from tests.auth.conftest import PASSWORD, EnableTotpFn, LoginFn, bearer, code_now
from tests.conftest import UserFactory


async def test_concurrent_refreshes_with_one_token_leave_at_most_one_pair(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    login: LoginFn,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    tokens = await login(user.email)
    body = {"refresh_token": tokens["refresh_token"]}
    responses = await asyncio.gather(*(client.post("/auth/refresh", json=body) for _ in range(4)))
    # One spends it. One that starts after that commit is taken for a retry of a lost answer
    # (docs/security.md) and replaces the winner's token while unused; one that read the token
    # before the commit finds it spent: theft, the family is revoked.
    assert any(r.status_code == 200 for r in responses)
    codes = {r.json()["code"] for r in responses if r.status_code != 200}
    assert codes <= {"refresh_token_reused", "session_revoked"}
    issued = [r.json() for r in responses if r.status_code == 200]
    if codes:  # the reuse killed the family, including every pair handed out
        for pair in issued:
            assert (await client.get("/auth/me", headers=bearer(pair))).status_code == 401
    async with sessionmaker() as session:
        hashes = [sha256_hex(pair["refresh_token"]) for pair in issued]
        live = await session.scalar(
            select(func.count())
            .select_from(RefreshToken)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(
                RefreshToken.token_hash.in_(hashes),
                RefreshToken.rotated_at.is_(None),
                AuthSession.revoked_at.is_(None),
            )
        )
    assert live == (0 if codes else 1)


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
