"""Refresh rotation and reuse detection, lifetimes, logout, logout-all, deactivation, and access
tokens that are forged, tampered with or from another key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.admin import service as admin_service
from energyapp.auth.models import AuthSession, RefreshToken, User
from energyapp.auth.security import decode_access_token, sha256_hex
from energyapp.config import Settings
from tests.auth.conftest import (
    AuditFn,
    EnableTotpFn,
    LoginFn,
    bearer,
    finish_second_step,
    start_second_step,
)
from tests.conftest import TEST_SECRET, HeadersFactory, UserFactory


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": token})


async def test_refresh_rotates_and_keeps_the_session(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    login: LoginFn,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    first = await login(user.email)
    async with sessionmaker() as session:
        await session.execute(
            update(User)
            .where(User.id == user.id)
            .values(
                last_active_at=datetime(2026, 1, 1, tzinfo=UTC),
                last_login_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
        await session.commit()
    response = await _refresh(client, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    sid = decode_access_token(settings, first["access_token"]).session_id
    assert decode_access_token(settings, second["access_token"]).session_id == sid
    assert (await client.get("/auth/me", headers=bearer(second))).status_code == 200
    async with sessionmaker() as session:
        row = await session.get(User, user.id)
        assert row is not None and row.last_active_at.year == datetime.now(UTC).year
        assert row.last_active_at > datetime(2026, 1, 2, tzinfo=UTC)
        # A refresh is activity, not a sign-in: the admin panel's last login stays put.
        assert row.last_login_at == datetime(2026, 1, 1, tzinfo=UTC)
        old = (
            await session.execute(
                select(RefreshToken).where(
                    RefreshToken.token_hash == sha256_hex(first["refresh_token"])
                )
            )
        ).scalar_one()
        assert old.rotated_at is not None
    # And the new one can be rotated again.
    assert (await _refresh(client, second["refresh_token"])).status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    login: LoginFn,
    audit_events: AuditFn,
) -> None:
    user = await make_user()
    stolen = await login(user.email)
    other_device = await login(user.email)
    legit = (await _refresh(client, stolen["refresh_token"])).json()
    # The owner used the new token: a replay of the old one is no retry (tests/auth/
    # test_refresh_grace.py has the retries).
    newest = (await _refresh(client, legit["refresh_token"])).json()
    reuse = await _refresh(client, stolen["refresh_token"])
    assert reuse.status_code == 401
    assert reuse.json()["code"] == "refresh_token_reused"
    # The family is dead: the newest refresh token and the access tokens of the session too.
    after = await _refresh(client, newest["refresh_token"])
    assert after.status_code == 401
    assert (await client.get("/auth/me", headers=bearer(newest))).status_code == 401
    assert (await client.get("/auth/me", headers=bearer(stolen))).status_code == 401
    # Another login of the same user is a different family and keeps working.
    assert (await client.get("/auth/me", headers=bearer(other_device))).status_code == 200
    (event,) = await audit_events("refresh_token_reused")
    assert event.actor_id == user.id


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    response = await _refresh(client, "no-existe")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_refresh_token"


@pytest.mark.parametrize("which", ["idle", "absolute"])
async def test_expired_refresh_token_is_refused(
    which: str,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    login: LoginFn,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    tokens = await login(user.email)
    sid = decode_access_token(settings, tokens["access_token"]).session_id
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with sessionmaker() as session:
        if which == "idle":
            await session.execute(
                update(RefreshToken).where(RefreshToken.session_id == sid).values(expires_at=past)
            )
        else:
            await session.execute(
                update(AuthSession).where(AuthSession.id == sid).values(expires_at=past)
            )
        await session.commit()
    response = await _refresh(client, tokens["refresh_token"])
    assert response.status_code == 401
    assert response.json()["code"] == "session_expired"


async def test_new_refresh_token_never_outlives_the_session(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    login: LoginFn,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    tokens = await login(user.email)
    sid = decode_access_token(settings, tokens["access_token"]).session_id
    soon = datetime.now(UTC) + timedelta(hours=1)
    async with sessionmaker() as session:
        await session.execute(
            update(AuthSession).where(AuthSession.id == sid).values(expires_at=soon)
        )
        await session.commit()
    new = (await _refresh(client, tokens["refresh_token"])).json()
    async with sessionmaker() as session:
        token = (
            await session.execute(
                select(RefreshToken).where(
                    RefreshToken.token_hash == sha256_hex(new["refresh_token"])
                )
            )
        ).scalar_one()
        assert token.expires_at <= soon + timedelta(seconds=1)


async def test_logout_ends_the_session_and_its_access_tokens(
    client: httpx.AsyncClient, make_user: UserFactory, login: LoginFn, audit_events: AuditFn
) -> None:
    user = await make_user()
    tokens = await login(user.email)
    other = await login(user.email)
    response = await client.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204
    me = await client.get("/auth/me", headers=bearer(tokens))
    assert me.status_code == 401
    assert me.json()["code"] == "session_revoked"
    assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
    assert (await client.get("/auth/me", headers=bearer(other))).status_code == 200
    # Idempotent, and an unknown token reveals nothing.
    again = await client.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 204
    assert (await client.post("/auth/logout", json={"refresh_token": "x"})).status_code == 204
    assert len(await audit_events("logout")) == 1


async def test_logout_all_ends_every_session(
    client: httpx.AsyncClient, make_user: UserFactory, login: LoginFn, audit_events: AuditFn
) -> None:
    user = await make_user()
    stranger = await make_user()
    sessions = [await login(user.email) for _ in range(3)]
    theirs = await login(stranger.email)
    response = await client.post("/auth/logout-all", headers=bearer(sessions[0]))
    assert response.status_code == 204
    for tokens in sessions:
        assert (await client.get("/auth/me", headers=bearer(tokens))).status_code == 401
        assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
    assert (await client.get("/auth/me", headers=bearer(theirs))).status_code == 200
    assert len(await audit_events("logout_all")) == 1
    assert (await client.post("/auth/logout-all")).status_code == 401


@pytest.mark.parametrize("second_step", ["verify", "setup"])
async def test_logout_all_ends_logins_waiting_for_their_second_step(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    enable_totp: EnableTotpFn,
    second_step: str,
) -> None:
    """Whoever stopped at the second step with the password (a 2FA code, or the setup an admin
    requires) cannot finish that login after the owner closed every session; someone else's
    pending login is not touched."""
    user, stranger = [await make_user(require_2fa=True) for _ in range(2)]
    owner = await auth_headers(user)
    secrets = [await enable_totp(u) if second_step == "verify" else None for u in (user, stranger)]

    pending = await start_second_step(client, user.email)
    theirs = await start_second_step(client, stranger.email)
    assert (await client.post("/auth/logout-all", headers=owner)).status_code == 204

    refused = await finish_second_step(client, pending, secrets[0])
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "challenge_invalid"
    assert (await finish_second_step(client, theirs, secrets[1])).status_code == 200


async def test_deactivation_refuses_a_still_valid_access_token(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    login: LoginFn,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    tokens = await login(user.email)
    assert (await client.get("/auth/me", headers=bearer(tokens))).status_code == 200
    async with sessionmaker() as session:
        await admin_service.change_from_console(session, user.email, is_active=False)
        await session.commit()
    assert (await client.get("/auth/me", headers=bearer(tokens))).status_code == 401
    assert (await _refresh(client, tokens["refresh_token"])).status_code == 401


async def test_inactive_user_with_an_open_session_is_refused(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    login: LoginFn,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Even if only the flag flips (no session revoked), every request checks it."""
    user = await make_user()
    tokens = await login(user.email)
    async with sessionmaker() as session:
        await session.execute(update(User).where(User.id == user.id).values(is_active=False))
        await session.commit()
    me = await client.get("/auth/me", headers=bearer(tokens))
    assert me.status_code == 401
    assert me.json()["code"] == "account_disabled"
    refreshed = await _refresh(client, tokens["refresh_token"])
    assert refreshed.status_code == 401
    assert refreshed.json()["code"] == "account_disabled"


