"""Dependencies every domain shares: the settings and the rate limiter of the running app.

Both are `async def`: they do no I/O, and a plain `def` would run in the thread pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from energyapp.config import Settings
from energyapp.core.ratelimit import RateLimiter


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
