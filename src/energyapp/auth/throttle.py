"""Brute-force throttling of logins, 2FA codes, password checks, registrations and
password-reset links.

Counts live in the shared ``RateLimiter`` (in-process, or Redis when ``ENERGYAPP_REDIS_URL`` is
set), in moving windows of ``login_window_seconds``: nothing is locked forever, the window passes.

* Per account (normalised email or user id; hashed, so no address lands in Redis): every attempt
  is counted *before* the secret is checked, so parallel guesses cannot overshoot the limit; a
  success clears the count.
* Per IP: only failures count (an office behind one NAT address logs in many people), checked
  before and counted after each failure.
"""

from __future__ import annotations

import hashlib

from energyapp.config import Settings
from energyapp.core.ratelimit import LimitState, RateLimiter
from energyapp.errors import TooManyRequests

LOGIN = "auth-login"
TWO_FACTOR = "auth-2fa"
REGISTER = "auth-register"
RESET_LINK = "auth-reset-link"
RESET_EMAIL = "auth-reset-email"


def _too_many(state: LimitState) -> TooManyRequests:
    minutes = max(1, -(-state.retry_after // 60))
    return TooManyRequests(
        f"Demasiados intentos. Espere {minutes} min e intente de nuevo.",
        code="too_many_attempts",
        retry_after=state.retry_after,
    )


def account_key(identity: str) -> str:
    return hashlib.sha256(identity.strip().lower().encode()).hexdigest()[:32]


class Throttle:
    """The limits of one kind of secret (login password, 2FA code) for one request."""

    def __init__(self, limiter: RateLimiter, settings: Settings, name: str) -> None:
        self._limiter = limiter
        self._name = name
        self._window = settings.login_window_seconds
        self._per_account = settings.login_max_failures_per_account
        self._per_ip = settings.login_max_failures_per_ip

    async def before_attempt(self, *, account: str, ip: str) -> None:
        """Raise 429 when the IP or the account is over its limit; count this attempt."""
        ip_state = await self._limiter.check(
            f"{self._name}-ip", ip, limit=self._per_ip, window_seconds=self._window
        )
        if not ip_state.allowed:
            raise _too_many(ip_state)
        state = await self._limiter.hit(
            self._name, account_key(account), limit=self._per_account, window_seconds=self._window
        )
        if not state.allowed:
            raise _too_many(state)

    async def failed(self, *, ip: str) -> None:
        await self._limiter.hit(
            f"{self._name}-ip", ip, limit=self._per_ip, window_seconds=self._window
        )

    async def succeeded(self, *, account: str) -> None:
        await self._limiter.reset(
            self._name, account_key(account), limit=self._per_account, window_seconds=self._window
        )


async def before_registration(limiter: RateLimiter, settings: Settings, *, ip: str) -> None:
    """Every registration attempt from an IP counts (successes too): 429 past the limit."""
    await count_every_attempt(limiter, settings, REGISTER, ip)


async def before_password_reset(limiter: RateLimiter, settings: Settings, *, ip: str) -> None:
    """Every use or check of a password-reset link from an IP counts, as registrations do."""
    await count_every_attempt(limiter, settings, RESET_LINK, ip)


async def before_email_request(
    limiter: RateLimiter, settings: Settings, name: str, *, ip: str, email: str
) -> None:
    """Every request for an email (a reset link, a verification link) counts per IP and per
    address, whether or not an account has it: 429 past either limit, the same for any
    address, so it tells nothing about which ones exist."""
    await count_every_attempt(limiter, settings, name, ip)
    state = await limiter.hit(
        f"{name}-address",
        account_key(email),
        limit=settings.login_max_failures_per_account,
        window_seconds=settings.login_window_seconds,
    )
    if not state.allowed:
        raise _too_many(state)


async def count_every_attempt(limiter: RateLimiter, settings: Settings, name: str, ip: str) -> None:
    state = await limiter.hit(
        name,
        ip,
        limit=settings.login_max_failures_per_ip,
        window_seconds=settings.login_window_seconds,
    )
    if not state.allowed:
        raise _too_many(state)
