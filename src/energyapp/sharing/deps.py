"""Dependencies of shared links."""

from __future__ import annotations

from fastapi import Depends

from energyapp.auth.deps import CurrentUser
from energyapp.core.deps import RateLimiterDep, SettingsDep
from energyapp.sharing import service


async def read_allowed(user: CurrentUser, limiter: RateLimiterDep, settings: SettingsDep) -> None:
    """A signed-in account within ``shared_reads_per_minute`` (401 / 429 otherwise)."""
    await service.check_read_rate(limiter, settings, user)


SharedReadLimited = Depends(read_allowed)
