"""Brute-force throttling: per account and per IP, for passwords, 2FA codes and registrations;
429 ``too_many_attempts`` with ``Retry-After``; the window passes (no permanent lockout); shared
across app processes through Redis."""

from __future__ import annotations

import asyncio
import secrets
import time

import httpx
import pytest

from tests.auth.conftest import PASSWORD, ClientFactory, EnableTotpFn, code_now
from tests.conftest import HeadersFactory, UserFactory

REDIS_URL = "redis://127.0.0.1:6379/15"


async def _login(
    client: httpx.AsyncClient, email: str, password: str, ip: str = "203.0.113.1"
) -> httpx.Response:
    return await client.post(
        "/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": ip},
    )


def _assert_throttled(response: httpx.Response, window: int) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "too_many_attempts"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window
    return retry_after


async def test_sixth_failed_login_for_an_account_is_429(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    """Default settings: 5 failures per account in 15 minutes."""
    user = await make_user()
    for _ in range(5):
        assert (await _login(client, user.email, "mala-clave-1")).status_code == 401
    # Even the right password is not checked now (and another IP does not help).
    blocked = await _login(client, user.email, PASSWORD, ip="198.51.100.9")
    retry_after = _assert_throttled(blocked, 900)
    assert retry_after > 800
    assert "min" in blocked.json()["detail"]
    # Other accounts are unaffected.
    other = await make_user()
    assert (await _login(client, other.email, PASSWORD)).status_code == 200


async def test_lockout_ends_when_the_window_passes(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    user = await make_user()
    window = 4
    async with make_client(login_max_failures_per_account=2, login_window_seconds=window) as c:
        started = time.monotonic()
        for _ in range(2):
            assert (await _login(c, user.email, "mala-clave-1")).status_code == 401
        retry_after = _assert_throttled(await _login(c, user.email, PASSWORD), window)
        if time.monotonic() - started > window:  # the machine was too slow to test this
            pytest.skip("failures took longer than the window")
        await asyncio.sleep(retry_after + 0.2)
        assert (await _login(c, user.email, PASSWORD)).status_code == 200


async def test_a_success_clears_the_account_count(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    user = await make_user()
    async with make_client(login_max_failures_per_account=2) as c:
        assert (await _login(c, user.email, "mala-clave-1")).status_code == 401
        assert (await _login(c, user.email, PASSWORD)).status_code == 200
        assert (await _login(c, user.email, "mala-clave-1")).status_code == 401
        assert (await _login(c, user.email, "mala-clave-1")).status_code == 401
        _assert_throttled(await _login(c, user.email, PASSWORD), 900)


async def test_failures_from_one_ip_are_limited_across_accounts(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    user = await make_user()
    async with make_client(login_max_failures_per_ip=3) as c:
        for i in range(3):
            response = await _login(c, f"nadie{i}@alvaradomazzei.cl", "x" * 10, ip="203.0.113.50")
            assert response.status_code == 401
        _assert_throttled(await _login(c, user.email, PASSWORD, ip="203.0.113.50"), 900)
        # Successes do not count against an IP (an office behind one NAT address).
        assert (await _login(c, user.email, PASSWORD, ip="203.0.113.51")).status_code == 200
        assert (await _login(c, user.email, PASSWORD, ip="203.0.113.51")).status_code == 200


async def test_unknown_accounts_are_throttled_like_known_ones(
    make_client: ClientFactory,
) -> None:
    """No account enumeration through the throttle either."""
    async with make_client(login_max_failures_per_account=2) as c:
        for _ in range(2):
            assert (await _login(c, "fantasma@alvaradomazzei.cl", "x" * 10)).status_code == 401
        _assert_throttled(await _login(c, "fantasma@alvaradomazzei.cl", "x" * 10), 900)


async def test_2fa_codes_are_throttled_per_account(
    make_client: ClientFactory,
    make_user: UserFactory,
    enable_totp: EnableTotpFn,
) -> None:
    user = await make_user(email="t2fa@inacapmail.cl")
    secret = await enable_totp(user)
    right = code_now(secret)
    wrong = "000000" if right != "000000" else "111111"
    async with make_client(login_max_failures_per_account=2, login_window_seconds=900) as c:
        login = await _login(c, user.email, PASSWORD)
        challenge = login.json()["challenge_token"]
        for _ in range(2):
            response = await c.post(
                "/auth/verify-2fa", json={"challenge_token": challenge, "code": wrong}
            )
            assert response.status_code == 401
        # The challenge is still alive (2 of 5 attempts) but the account is throttled.
        blocked = await c.post(
            "/auth/verify-2fa", json={"challenge_token": challenge, "code": right}
        )
        _assert_throttled(blocked, 900)


async def test_registration_is_throttled_per_ip(make_client: ClientFactory) -> None:
    async with make_client(login_max_failures_per_ip=2) as c:
        for i in range(2):
            response = await c.post(
                "/auth/register",
                json={"email": f"r{i}@gmail.com", "password": "Tren-de-cobre-42", "full_name": "R"},
                headers={"X-Forwarded-For": "203.0.113.77"},
            )
            assert response.status_code == 403
        blocked = await c.post(
            "/auth/register",
            json={"email": "r@inacapmail.cl", "password": "Tren-de-cobre-42", "full_name": "R"},
            headers={"X-Forwarded-For": "203.0.113.77"},
        )
        _assert_throttled(blocked, 900)
        elsewhere = await c.post(
            "/auth/register",
            json={"email": "r@inacapmail.cl", "password": "Tren-de-cobre-42", "full_name": "R"},
            headers={"X-Forwarded-For": "203.0.113.78"},
        )
        assert elsewhere.status_code == 201


async def test_password_rechecks_are_throttled(
    make_client: ClientFactory, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    """A stolen access token cannot brute-force the password through change-password."""
    user = await make_user(email="recheck@inacapmail.cl")
    headers = await auth_headers(user)
    async with make_client(login_max_failures_per_account=2) as c:
        for _ in range(2):
            response = await c.post(
                "/auth/change-password",
                json={"current_password": "adivinanza-1", "new_password": "Faro-del-sur-2031"},
                headers=headers,
            )
            assert response.status_code == 403
        blocked = await c.post(
            "/auth/change-password",
            json={"current_password": PASSWORD, "new_password": "Faro-del-sur-2031"},
            headers=headers,
        )
        _assert_throttled(blocked, 900)


async def test_redis_counts_are_shared_by_every_app_process(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    """Two app instances (two workers) on one Redis see the same failures."""
    user = await make_user(email=f"redis-{secrets.token_hex(6)}@alvaradomazzei.cl")
    ip = f"203.0.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    overrides = {
        "redis_url": REDIS_URL,
        "login_max_failures_per_account": 2,
        "login_window_seconds": 30,
    }
    async with make_client(**overrides) as one, make_client(**overrides) as two:
        assert (await _login(one, user.email, "mala-clave-1", ip=ip)).status_code == 401
        assert (await _login(two, user.email, "mala-clave-1", ip=ip)).status_code == 401
        _assert_throttled(await _login(one, user.email, PASSWORD, ip=ip), 30)
        _assert_throttled(await _login(two, user.email, PASSWORD, ip=ip), 30)


async def test_redis_lockout_ends_when_the_window_passes(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    user = await make_user(email=f"redis-{secrets.token_hex(6)}@alvaradomazzei.cl")
    ip = f"198.51.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    window = 4
    overrides = {
        "redis_url": REDIS_URL,
        "login_max_failures_per_account": 1,
        "login_window_seconds": window,
    }
    async with make_client(**overrides) as c:
        assert (await _login(c, user.email, "mala-clave-1", ip=ip)).status_code == 401
        retry_after = _assert_throttled(await _login(c, user.email, PASSWORD, ip=ip), window)
        await asyncio.sleep(retry_after + 0.2)
        assert (await _login(c, user.email, PASSWORD, ip=ip)).status_code == 200