# --- forged and tampered access tokens ----------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _claims(
    settings: Settings, user_id: uuid.UUID, session_id: uuid.UUID, /, **changes: Any
) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": uuid.uuid4().hex,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "typ": "access",
    }
    for key, value in changes.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims


def _hmac_signed(alg: str, claims: dict[str, Any], digest: Any) -> str:
    """Signed with the right secret but announcing another algorithm (PyJWT would refuse to
    build these: HS512 wants a longer key, RS256 an RSA key)."""
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    sig = hmac.new(TEST_SECRET.encode(), f"{header}.{body}".encode(), digest).digest()
    return f"{header}.{body}.{_b64(sig)}"


def _forge(kind: str, settings: Settings, user_id: uuid.UUID, sid: uuid.UUID) -> str:
    now = int(datetime.now(UTC).timestamp())
    good = _claims(settings, user_id, sid)
    if kind == "alg_none":
        return _unsigned({"alg": "none", "typ": "JWT"}, good)
    if kind == "alg_none_signed":
        header = {"alg": "none", "typ": "JWT"}
        return _unsigned(header, good)[:-1] + "." + _b64(b"sig")
    if kind == "hs512_same_key":
        return _hmac_signed("HS512", good, hashlib.sha512)
    if kind == "rs256_header_hmac_signature":
        return _hmac_signed("RS256", good, hashlib.sha256)
    if kind == "wrong_key":
        return jwt.encode(good, "another-secret-key-of-enough-length-0000", algorithm="HS256")
    if kind == "expired":
        claims = _claims(settings, user_id, sid, iat=now - 3600, nbf=now - 3600, exp=now - 60)
        return jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    if kind == "future_iat":
        claims = _claims(settings, user_id, sid, iat=now + 3600)
        return jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    if kind.startswith("missing_"):
        claims = _claims(settings, user_id, sid, **{kind.removeprefix("missing_"): None})
        return jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    if kind in ("wrong_aud", "wrong_iss", "wrong_typ"):
        field = kind.removeprefix("wrong_")
        value = "refresh" if field == "typ" else "otro-servicio"
        claims = _claims(settings, user_id, sid, **{field: value})
        return jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    if kind == "tampered_payload":
        token = jwt.encode(good, TEST_SECRET, algorithm="HS256")
        header, _body, sig = token.split(".")
        evil = _b64(json.dumps(_claims(settings, uuid.uuid4(), sid)).encode())
        return f"{header}.{evil}.{sig}"
    if kind == "other_session":
        return jwt.encode(_claims(settings, user_id, uuid.uuid4()), TEST_SECRET, algorithm="HS256")
    if kind == "garbage":
        return "not.a.jwt"
    raise AssertionError(kind)


