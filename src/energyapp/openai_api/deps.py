"""The caller of a ``/v1`` route: the owner of a valid personal API key.

Only API keys are accepted here (a web access token is an invalid key), and the web API does
not accept API keys (they are not access tokens). Keys are checked in a short transaction of
their own: a streamed answer must not hold the request's session for minutes.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.apikeys import service as keys_service
from energyapp.auth.deps import BearerCredentials
from energyapp.auth.models import User
from energyapp.config import Settings
from energyapp.core.client_ip import client_ip
from energyapp.core.deps import RateLimiterDep, SettingsDep
from energyapp.core.ratelimit import RateLimiter
from energyapp.errors import AppError, TooManyRequests

logger = logging.getLogger("energyapp.openai_api")

INVALID_KEY_WINDOW = 900  # seconds over which invalid keys from one address are counted


@dataclass(frozen=True, slots=True)
class ApiCaller:
    user: User
    key_id: uuid.UUID
    key_name: str


async def _refuse_invalid(
    limiter: RateLimiter, settings: Settings, ip: str, error: AppError
) -> AppError:
    """Count one invalid key against the address: ``error`` (a 401) within the limit, 429
    ``too_many_invalid_keys`` past it. The address only is logged, never the key; fail2ban
    reads the 401s in Caddy's access log."""
    try:
        await limiter.enforce(
            "api_invalid_key", ip, limit=settings.api_invalid_keys_per_ip,
            window_seconds=INVALID_KEY_WINDOW, code="too_many_invalid_keys",
            detail="Demasiadas claves de API inválidas desde su dirección. Espere {seconds} s.",
        )  # fmt: skip
    except TooManyRequests as throttled:
        logger.warning("API keys refused: too many invalid keys", extra={"ip": ip})
        return throttled
    logger.warning("invalid API key", extra={"ip": ip, "outcome": error.code})
    return error


async def _check_key_rate(limiter: RateLimiter, settings: Settings, key_id: uuid.UUID) -> None:
    await limiter.enforce(
        "api", str(key_id), limit=settings.api_rate_limit_per_minute, window_seconds=60,
        detail="Demasiadas solicitudes con esta clave. Espere {seconds} s e intente de nuevo.",
    )  # fmt: skip


async def get_api_caller(
    request: Request,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    credentials: BearerCredentials,
) -> ApiCaller:
    """401 for a missing or invalid key (counted per address; 429 once too many), 429 once the
    key's own rate limit is spent.

    The key is checked before the address's count: many clients may share one address (an
    office behind NAT), and one of them sending a revoked key in a loop must not lock the
    others' valid keys out. There is no ceiling that skips the lookup (docs/api.md)."""
    ip = client_ip(request, settings.trusted_proxies)
    if credentials is None or not credentials.credentials:
        raise await _refuse_invalid(limiter, settings, ip, keys_service.invalid_key())
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    try:
        async with sessionmaker.begin() as session:
            user, key = await keys_service.authenticate_key(
                session, settings, credentials.credentials, request
            )
    except AppError as exc:
        raise await _refuse_invalid(limiter, settings, ip, exc) from None
    request.state.user_id = user.id
    await _check_key_rate(limiter, settings, key.id)
    return ApiCaller(user=user, key_id=key.id, key_name=key.name)


ApiCallerDep = Annotated[ApiCaller, Depends(get_api_caller)]
