"""Fixtures of the auth tests: login through the API, apps with settings overrides, TOTP codes."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pyotp
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.audit.models import AuditEvent
from energyapp.auth import totp, totp_secrets
from energyapp.auth.models import User
from energyapp.config import Settings
from energyapp.core.crypto import Keyring
from energyapp.main import create_app
from tests.conftest import make_settings
from tests.mail_server import MailServer, running_mail_server

PASSWORD = "Contrasena-segura-1"
LoginFn = Callable[..., Awaitable[dict[str, Any]]]
ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
AuditFn = Callable[..., Awaitable[list[AuditEvent]]]
EnableTotpFn = Callable[[User], Awaitable[str]]


@pytest.fixture
def login(client: httpx.AsyncClient) -> LoginFn:
    """POST /auth/login and return the JSON body, asserting a 200."""

    async def _login(email: str, password: str = PASSWORD, **headers: str) -> dict[str, Any]:
        response = await client.post(
            "/auth/login", json={"email": email, "password": password}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return _login


@pytest.fixture
def make_client(db_url: str) -> ClientFactory:
    """An app built with settings overrides (short throttling window, Redis...) and its client."""

    @asynccontextmanager
    async def _make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        application = create_app(make_settings(db_url, **overrides))
        async with LifespanManager(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield c

    return _make


@pytest.fixture
def audit_events(sessionmaker: async_sessionmaker[AsyncSession]) -> AuditFn:
    async def _events(action: str | None = None) -> list[AuditEvent]:
        query = select(AuditEvent).order_by(AuditEvent.created_at, AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        async with sessionmaker() as session:
            return list((await session.execute(query)).scalars())

    return _events


async def store_totp_secret(
    sessionmaker: async_sessionmaker[AsyncSession], user: User, keyring: Keyring
) -> str:
    """Turn 2FA on for a user directly, a new secret sealed with ``keyring`` as the app stores
    it; return the secret."""
    secret = totp.new_secret()
    sealed = totp_secrets.seal(keyring, user.id, secret)
    async with sessionmaker() as session:
        await session.execute(
            update(User).where(User.id == user.id).values(totp_enabled=True, totp_secret=sealed)
        )
        await session.commit()
    return secret


@pytest.fixture
def enable_totp(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> EnableTotpFn:
    """``store_totp_secret`` with the app's keys."""

    async def _enable(user: User) -> str:
        return await store_totp_secret(sessionmaker, user, settings.data_keyring)

    return _enable


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def code_now(secret: str, offset: int = 0) -> str:
    return pyotp.TOTP(secret).generate_otp(totp.current_step() + offset)


async def start_second_step(client: httpx.AsyncClient, email: str) -> str:
    """Log in with the password and stop there: the 2FA challenge token, or the setup token of
    an account an admin requires to set 2FA up."""
    started = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert started.status_code == 200, started.text
    body = started.json()
    return str(body["challenge_token"] if body.get("requires_2fa") else body["setup_token"])


async def finish_second_step(
    client: httpx.AsyncClient, token: str, secret: str | None
) -> httpx.Response:
    """The next step of a login begun by ``start_second_step``: a code from ``secret``, or the
    start of the required setup when there is no secret."""
    if secret is not None:
        return await client.post(
            "/auth/verify-2fa", json={"challenge_token": token, "code": code_now(secret)}
        )
    return await client.post("/auth/required-2fa/start", json={"setup_token": token})


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    """A real SMTP server on a free local port, keeping what it receives."""
    with running_mail_server() as server:
        yield server


@pytest.fixture
async def mail_client(
    make_client: ClientFactory, mail_server: MailServer
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that sends its emails to ``mail_server``, from an address of its own."""
    async with make_client(**mail_server.settings()) as c:
        yield own_address(c)


def own_address(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """``client`` seen by the app as a random address of its own (X-Forwarded-For from the
    trusted loopback): rate-limit counts in Redis outlive an app, and are shared by every run
    within their window."""
    client.headers["X-Forwarded-For"] = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.7"
    return client
