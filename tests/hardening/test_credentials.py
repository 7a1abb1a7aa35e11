"""Credentials: only ``Authorization: Bearer`` is accepted, checked by one dependency, and a
token refused anywhere is refused everywhere."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from jwt.warnings import InsecureKeyLengthWarning
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import AuthSession, User
from energyapp.config import Settings
from tests.conftest import HeadersFactory, UserFactory
from tests.hardening.conftest import Actor, Endpoint, endpoints

# Routes that answer without an access token, each for a reason: health, the UI redirect, and
# the routes that carry their own credential: metrics (the metrics token or a direct local
# connection, tests/hardening/test_exposure.py) and the auth steps (password, challenge, refresh
# token).
PUBLIC = {
    "GET /",
    "GET /health",
    "GET /metrics",
    "GET /config/public",  # what the login screen shows before anyone logs in
    "POST /auth/login",
    "POST /auth/verify-2fa",
    "POST /auth/required-2fa/start",  # the setup challenge of a required-2FA login
    "POST /auth/required-2fa/confirm",
    "POST /auth/refresh",
    "POST /auth/logout",
    "POST /auth/register",
    # The one-time link an administrator handed over is the credential (auth/recovery.py).
    "POST /auth/password-reset/check",
    "POST /auth/password-reset",
    # Asks for a link by email; the answer is the same for any address (auth/email_recovery.py).
    "POST /auth/password-reset/request",
    # The emailed verification link is the credential; a resend answers alike for any address.
    "POST /auth/verify-email",
    "POST /auth/verify-email/resend",
    # The OpenAI-compatible API takes a personal API key instead (tests/openai_api).
    "GET /v1/models",
    "GET /v1/models/{model:path}",
    "POST /v1/chat/completions",
    *(f"{method} /v1/{{path:path}}" for method in ("GET", "POST", "PUT", "PATCH", "DELETE")),
}


ANCHOR_ROUTES = {
    "GET /auth/me",
    "POST /chat",
    "PATCH /admin/users/{user_id}",
}


def protected(app: FastAPI) -> list[Endpoint]:
    found = [e for e in endpoints(app) if e.needs_user]
    assert found, "the app has no protected route"
    return found


async def call(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    body = {} if endpoint.method in ("POST", "PUT", "PATCH") else None
    return await client.request(
        endpoint.method, endpoint.url(), headers=headers or {}, json=body, **kwargs
    )


def test_every_route_is_protected_unless_listed_public(app: FastAPI) -> None:
    """A new route must either depend on get_current_user or be added to PUBLIC on purpose."""
    unprotected = {str(e) for e in endpoints(app) if not e.needs_user}
    assert unprotected <= PUBLIC, f"routes without authentication: {unprotected - PUBLIC}"


async def test_no_credential_is_401_everywhere(client: httpx.AsyncClient, app: FastAPI) -> None:
    for endpoint in protected(app):
        response = await call(client, endpoint)
        assert response.status_code == 401, str(endpoint)
        assert response.json()["code"] == "not_authenticated"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_token_in_cookie_or_query_is_ignored(
    client: httpx.AsyncClient, app: FastAPI, actors: dict[str, Actor]
) -> None:
    token = actors["admin"].headers["Authorization"].removeprefix("Bearer ")
    for endpoint in protected(app):
        for name in ("access_token", "token", "Authorization", "session", "jwt"):
            value = token if name != "Authorization" else f"Bearer {token}"
            response = await call(client, endpoint, headers={"Cookie": f"{name}={value}"})
            assert response.status_code == 401, f"{endpoint} cookie {name}"
            response = await client.request(
                endpoint.method,
                endpoint.url(),
                params={name: value},
                json={} if endpoint.method in ("POST", "PATCH", "PUT") else None,
            )
            assert response.status_code == 401, f"{endpoint} query {name}"
    # Control: the very same token in the header is accepted by a route that only reads.
    readers = [e for e in protected(app) if e.method == "GET" and "{" not in e.path]
    for endpoint in readers:
        response = await call(client, endpoint, headers=actors["admin"].headers)
        assert response.status_code != 401, str(endpoint)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(signature)}"


def _claims(
    settings: Settings, subject: uuid.UUID, session: uuid.UUID, **changes: Any
) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(subject),
        "sid": str(session),
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=15)).timestamp()),
        "jti": secrets.token_hex(16),
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


def _forged_tokens(settings: Settings, user: User, sid: uuid.UUID) -> dict[str, str]:
    key = settings.secret_key
    now = datetime.now(UTC)
    ok = _claims(settings, user.id, sid)

    def hs256(claims: dict[str, Any]) -> str:
        return jwt.encode(claims, key, algorithm="HS256")

    tokens = {
        "alg none": _unsigned({"alg": "none", "typ": "JWT"}, ok),
        "alg None capitalised": _unsigned({"alg": "None", "typ": "JWT"}, ok),
        "HS512 with the right key": _other_hmac(ok, key, "HS512"),
        "HS384 with the right key": _other_hmac(ok, key, "HS384"),
        # Algorithm confusion: an RS256 header over an HMAC signature made with the secret.
        "RS256 header, HMAC body": _rs256_confusion(ok, key),
        "wrong key": jwt.encode(ok, "another-secret-key-of-sufficient-length-000", "HS256"),
        "signature stripped": hs256(ok).rsplit(".", 1)[0] + ".",
        "payload swapped": _swap_payload(hs256(ok), _claims(settings, uuid.uuid4(), sid)),
        "expired": hs256(
            _claims(
                settings,
                user.id,
                sid,
                iat=int((now - timedelta(hours=2)).timestamp()),
                nbf=int((now - timedelta(hours=2)).timestamp()),
                exp=int((now - timedelta(hours=1)).timestamp()),
            )
        ),
        "future iat": hs256(
            _claims(settings, user.id, sid, iat=int((now + timedelta(hours=1)).timestamp()))
        ),
        "future nbf": hs256(
            _claims(settings, user.id, sid, nbf=int((now + timedelta(hours=1)).timestamp()))
        ),
        "wrong audience": hs256(_claims(settings, user.id, sid, aud="otra-api")),
        "wrong issuer": hs256(_claims(settings, user.id, sid, iss="evil")),
        "refresh type": hs256(_claims(settings, user.id, sid, typ="refresh")),
        "sub not a uuid": hs256(_claims(settings, user.id, sid, sub="admin")),
        "sid of no session": hs256(_claims(settings, user.id, uuid.uuid4())),
        "garbage": "not.a.jwt",
        "empty segments": "..",
        "huge": "a" * 8000,
    }
    for claim in ("sub", "sid", "exp", "iat", "jti", "iss", "aud", "typ"):
        tokens[f"missing {claim}"] = hs256(_claims(settings, user.id, sid, **{claim: None}))
    return tokens


def _other_hmac(claims: dict[str, Any], key: str, algorithm: str) -> str:
    with warnings.catch_warnings():  # PyJWT warns that the key is short for SHA-512: it is meant
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, key, algorithm=algorithm)


def _rs256_confusion(claims: dict[str, Any], key: str) -> str:
    import hashlib
    import hmac

    head = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def _swap_payload(token: str, claims: dict[str, Any]) -> str:
    head, _body, signature = token.split(".")
    return f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"


def _session_id(headers: dict[str, str]) -> uuid.UUID:
    token = headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    return uuid.UUID(claims["sid"])


async def test_forged_and_tampered_tokens_are_refused_everywhere(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, actors: dict[str, Actor]
) -> None:
    admin = actors["admin"]
    sid = _session_id(admin.headers)
    forged = _forged_tokens(settings, admin.user, sid)
    routes = protected(app)
    cases = list(forged.items())
    # Every forged token against three routes of different domains, and every route against
    # three forged tokens in turn: all of them go through the same dependency (checked above),
    # so this covers each token and each route without the full product.
    anchors = [e for e in routes if str(e) in ANCHOR_ROUTES]
    assert len(anchors) == len(ANCHOR_ROUTES)
    pairs = [(endpoint, case) for endpoint in anchors for case in cases]
    pairs += [(e, cases[(i * 3 + k) % len(cases)]) for i, e in enumerate(routes) for k in range(3)]
    for endpoint, (case, token) in pairs:
        response = await call(client, endpoint, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, f"{endpoint}: {case} -> {response.status_code}"
        assert response.json()["code"] in {"invalid_token", "token_expired"}, case
    # The genuine token still works: the refusals above are about the tampering.
    me = [e for e in protected(app) if e.method == "GET" and "{" not in e.path]
    if me:
        response = await call(client, me[0], headers=admin.headers)
        assert response.status_code != 401


@pytest.mark.parametrize(
    "scheme", ["Basic ", "Token ", "JWT ", "", "Bearer\t", "Bearer:"], ids=repr
)
async def test_other_authorization_schemes_are_refused(
    client: httpx.AsyncClient, app: FastAPI, actors: dict[str, Actor], scheme: str
) -> None:
    token = actors["trabajador"].headers["Authorization"].removeprefix("Bearer ")
    for endpoint in protected(app):
        response = await call(client, endpoint, headers={"Authorization": f"{scheme}{token}"})
        assert response.status_code == 401, f"{endpoint} with {scheme!r}"


async def test_revoked_session_and_disabled_user_refused_everywhere(
    client: httpx.AsyncClient,
    app: FastAPI,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    revoked_user = await make_user()
    revoked = await auth_headers(revoked_user)
    disabled_user = await make_user()
    disabled = await auth_headers(disabled_user)
    async with sessionmaker() as session:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.id == _session_id(revoked))
            .values(revoked_at=datetime.now(UTC), revoked_reason="logout")
        )
        await session.execute(
            update(User).where(User.id == disabled_user.id).values(is_active=False)
        )
        await session.commit()
    for endpoint in protected(app):
        response = await call(client, endpoint, headers=revoked)
        assert response.status_code == 401, str(endpoint)
        assert response.json()["code"] == "session_revoked"
        response = await call(client, endpoint, headers=disabled)
        assert response.status_code == 401, str(endpoint)
        assert response.json()["code"] == "account_disabled"


async def test_session_of_another_user_is_refused(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, actors: dict[str, Actor]
) -> None:
    """A token whose ``sid`` belongs to someone else (forged with the key) does not authenticate."""
    victim_sid = _session_id(actors["admin"].headers)
    attacker = actors["trabajador"].user
    token = jwt.encode(_claims(settings, attacker.id, victim_sid), settings.secret_key, "HS256")
    for endpoint in protected(app):
        response = await call(client, endpoint, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, str(endpoint)
