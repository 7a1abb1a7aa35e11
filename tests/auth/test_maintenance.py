"""Pruning what authentication no longer needs: exactly the rows over for long enough go."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.audit.models import AuditEvent
from energyapp.auth import maintenance
from energyapp.auth.models import AuthSession, LoginChallenge, RefreshToken
from energyapp.db import utcnow
from tests.conftest import HeadersFactory, UserFactory

KEEP = 30


def _session(user_id: uuid.UUID, now: datetime, **fields: object) -> AuthSession:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "user_id": user_id,
        "created_at": now - timedelta(days=90),
        "expires_at": now + timedelta(days=10),
    }
    values.update(fields)
    return AuthSession(**values)


def _token(session_id: uuid.UUID, now: datetime, expires_in_days: float) -> RefreshToken:
    return RefreshToken(
        session_id=session_id,
        token_hash=uuid.uuid4().hex + uuid.uuid4().hex,
        created_at=now - timedelta(days=60),
        expires_at=now + timedelta(days=expires_in_days),
    )


async def test_prune_deletes_only_what_ended_long_enough_ago(
    sessionmaker: async_sessionmaker[AsyncSession], make_user: UserFactory
) -> None:
    user = await make_user()
    now = utcnow()
    live = _session(user.id, now)
    live_recently_revoked = _session(user.id, now, revoked_at=now - timedelta(days=KEEP - 1))
    revoked_long_ago = _session(user.id, now, revoked_at=now - timedelta(days=KEEP + 1))
    expired_long_ago = _session(user.id, now, expires_at=now - timedelta(days=KEEP + 1))
    expired_recently = _session(user.id, now, expires_at=now - timedelta(days=KEEP - 1))
    sessions = [live, live_recently_revoked, revoked_long_ago, expired_long_ago, expired_recently]
    async with sessionmaker() as db:
        db.add_all(sessions)
        await db.flush()
        db.add_all(
            [
                _token(live.id, now, 5),  # current: kept
                _token(live.id, now, -(KEEP - 1)),  # spent, expired recently: kept (reuse check)
                _token(live.id, now, -(KEEP + 1)),  # expired long ago: deleted
                _token(revoked_long_ago.id, now, 5),  # its session goes: deleted
                _token(expired_long_ago.id, now, -(KEEP + 5)),  # deleted
                _token(expired_recently.id, now, -(KEEP - 1)),  # kept with its session
            ]
        )
        for days in (-(KEEP + 1), -(KEEP - 1), 1):
            db.add(
                LoginChallenge(
                    user_id=user.id,
                    token_hash=uuid.uuid4().hex,
                    expires_at=now + timedelta(days=days),
                )
            )
        db.add(
            AuditEvent(action="auth.login", actor_id=user.id, created_at=now - timedelta(days=400))
        )
        await db.commit()

    async with sessionmaker() as db:
        pruned = await maintenance.prune(db, keep_days=KEEP, now=now)
        await db.commit()
    assert pruned == maintenance.Pruned(sessions=2, refresh_tokens=3, login_challenges=1)

    async with sessionmaker() as db:
        left = set((await db.scalars(select(AuthSession.id))).all())
        assert left == {live.id, live_recently_revoked.id, expired_recently.id}
        tokens = (await db.execute(select(RefreshToken.session_id, RefreshToken.expires_at))).all()
        assert sorted((sid, expires > now) for sid, expires in tokens) == sorted(
            [(live.id, True), (live.id, False), (expired_recently.id, False)]
        )
        assert await db.scalar(select(func.count()).select_from(LoginChallenge)) == 2
        assert await db.scalar(select(func.count()).select_from(AuditEvent)) == 1  # kept
        again = await maintenance.prune(db, keep_days=KEEP, now=now)
        assert again == maintenance.Pruned(0, 0, 0)


async def test_a_live_login_survives_pruning(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    await maintenance.prune_now(app)
    assert (await client.get("/auth/me", headers=headers)).status_code == 200


async def test_the_app_prunes_in_the_background(
    app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession], make_user: UserFactory
) -> None:
    user = await make_user()
    now = utcnow()
    async with sessionmaker() as db:
        db.add(_session(user.id, now, expires_at=now - timedelta(days=KEEP + 1)))
        await db.commit()
    async with maintenance.lifespan(app, first_delay=0):
        for _ in range(100):
            await asyncio.sleep(0.05)
            async with sessionmaker() as db:
                if not await db.scalar(select(func.count()).select_from(AuthSession)):
                    break
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(AuthSession)) == 0