async def _session_of(auth_headers: HeadersFactory, settings: Settings, user: User) -> uuid.UUID:
    """An open session of ``user`` (made directly: no argon2 per parametrised case)."""
    header = (await auth_headers(user))["Authorization"].removeprefix("Bearer ")
    return decode_access_token(settings, header).session_id


FORGERIES = [
    "alg_none",
    "alg_none_signed",
    "hs512_same_key",
    "rs256_header_hmac_signature",
    "wrong_key",
    "expired",
    "future_iat",
    "missing_sub",
    "missing_sid",
    "missing_exp",
    "missing_iat",
    "missing_jti",
    "missing_iss",
    "missing_aud",
    "missing_typ",
    "wrong_aud",
    "wrong_iss",
    "wrong_typ",
    "tampered_payload",
    "other_session",
    "garbage",
]


async def test_a_well_formed_token_passes(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    settings: Settings,
) -> None:
    """The control case of the forgeries below: the same builder with nothing wrong works."""
    user = await make_user()
    sid = await _session_of(auth_headers, settings, user)
    token = jwt.encode(_claims(settings, user.id, sid), TEST_SECRET, algorithm="HS256")
    response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


async def test_an_expired_token_is_refused_as_expired(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    settings: Settings,
) -> None:
    """A token past its expiry and the 5 s of leeway gets ``token_expired``, not a generic 401."""
    user = await make_user()
    sid = await _session_of(auth_headers, settings, user)
    now = int(datetime.now(UTC).timestamp())
    claims = _claims(settings, user.id, sid, iat=now - 70, nbf=now - 70, exp=now - 6)
    headers = {"Authorization": f"Bearer {jwt.encode(claims, TEST_SECRET, algorithm='HS256')}"}
    response = await client.get("/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


@pytest.mark.parametrize("kind", FORGERIES)
async def test_forged_access_tokens_are_refused(
    kind: str,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    settings: Settings,
) -> None:
    user = await make_user()
    sid = await _session_of(auth_headers, settings, user)
    token = _forge(kind, settings, user.id, sid)
    response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, kind
    assert response.json()["code"] in ("invalid_token", "token_expired")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_missing_or_malformed_authorization_header(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}):
        response = await client.get("/auth/me", headers=headers)
        assert response.status_code == 401


async def test_access_token_stops_at_the_session_absolute_limit(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    sid = decode_access_token(settings, headers["Authorization"][7:]).session_id
    async with sessionmaker() as session:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.id == sid)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    response = await client.get("/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "session_expired"
