"""Retries of a refresh whose answer was lost: presenting a token rotated less than
``refresh_reuse_grace_seconds`` ago, while its successor is unused, gets a new pair instead of
the theft answer; anything else stays theft (docs/security.md, "Rotation and reuse detection")."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import AuthSession, RefreshToken
from energyapp.auth.security import sha256_hex
from energyapp.config import Settings
from tests.auth.conftest import AuditFn, ClientFactory, LoginFn, bearer
from tests.conftest import UserFactory


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": token})


async def _row(sessionmaker: async_sessionmaker[AsyncSession], raw: str) -> RefreshToken:
    async with sessionmaker() as session:
        query = select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(raw))
        return (await session.execute(query)).scalar_one()


async def _session_of(
    sessionmaker: async_sessionmaker[AsyncSession], session_id: uuid.UUID
) -> AuthSession:
    async with sessionmaker() as session:
        found = await session.get(AuthSession, session_id)
        assert found is not None
        return found


async def _lost_answer(client: httpx.AsyncClient, login: LoginFn, email: str) -> tuple[str, str]:
    """A login, then a refresh whose answer the client never saw: (old token, its successor)."""
    old = (await login(email))["refresh_token"]
    response = await _refresh(client, old)
    assert response.status_code == 200
    successor: str = response.json()["refresh_token"]
    return old, successor


async def test_a_retry_inside_the_window_gets_a_pair_and_kills_the_unused_successor(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    login: LoginFn,
    sessionmaker: async_sessionmaker[AsyncSession],
    audit_events: AuditFn,
) -> None:
    user = await make_user()
    old, lost = await _lost_answer(client, login, user.email)
    retry = await _refresh(client, old)
    assert retry.status_code == 200, retry.text
    pair = retry.json()
    assert pair["refresh_token"] not in (old, lost)
    assert (await client.get("/auth/me", headers=bearer(pair))).status_code == 200
    # Same session, and the successor nobody received is spent without a successor of its own.
    new_row, lost_row = (
        await _row(sessionmaker, pair["refresh_token"]),
        await _row(sessionmaker, lost),
    )
    assert new_row.session_id == lost_row.session_id
    assert lost_row.rotated_at is not None and lost_row.replaced_by_id is None
    assert (await _row(sessionmaker, old)).replaced_by_id == new_row.id
    assert (await _session_of(sessionmaker, new_row.session_id)).revoked_at is None
    (event,) = await audit_events("refresh_token_retried")
    assert event.actor_id == user.id and event.target_id == str(new_row.session_id)
    assert await audit_events("refresh_token_reused") == []
    # The new pair rotates normally.
    assert (await _refresh(client, pair["refresh_token"])).status_code == 200


async def _theft_answer(
    response: httpx.Response,
    sessionmaker: async_sessionmaker[AsyncSession],
    audit_events: AuditFn,
    raw: str,
) -> None:
    assert response.status_code == 401
    assert response.json()["code"] == "refresh_token_reused"
    session = await _session_of(sessionmaker, (await _row(sessionmaker, raw)).session_id)
    assert session.revoked_at is not None and session.revoked_reason == "refresh_reuse"
    (event,) = await audit_events("refresh_token_reused")
    assert event.target_id == str(session.id)


async def test_a_retry_after_the_window_is_theft(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    login: LoginFn,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    audit_events: AuditFn,
) -> None:
    user = await make_user()
    old, lost = await _lost_answer(client, login, user.email)
    rotated = (await _row(sessionmaker, old)).rotated_at
    assert rotated is not None
    late = rotated - timedelta(seconds=settings.refresh_reuse_grace_seconds + 1)
    async with sessionmaker() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == sha256_hex(old))
            .values(rotated_at=late)
        )
        await session.commit()
    await _theft_answer(await _refresh(client, old), sessionmaker, audit_events, old)
    assert (await _refresh(client, lost)).json()["code"] == "session_revoked"


async def test_a_replay_after_the_successor_was_used_is_theft(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    login: LoginFn,
    sessionmaker: async_sessionmaker[AsyncSession],
    audit_events: AuditFn,
) -> None:
    user = await make_user()
    old, successor = await _lost_answer(client, login, user.email)
    newest = await _refresh(client, successor)
    assert newest.status_code == 200
    await _theft_answer(await _refresh(client, old), sessionmaker, audit_events, old)
    assert (await client.get("/auth/me", headers=bearer(newest.json()))).status_code == 401
    assert await audit_events("refresh_token_retried") == []


async def test_a_thief_inside_the_window_is_caught_at_the_owners_next_refresh(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    login: LoginFn,
    sessionmaker: async_sessionmaker[AsyncSession],
    audit_events: AuditFn,
) -> None:
    user = await make_user()
    stolen, owners = await _lost_answer(client, login, user.email)  # the owner got this answer
    thief = await _refresh(client, stolen)  # the grace hands the thief a pair...
    assert thief.status_code == 200
    # ...and replaces the owner's token unused, so the owner's next refresh is a reuse.
    await _theft_answer(await _refresh(client, owners), sessionmaker, audit_events, owners)
    assert (await _refresh(client, thief.json()["refresh_token"])).json()["code"] == (
        "session_revoked"
    )
    assert (await client.get("/auth/me", headers=bearer(thief.json()))).status_code == 401
    # The trail shows the retry that handed out the pair, then the reuse that ended it.
    assert len(await audit_events("refresh_token_retried")) == 1


async def test_two_retries_at_once_leave_at_most_one_pair(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    login: LoginFn,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    old, lost = await _lost_answer(client, login, user.email)
    responses = await asyncio.gather(*(_refresh(client, old) for _ in range(2)))
    # The first to spend the successor always wins (without the grace both were 401).
    assert any(r.status_code == 200 for r in responses), [r.text for r in responses]
    for response in responses:
        assert response.status_code == 200 or response.json()["code"] in (
            "refresh_token_reused",
            "session_revoked",
        )
    session = await _session_of(sessionmaker, (await _row(sessionmaker, old)).session_id)
    issued: list[dict[str, Any]] = [r.json() for r in responses if r.status_code == 200]
    rows = [await _row(sessionmaker, pair["refresh_token"]) for pair in issued]
    live = [row for row in rows if row.rotated_at is None and session.revoked_at is None]
    assert len(live) <= 1
    assert (await _row(sessionmaker, lost)).rotated_at is not None
    if session.revoked_at is None:  # they ran one after the other: the later one holds the pair
        (pair,) = (p for p, row in zip(issued, rows, strict=True) if row in live)
        assert (await _refresh(client, pair["refresh_token"])).status_code == 200


async def test_no_grace_when_it_is_off(
    make_client: ClientFactory, make_user: UserFactory, audit_events: AuditFn
) -> None:
    user = await make_user()
    async with make_client(refresh_reuse_grace_seconds=0) as client:
        login = await client.post(
            "/auth/login", json={"email": user.email, "password": "Contrasena-segura-1"}
        )
        old = login.json()["refresh_token"]
        assert (await _refresh(client, old)).status_code == 200
        again = await _refresh(client, old)
    assert again.json()["code"] == "refresh_token_reused"
    assert len(await audit_events("refresh_token_reused")) == 1
