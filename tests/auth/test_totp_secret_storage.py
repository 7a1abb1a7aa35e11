"""TOTP secrets at rest: sealed in ``users.totp_secret`` (never in clear), bound to their user,
useless without the app's key, and sealed by the migration when an older version stored them in
clear."""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import (
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth import totp, totp_secrets
from energyapp.auth.models import USERS, AuthSession, User
from energyapp.config import Settings
from energyapp.core import crypto
from energyapp.core.migrate import alembic_config, downgrade, upgrade
from energyapp.db import create_engine, create_sessionmaker, utcnow
from tests.auth.conftest import PASSWORD, ClientFactory, EnableTotpFn, code_now
from tests.conftest import HeadersFactory, UserFactory, make_settings

BEFORE = "0003_conv"  # the last revision that stored secrets in clear
# The revision under test: later ones would not survive the re-run after a stamp below.
SEALED = "0004_totp_sealed"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _raw_secret(sessionmaker: async_sessionmaker[AsyncSession], user_id: uuid.UUID) -> str:
    """``users.totp_secret`` as a dump would show it."""
    async with sessionmaker() as session:
        value = await session.scalar(select(USERS.c.totp_secret).where(USERS.c.id == user_id))
    assert isinstance(value, str)
    return value


async def _login_with_code(client: httpx.AsyncClient, email: str, code: str) -> httpx.Response:
    login = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200 and login.json()["requires_2fa"] is True, login.text
    challenge = login.json()["challenge_token"]
    return await client.post("/auth/verify-2fa", json={"challenge_token": challenge, "code": code})


async def test_setup_stores_only_a_sealed_secret_and_2fa_login_still_works(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    user = await make_user(email="sellado@inacapmail.cl")
    headers = await auth_headers(user)
    setup = await client.post("/auth/setup-2fa", json={"password": PASSWORD}, headers=headers)
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    stored = await _raw_secret(sessionmaker, user.id)
    assert stored.startswith(f"v1:{settings.data_keyring.current_id}:")
    assert secret not in stored and secret.lower() not in stored.lower()
    confirm = await client.post(
        "/auth/setup-2fa/confirm", json={"code": code_now(secret)}, headers=headers
    )
    assert confirm.status_code == 200, confirm.text
    # The confirmation spent this step's code: the next step's is the first one left.
    verified = await _login_with_code(client, user.email, code_now(secret, 1))
    assert verified.status_code == 200, verified.text
    assert "access_token" in verified.json()
    assert await _raw_secret(sessionmaker, user.id) == stored  # using it does not re-seal it


async def test_a_dump_without_the_apps_key_cannot_produce_codes(
    make_client: ClientFactory,
    make_user: UserFactory,
    enable_totp: EnableTotpFn,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user(email="volcado@inacapmail.cl")
    secret = await enable_totp(user)
    dump = await _raw_secret(sessionmaker, user.id)
    other_data_key = crypto.keyring(secrets.token_urlsafe(32), (), "x" * 40)
    other_secret_key = make_settings("sqlite://", secret_key="y" * 48).data_keyring
    for keyring in (other_data_key, other_secret_key):
        with pytest.raises(crypto.UnreadableSecret):
            totp_secrets.open_sealed(keyring, user.id, dump)
    # The app itself, started without the key that sealed the secret, refuses the right code
    # and says why in its log: which user, which key, never the value.
    logged = _Records()
    logging.getLogger("energyapp.auth").addHandler(logged)
    try:
        async with make_client(secret_key="z" * 48) as c:
            refused = await _login_with_code(c, user.email, code_now(secret))
    finally:
        logging.getLogger("energyapp.auth").removeHandler(logged)
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_code"
    [record] = logged.records
    assert record.levelno == logging.ERROR
    assert (record.user_id, record.key_id) == (str(user.id), crypto.sealed_key_id(dump))
    assert secret not in record.getMessage() and dump not in record.getMessage()


async def test_a_sealed_secret_copied_to_another_account_does_not_open(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    enable_totp: EnableTotpFn,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The user id is authenticated with the secret: whoever can write the table cannot move a
    secret they know the codes of onto someone else's account."""
    known = await make_user(email="conocido@inacapmail.cl")
    victim = await make_user(email="victima@inacapmail.cl")
    secret = await enable_totp(known)
    await enable_totp(victim)
    copied = await _raw_secret(sessionmaker, known.id)
    async with sessionmaker() as session:
        await session.execute(update(User).where(User.id == victim.id).values(totp_secret=copied))
        await session.commit()
    refused = await _login_with_code(client, victim.email, code_now(secret))
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_code"
    accepted = await _login_with_code(client, known.email, code_now(secret))
    assert accepted.status_code == 200


async def test_a_tampered_value_does_not_open(
    make_user: UserFactory,
    enable_totp: EnableTotpFn,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    user = await make_user(email="alterado@inacapmail.cl")
    await enable_totp(user)
    stored = await _raw_secret(sessionmaker, user.id)
    flipped = stored[:-3] + ("A" if stored[-3] != "A" else "B") + stored[-2:]
    with pytest.raises(crypto.UnreadableSecret):
        totp_secrets.open_sealed(settings.data_keyring, user.id, flipped)


# --- the migration, on a database of its own ---------------------------------------------------


async def _insert_clear_secret(url: str, secret: str) -> uuid.UUID:
    """What a database of the previous version holds: a user with 2FA on and a secret in clear,
    and one of their login sessions. Written through the tables as that version has them (the
    models may have columns added by later revisions)."""

    def insert(conn: sa.Connection) -> uuid.UUID:
        meta = sa.MetaData()
        users = sa.Table("users", meta, autoload_with=conn)
        auth_sessions = sa.Table("auth_sessions", meta, autoload_with=conn)
        user_id, now = uuid.uuid4(), utcnow()

        def key(value: uuid.UUID) -> uuid.UUID | str:
            return value if conn.dialect.name == "postgresql" else value.hex

        conn.execute(
            users.insert().values(
                id=key(user_id), email=f"antiguo-{user_id.hex[:6]}@inacapmail.cl",
                full_name="Antiguo", password_hash="x", role="trabajador", is_active=True,
                totp_enabled=True, totp_secret=secret, created_at=now, updated_at=now,
                last_active_at=now, conversation_count=0, message_count=0,
            )
        )  # fmt: skip
        conn.execute(
            auth_sessions.insert().values(
                id=key(uuid.uuid4()), user_id=key(user_id), created_at=now,
                expires_at=now + timedelta(days=1), last_used_at=now,
            )
        )  # fmt: skip
        return user_id

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(insert)
    finally:
        await engine.dispose()


async def _secrets_and_sessions(url: str) -> tuple[dict[uuid.UUID, str | None], int]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await session.execute(select(USERS.c.id, USERS.c.totp_secret))
            stored = {row.id: row.totp_secret for row in rows}
            sessions = len((await session.execute(select(AuthSession.id))).all())
            return stored, sessions
    finally:
        await engine.dispose()


def test_the_migration_seals_clear_secrets_once_and_its_downgrade_opens_them(
    scratch_db_url: str,
) -> None:
    url = scratch_db_url
    settings = make_settings(url, data_key=secrets.token_urlsafe(32))
    keyring = settings.data_keyring
    upgrade(url, BEFORE)
    first_clear = totp.new_secret()
    first = asyncio.run(_insert_clear_secret(url, first_clear))

    upgrade(url, SEALED, settings)
    stored, sessions = asyncio.run(_secrets_and_sessions(url))
    sealed = stored[first]
    assert sealed is not None and sealed.startswith(f"v1:{keyring.current_id}:")
    assert first_clear not in sealed
    assert totp_secrets.open_sealed(keyring, first, sealed) == first_clear
    assert sessions == 1  # nothing that refers to the user was lost on the way

    # Run again over a table it already sealed (a version table put back by hand, a restored
    # copy of the users table): only the clear secret is sealed, the other one stays as it was.
    # Only this revision runs again: the later ones are not meant to run twice.
    command.stamp(alembic_config(url), BEFORE)
    second_clear = totp.new_secret()
    second = asyncio.run(_insert_clear_secret(url, second_clear))
    upgrade(url, SEALED, settings)
    stored, sessions = asyncio.run(_secrets_and_sessions(url))
    assert stored[first] == sealed
    assert totp_secrets.open_sealed(keyring, second, str(stored[second])) == second_clear
    assert sessions == 2

    # Without the key, the downgrade stops, names the setting, and changes nothing.
    with pytest.raises(RuntimeError, match="ENERGYAPP_PREVIOUS_DATA_KEYS"):
        downgrade(url, BEFORE, make_settings(url, data_key=secrets.token_urlsafe(32)))
    assert asyncio.run(_secrets_and_sessions(url))[0] == stored
    downgrade(url, BEFORE, settings)
    clear = asyncio.run(_secrets_and_sessions(url))[0]
    assert (clear[first], clear[second]) == (first_clear, second_clear)
