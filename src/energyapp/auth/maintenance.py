"""Forgetting what authentication no longer needs, so its tables do not grow forever.

Every refresh rotates the token and keeps the spent one (reuse detection needs it), so a user
who stays logged in adds about a hundred ``refresh_tokens`` rows a day. Once a session, a
refresh token or a 2FA login challenge has been over for ``auth_retention_days``, its row (a
hash and some timestamps) is deleted. The audit trail, which records every login, logout and
revocation, is never pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth.models import AuthSession, LoginChallenge, RefreshToken
from energyapp.db import utcnow

logger = logging.getLogger("energyapp.auth")

PRUNE_INTERVAL_SECONDS = 24 * 3600
FIRST_PRUNE_DELAY_SECONDS = 60.0  # after start-up, not during it


@dataclass(frozen=True, slots=True)
class Pruned:
    sessions: int
    refresh_tokens: int
    login_challenges: int


async def prune(session: AsyncSession, *, keep_days: int, now: datetime | None = None) -> Pruned:
    """Delete sessions that expired or were revoked, refresh tokens that expired and login
    challenges that expired, all more than ``keep_days`` ago. The caller commits."""
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    ended = select(AuthSession.id).where(
        or_(AuthSession.expires_at < cutoff, AuthSession.revoked_at < cutoff)
    )
    # Not left to ON DELETE CASCADE: the counts are reported, and SQLite enforces foreign keys
    # only on connections that asked for it.
    tokens = await session.execute(
        delete(RefreshToken).where(
            or_(RefreshToken.expires_at < cutoff, RefreshToken.session_id.in_(ended))
        )
    )
    sessions = await session.execute(delete(AuthSession).where(AuthSession.id.in_(ended)))
    challenges = await session.execute(
        delete(LoginChallenge).where(LoginChallenge.expires_at < cutoff)
    )
    return Pruned(
        sessions=_count(sessions),
        refresh_tokens=_count(tokens),
        login_challenges=_count(challenges),
    )


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def prune_now(app: FastAPI) -> Pruned:
    async with app.state.sessionmaker() as session:
        pruned = await prune(session, keep_days=app.state.settings.auth_retention_days)
        await session.commit()
    if pruned.sessions or pruned.refresh_tokens or pruned.login_challenges:
        logger.info(
            "pruned ended sessions and tokens",
            extra={
                "sessions": pruned.sessions,
                "refresh_tokens": pruned.refresh_tokens,
                "login_challenges": pruned.login_challenges,
            },
        )
    return pruned


async def _every_day(app: FastAPI, first_delay: float) -> None:
    await asyncio.sleep(first_delay)
    while True:
        try:
            await prune_now(app)
        except Exception as exc:  # the database may be down: try again tomorrow
            logger.warning("pruning skipped: %s", type(exc).__name__)
        await asyncio.sleep(PRUNE_INTERVAL_SECONDS)


@contextlib.asynccontextmanager
async def lifespan(
    app: FastAPI, first_delay: float = FIRST_PRUNE_DELAY_SECONDS
) -> AsyncIterator[None]:
    """Prune once a minute after start-up, then once a day, while the app runs."""
    task = asyncio.get_running_loop().create_task(_every_day(app, first_delay))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
