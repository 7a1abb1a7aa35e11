"""TOTP 2FA: setup with the password, confirmation with recovery codes, the login challenge
(single use, 5 minutes, 5 attempts), replay refusal, recovery codes used once, disabling, and
the admin reset."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth import totp, totp_secrets
from energyapp.auth.models import LoginChallenge, RecoveryCode, User
from energyapp.config import Settings
from tests.auth.conftest import PASSWORD, AuditFn, bearer, code_now
from tests.conftest import HeadersFactory, UserFactory


async def _enable_2fa(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[str, list[str]]:
    setup = await client.post("/auth/setup-2fa", json={"password": PASSWORD}, headers=headers)
    assert setup.status_code == 200, setup.text
    secret: str = setup.json()["secret"]
    confirm = await client.post(
        "/auth/setup-2fa/confirm", json={"code": code_now(secret)}, headers=headers
    )
    assert confirm.status_code == 200, confirm.text
    codes: list[str] = confirm.json()["recovery_codes"]
    return secret, codes


async def _challenge(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "requires_2fa": True,
        "challenge_token": body["challenge_token"],
        "expires_in": 300,
    }
    token: str = body["challenge_token"]
    return token


async def _verify(client: httpx.AsyncClient, challenge: str, code: str) -> httpx.Response:
    return await client.post("/auth/verify-2fa", json={"challenge_token": challenge, "code": code})


async def _use_previous_step(
    sessionmaker: async_sessionmaker[AsyncSession], user_id: uuid.UUID
) -> None:
    """Let a new code of the current step be accepted (the setup consumed the current one)."""
    async with sessionmaker() as session:
        await session.execute(
            update(User).where(User.id == user_id).values(totp_last_step=totp.current_step() - 2)
        )
        await session.commit()


@pytest.fixture
async def user_2fa(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> dict[str, Any]:
    user = await make_user(email=f"dos-{uuid.uuid4().hex[:6]}@inacapmail.cl")
    headers = await auth_headers(user)
    secret, codes = await _enable_2fa(client, headers)
    await _use_previous_step(sessionmaker, user.id)
    return {"user": user, "secret": secret, "codes": codes, "headers": headers}


async def test_setup_returns_secret_uri_and_qr(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    audit_events: AuditFn,
    settings: Settings,
) -> None:
    user = await make_user(email="qr@inacapmail.cl")
    headers = await auth_headers(user)
    response = await client.post("/auth/setup-2fa", json={"password": PASSWORD}, headers=headers)
    assert response.status_code == 200
    body = response.json()
    uri = urlparse(body["otpauth_uri"])
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert uri.path == "/EnergyApp:qr%40inacapmail.cl"
    query = parse_qs(uri.query)
    assert query["issuer"] == ["EnergyApp"]
    assert query["secret"] == [body["secret"]]
    assert len(body["secret"]) >= 32
    assert body["qr_svg"].startswith("<svg") and "<script" not in body["qr_svg"]
    # Pending until confirmed: login still needs no code.
    async with sessionmaker() as session:
        row = await session.get(User, user.id)
        assert row is not None and row.totp_enabled is False and row.totp_secret is not None
    assert (
        totp_secrets.open_sealed(settings.data_keyring, user.id, row.totp_secret)
        == (body["secret"])
    )
    me = await client.get("/auth/me", headers=headers)
    assert me.json()["totp_enabled"] is False
    assert len(await audit_events("2fa_setup_started")) == 1


async def test_setup_requires_the_password_and_an_allowed_domain(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    user = await make_user(email="clave@inacapmail.cl")
    headers = await auth_headers(user)
    wrong = await client.post("/auth/setup-2fa", json={"password": "otra-cosa-9"}, headers=headers)
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "invalid_password"
    assert (await client.post("/auth/setup-2fa", json={}, headers=headers)).status_code == 422
    outsider = await make_user(email="otro@alvaradomazzei.cl")
    refused = await client.post(
        "/auth/setup-2fa", json={"password": PASSWORD}, headers=await auth_headers(outsider)
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "2fa_not_allowed"
    assert (await client.post("/auth/setup-2fa", json={"password": PASSWORD})).status_code == 401


async def test_confirm_enables_2fa_and_returns_ten_hashed_recovery_codes(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    audit_events: AuditFn,
) -> None:
    user = await make_user(email="conf@inacapmail.cl")
    headers = await auth_headers(user)
    not_started = await client.post(
        "/auth/setup-2fa/confirm", json={"code": "123456"}, headers=headers
    )
    assert not_started.status_code == 409
    setup = (
        await client.post("/auth/setup-2fa", json={"password": PASSWORD}, headers=headers)
    ).json()
    wrong = await client.post("/auth/setup-2fa/confirm", json={"code": "000000"}, headers=headers)
    if wrong.status_code != 403:  # the one-in-a-million chance that 000000 is right
        pytest.skip("000000 happened to be the current code")
    assert wrong.json()["code"] == "invalid_code"
    response = await client.post(
        "/auth/setup-2fa/confirm", json={"code": code_now(setup["secret"])}, headers=headers
    )
    assert response.status_code == 200
    codes = response.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    async with sessionmaker() as session:
        row = await session.get(User, user.id)
        assert row is not None and row.totp_enabled
        stored = list(
            (
                await session.execute(select(RecoveryCode).where(RecoveryCode.user_id == user.id))
            ).scalars()
        )
    assert len(stored) == 10
    assert not {c.code_hash for c in stored} & set(codes)  # only hashes are stored
    assert {c.code_hash for c in stored} == {totp.hash_recovery_code(c) for c in codes}
    assert (await client.get("/auth/me", headers=headers)).json()["totp_enabled"] is True
    assert len(await audit_events("2fa_enabled")) == 1
    again = await client.post("/auth/setup-2fa", json={"password": PASSWORD}, headers=headers)
    assert again.status_code == 409


async def test_login_with_totp(
    client: httpx.AsyncClient, user_2fa: dict[str, Any], audit_events: AuditFn
) -> None:
    challenge = await _challenge(client, user_2fa["user"].email)
    response = await _verify(client, challenge, code_now(user_2fa["secret"]))
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert (await client.get("/auth/me", headers=bearer(tokens))).status_code == 200
    (event,) = await audit_events("login")
    assert event.details == {"method": "totp", "session_id": event.details["session_id"]}
    # The challenge is single use.
    reused = await _verify(client, challenge, code_now(user_2fa["secret"], 1))
    assert reused.status_code == 401
    assert reused.json()["code"] == "challenge_invalid"


async def test_totp_replay_is_refused(client: httpx.AsyncClient, user_2fa: dict[str, Any]) -> None:
    code = code_now(user_2fa["secret"])
    first = await _verify(client, await _challenge(client, user_2fa["user"].email), code)
    assert first.status_code == 200
    replay = await _verify(client, await _challenge(client, user_2fa["user"].email), code)
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_code"
    # An older step than the last accepted one is a replay too.
    older = code_now(user_2fa["secret"], -1)
    stale = await _verify(client, await _challenge(client, user_2fa["user"].email), older)
    assert stale.status_code == 401


@pytest.mark.parametrize(("offset", "accepted"), [(-1, True), (1, True), (-3, False), (3, False)])
async def test_totp_window_is_one_step(
    offset: int, accepted: bool, client: httpx.AsyncClient, user_2fa: dict[str, Any]
) -> None:
    challenge = await _challenge(client, user_2fa["user"].email)
    into_step = time.time() % totp.STEP_SECONDS
    if into_step > totp.STEP_SECONDS - 2:  # do not let the step change under the assertion
        await asyncio.sleep(totp.STEP_SECONDS - into_step + 0.05)
    code = code_now(user_2fa["secret"], offset)
    if not accepted and code in {code_now(user_2fa["secret"], o) for o in (-1, 0, 1)}:
        pytest.skip("codes of distant steps happened to coincide")
    response = await _verify(client, challenge, code)
    assert response.status_code == (200 if accepted else 401)


async def test_recovery_code_works_once(
    client: httpx.AsyncClient, user_2fa: dict[str, Any], audit_events: AuditFn
) -> None:
    code = user_2fa["codes"][0]
    first = await _verify(client, await _challenge(client, user_2fa["user"].email), code.upper())
    assert first.status_code == 200
    again = await _verify(client, await _challenge(client, user_2fa["user"].email), code)
    assert again.status_code == 401
    assert again.json()["code"] == "invalid_code"
    # Another code still works, typed without dashes.
    other = user_2fa["codes"][1].replace("-", "")
    assert (
        await _verify(client, await _challenge(client, user_2fa["user"].email), other)
    ).status_code == 200
    methods = [e.details["method"] for e in await audit_events("login") if e.details]
    assert methods == ["recovery_code", "recovery_code"]


async def test_five_wrong_codes_kill_the_challenge(
    client: httpx.AsyncClient, user_2fa: dict[str, Any], audit_events: AuditFn
) -> None:
    challenge = await _challenge(client, user_2fa["user"].email)
    right = code_now(user_2fa["secret"])
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        response = await _verify(client, challenge, wrong)
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_code"
    dead = await _verify(client, challenge, right)
    assert dead.status_code == 401
    assert dead.json()["code"] == "challenge_invalid"
    failures = await audit_events("login_failed")
    assert len(failures) == 5
    assert all(e.details and e.details["reason"] == "invalid_2fa_code" for e in failures)


async def test_expired_challenge_is_refused(
    client: httpx.AsyncClient,
    user_2fa: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    challenge = await _challenge(client, user_2fa["user"].email)
    async with sessionmaker() as session:
        row = (await session.execute(select(LoginChallenge))).scalar_one()
        assert abs((row.expires_at - row.created_at) - timedelta(minutes=5)) < timedelta(seconds=2)
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        await session.commit()
    response = await _verify(client, challenge, code_now(user_2fa["secret"]))
    assert response.status_code == 401
    assert response.json()["code"] == "challenge_invalid"
    assert (await _verify(client, "inventado", "123456")).json()["code"] == "challenge_invalid"
    # A new login clears the dead challenges of the user.
    await _challenge(client, user_2fa["user"].email)
    async with sessionmaker() as session:
        rows = list((await session.execute(select(LoginChallenge))).scalars())
        assert len(rows) == 1 and rows[0].expires_at > datetime.now(UTC)


async def test_disable_requires_password_and_code(
    client: httpx.AsyncClient,
    user_2fa: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
    audit_events: AuditFn,
) -> None:
    headers = user_2fa["headers"]
    right = code_now(user_2fa["secret"])
    bad_pw = await client.post(
        "/auth/disable-2fa", json={"password": "no-es-esta-1", "code": right}, headers=headers
    )
    assert bad_pw.status_code == 403
    assert bad_pw.json()["code"] == "invalid_password"
    bad_code = await client.post(
        "/auth/disable-2fa",
        json={"password": PASSWORD, "code": "000000" if right != "000000" else "111111"},
        headers=headers,
    )
    assert bad_code.status_code == 403
    assert bad_code.json()["code"] == "invalid_code"
    only_pw = await client.post("/auth/disable-2fa", json={"password": PASSWORD}, headers=headers)
    assert only_pw.status_code == 422
    ok = await client.post(
        "/auth/disable-2fa", json={"password": PASSWORD, "code": right}, headers=headers
    )
    assert ok.status_code == 204
    async with sessionmaker() as session:
        row = await session.get(User, user_2fa["user"].id)
        assert row is not None
        assert (row.totp_enabled, row.totp_secret) == (False, None)
        remaining = await session.execute(
            select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == row.id)
        )
        assert remaining.scalar_one() == 0
    login = await client.post(
        "/auth/login", json={"email": user_2fa["user"].email, "password": PASSWORD}
    )
    assert "access_token" in login.json()
    assert len(await audit_events("2fa_disabled")) == 1
    assert len(await audit_events("password_check_failed")) == 1
    assert len(await audit_events("2fa_code_failed")) == 1


async def test_disable_accepts_a_recovery_code(
    client: httpx.AsyncClient, user_2fa: dict[str, Any]
) -> None:
    response = await client.post(
        "/auth/disable-2fa",
        json={"password": PASSWORD, "code": user_2fa["codes"][3]},
        headers=user_2fa["headers"],
    )
    assert response.status_code == 204


async def test_admin_resets_2fa_of_a_user_who_lost_the_phone(
    client: httpx.AsyncClient,
    user_2fa: dict[str, Any],
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    audit_events: AuditFn,
) -> None:
    target = user_2fa["user"]
    url = f"/admin/users/{target.id}/reset-2fa"
    for role in ("trabajador", "supervisor"):
        other = await make_user(role=role)
        response = await client.post(url, headers=await auth_headers(other))
        assert response.status_code == 403
    assert (await client.post(url)).status_code == 401
    admin = await make_user(role="admin")
    admin_headers = await auth_headers(admin)
    missing = await client.post(f"/admin/users/{uuid.uuid4()}/reset-2fa", headers=admin_headers)
    assert missing.status_code == 404
    # Not one's own: it would skip the password and the code that disable-2fa asks for.
    own = await client.post(f"/admin/users/{admin.id}/reset-2fa", headers=admin_headers)
    assert own.status_code == 409 and own.json()["code"] == "cannot_reset_own_2fa"
    assert (await client.get("/auth/me", headers=admin_headers)).status_code == 200
    assert await audit_events("2fa_reset") == []
    response = await client.post(url, headers=admin_headers)
    assert response.status_code == 204
    # The user's open sessions are closed; a login needs only the password now.
    assert (await client.get("/auth/me", headers=user_2fa["headers"])).status_code == 401
    login = await client.post("/auth/login", json={"email": target.email, "password": PASSWORD})
    assert "access_token" in login.json()
    (event,) = await audit_events("2fa_reset")
    assert event.actor_id == admin.id
    assert event.target_id == str(target.id)
    assert event.ip == "127.0.0.1"


def test_totp_helpers_match_rfc_6238() -> None:
    secret = pyotp.random_base32()
    now = datetime.now(UTC)
    step = totp.current_step(now)
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(now), now=now) == step
    assert totp.matching_step(secret, "12345", now=now) is None
    assert totp.matching_step(secret, "abcdef", now=now) is None
    codes = totp.new_recovery_codes()
    assert all(len(totp.normalize_recovery_code(c)) == 16 for c in codes)
