"""Login: tokens, same failure for unknown email and wrong password, disabled accounts,
bcrypt upgrade, last activity and the audit trail (with the proxy-aware client IP)."""

from __future__ import annotations

import statistics
import time

import bcrypt
import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import AuthSession, RefreshToken, User
from energyapp.auth.security import decode_access_token, sha256_hex
from energyapp.config import Settings
from tests.auth.conftest import PASSWORD, AuditFn, ClientFactory, LoginFn, bearer
from tests.conftest import UserFactory


async def test_login_returns_tokens_and_user(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user(email="ana@alvaradomazzei.cl", full_name="Ana Pérez")
    before = user.last_active_at
    response = await client.post(
        "/auth/login", json={"email": "  ANA@AlvaradoMazzei.cl ", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert body["user"]["email"] == "ana@alvaradomazzei.cl"
    assert body["user"]["can_change_password"] is False
    claims = decode_access_token(settings, body["access_token"])
    assert claims.user_id == user.id
    async with sessionmaker() as session:
        auth_session = await session.get(AuthSession, claims.session_id)
        assert auth_session is not None and auth_session.revoked_at is None
        token = (
            await session.execute(
                select(RefreshToken).where(
                    RefreshToken.token_hash == sha256_hex(body["refresh_token"])
                )
            )
        ).scalar_one()
        # Only the hash is stored; idle limit 7 days, session absolute limit 30 days.
        assert body["refresh_token"] not in token.token_hash
        assert abs((token.expires_at - token.created_at).days - 7) <= 1
        assert abs((auth_session.expires_at - auth_session.created_at).days - 30) <= 1
        refreshed_user = await session.get(User, user.id)
        assert refreshed_user is not None and refreshed_user.last_active_at > before
    me = await client.get("/auth/me", headers=bearer(body))
    assert me.status_code == 200
    assert set(me.json()) == {
        "id",
        "email",
        "full_name",
        "role",
        "totp_enabled",
        "can_change_password",
        "can_setup_2fa",
        "created_at",
        "last_active_at",
    }
    assert me.json()["full_name"] == "Ana Pérez"


async def test_unknown_email_and_wrong_password_fail_alike(
    client: httpx.AsyncClient, make_user: UserFactory, audit_events: AuditFn
) -> None:
    await make_user(email="bea@alvaradomazzei.cl")
    wrong = await client.post(
        "/auth/login", json={"email": "bea@alvaradomazzei.cl", "password": "otra-clave-123"}
    )
    unknown = await client.post(
        "/auth/login", json={"email": "nadie@alvaradomazzei.cl", "password": "otra-clave-123"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "invalid_credentials"
    failed = await audit_events("login_failed")
    assert len(failed) == 2  # kept although the request failed
    assert {e.details["email"] for e in failed if e.details} == {
        "bea@alvaradomazzei.cl",
        "nadie@alvaradomazzei.cl",
    }


async def test_a_password_typed_as_the_email_is_not_kept_in_the_audit_trail(
    client: httpx.AsyncClient, make_user: UserFactory, audit_events: AuditFn
) -> None:
    # A common slip: the password typed into the email field (then the email into the
    # password's). What was typed is kept for an unknown account only when it is an address.
    await make_user(email="bea@alvaradomazzei.cl")
    for typed in ("Invierno#2025", "mi clave secreta", "Clave@2025", "  Tr0ub4dor&3  "):
        failed = await client.post("/auth/login", json={"email": typed, "password": "x"})
        assert failed.status_code == 401
    await client.post("/auth/login", json={"email": "Nadie@Inacapmail.cl", "password": "x"})
    events = await audit_events("login_failed")
    kept = [e.details for e in events]
    assert len(kept) == 5
    assert all("invierno" not in str(d).lower() and "clave" not in str(d).lower() for d in kept)
    assert all("tr0ub4dor" not in str(d).lower() for d in kept)
    assert [d["email"] for d in kept] == [None, None, None, None, "nadie@inacapmail.cl"]
    assert {d["reason"] for d in kept} == {"invalid_credentials"}


async def test_timing_of_unknown_email_is_close_to_wrong_password(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user(email="tiempo@alvaradomazzei.cl")

    async def timed(email: str) -> float:
        start = time.perf_counter()
        response = await client.post("/auth/login", json={"email": email, "password": "x" * 12})
        assert response.status_code == 401
        return time.perf_counter() - start

    # Interleaved; distinct unknown emails so the per-account limit is never reached.
    known, unknown = [], []
    for i in range(3):
        known.append(await timed("tiempo@alvaradomazzei.cl"))
        unknown.append(await timed(f"nadie{i}@alvaradomazzei.cl"))
    ratio = statistics.median(unknown) / statistics.median(known)
    # Both pay one argon2 verification (tens of ms); without the dummy hash the unknown email
    # would answer in about a millisecond (ratio < 0.1).
    assert 0.25 < ratio < 4.0, (known, unknown)


async def test_disabled_account_is_told_only_after_the_right_password(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user(email="inactiva@alvaradomazzei.cl", is_active=False)
    wrong = await client.post(
        "/auth/login", json={"email": "inactiva@alvaradomazzei.cl", "password": "nope-nope-1"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_credentials"
    right = await client.post(
        "/auth/login", json={"email": "inactiva@alvaradomazzei.cl", "password": PASSWORD}
    )
    assert right.status_code == 403
    assert right.json()["code"] == "account_disabled"


async def test_bcrypt_hash_verifies_and_is_upgraded_to_argon2(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user(email="legado@alvaradomazzei.cl")
    async with sessionmaker() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
        await session.commit()
    response = await client.post(
        "/auth/login", json={"email": "legado@alvaradomazzei.cl", "password": PASSWORD}
    )
    assert response.status_code == 200
    async with sessionmaker() as session:
        row = await session.get(User, user.id)
        assert row is not None and row.password_hash.startswith("$argon2id$")
    again = await client.post(
        "/auth/login", json={"email": "legado@alvaradomazzei.cl", "password": PASSWORD}
    )
    assert again.status_code == 200


async def test_long_password_on_a_legacy_bcrypt_hash_never_500(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The old bcrypt server used only the first 72 bytes: those still log in (and are then
    upgraded to argon2id over the whole password); bcrypt 5 would otherwise raise."""
    password = "ñ" * 100  # 200 bytes
    user = await make_user(email="largo@alvaradomazzei.cl")
    async with sessionmaker() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.password_hash = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(4)).decode()
        await session.commit()
    ok = await client.post(
        "/auth/login", json={"email": "largo@alvaradomazzei.cl", "password": password}
    )
    assert ok.status_code == 200
    # Now argon2id over all 200 bytes: the 72-byte prefix alone no longer works.
    prefix = "ñ" * 36
    refused = await client.post(
        "/auth/login", json={"email": "largo@alvaradomazzei.cl", "password": prefix}
    )
    assert refused.status_code == 401


async def test_login_and_failure_are_audited_with_ip_and_user_agent(
    client: httpx.AsyncClient, make_user: UserFactory, audit_events: AuditFn, login: LoginFn
) -> None:
    user = await make_user(email="audit@alvaradomazzei.cl")
    # The test client's peer is 127.0.0.1, a trusted proxy by default: X-Forwarded-For counts.
    await login(
        "audit@alvaradomazzei.cl",
        **{"X-Forwarded-For": "203.0.113.7", "User-Agent": "pruebas/1.0"},
    )
    await client.post(
        "/auth/login",
        json={"email": "audit@alvaradomazzei.cl", "password": "incorrecta-1"},
        headers={"X-Forwarded-For": "198.51.100.4"},
    )
    (event,) = await audit_events("login")
    assert event.actor_id == user.id
    assert event.ip == "203.0.113.7"
    assert event.user_agent == "pruebas/1.0"
    (failed,) = await audit_events("login_failed")
    assert failed.ip == "198.51.100.4"


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(
    make_client: ClientFactory, make_user: UserFactory, audit_events: AuditFn
) -> None:
    await make_user(email="proxy@alvaradomazzei.cl")
    async with make_client(trusted_proxies=["10.9.9.9"]) as client:
        response = await client.post(
            "/auth/login",
            json={"email": "proxy@alvaradomazzei.cl", "password": PASSWORD},
            headers={"X-Forwarded-For": "203.0.113.7"},
        )
        assert response.status_code == 200
    (event,) = await audit_events("login")
    assert event.ip == "127.0.0.1"


async def test_a_forwarded_address_with_a_zone_is_not_a_client_address(
    client: httpx.AsyncClient, make_user: UserFactory, audit_events: AuditFn, login: LoginFn
) -> None:
    """An IPv6 zone (``fe80::1%eth0``) names an interface of the host that wrote it, and its text
    is unbounded: it was stored as the client's address, so a long one broke the login on
    PostgreSQL (422, the failure not audited) and not on SQLite."""
    await make_user(email="zona@alvaradomazzei.cl")
    zoned = "fe80::1%" + "x" * 80
    failed = await client.post(
        "/auth/login",
        json={"email": "zona@alvaradomazzei.cl", "password": "incorrecta-1"},
        headers={"X-Forwarded-For": zoned},
    )
    assert (failed.status_code, failed.json()["code"]) == (401, "invalid_credentials")
    await login("zona@alvaradomazzei.cl", **{"X-Forwarded-For": f"203.0.113.9, {zoned}"})
    (event,) = await audit_events("login_failed")
    assert event.ip == "127.0.0.1"
    (event,) = await audit_events("login")
    assert event.ip == "127.0.0.1"


async def test_login_body_with_extra_fields_or_bad_types_is_422(
    client: httpx.AsyncClient,
) -> None:
    for body in (
        {"email": "a@alvaradomazzei.cl", "password": "x" * 10, "role": "admin"},
        {"email": "a@alvaradomazzei.cl"},
        {"email": 5, "password": "x" * 10},
    ):
        response = await client.post("/auth/login", json=body)
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"
