"""HTTP route of the caller's own usage (nobody else's: the admin reports are in admin/)."""

from __future__ import annotations

from fastapi import APIRouter

from energyapp.auth.deps import CurrentUser
from energyapp.core.deps import SettingsDep
from energyapp.db import SessionDep
from energyapp.usage import quota
from energyapp.usage.schemas import MyUsageOut

router = APIRouter(prefix="/auth/me", tags=["auth"])


@router.get("/usage")
async def my_usage(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MyUsageOut:
    """The caller's daily token quota: used today, what is left and when it starts again."""
    today = await quota.today(session, user, settings)
    return MyUsageOut(
        quota=today.quota,
        used_today=today.used,
        remaining=today.remaining,
        resets_at=today.resets_at,
    )
