"""The daily token quota: its day (midnight to midnight, Chilean time: the company's working
day) and what a person has used and has left of it, read from the usage ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth.models import User
from energyapp.config import Settings
from energyapp.core import dates
from energyapp.db import utcnow
from energyapp.usage import service as usage_service

QUOTA_TIMEZONE = dates.LOCAL_TIMEZONE


def quota_day_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Start and end (next reset) of today's quota day."""
    local = (now or utcnow()).astimezone(QUOTA_TIMEZONE)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=1, hours=2)).replace(hour=0)  # safe across DST changes
    return start, end


@dataclass(frozen=True, slots=True)
class QuotaToday:
    quota: int | None  # None: the person's role has no daily quota
    used: int
    resets_at: datetime

    @property
    def remaining(self) -> int | None:
        return None if self.quota is None else max(0, self.quota - self.used)


async def today(session: AsyncSession, user: User, settings: Settings) -> QuotaToday:
    """The person's quota for today, the tokens (prompt plus answer) their generations used
    since midnight, web and API alike, and when it starts again."""
    start, reset = quota_day_bounds()
    used = await usage_service.tokens_used_since(session, user.id, start)
    return QuotaToday(settings.daily_token_quota.get(user.role), used, reset)
