"""Test fixtures: a real database (SQLite or PostgreSQL, chosen by ENERGYAPP_TEST_DB), migrated
once per run with Alembic, emptied after each test; the app driven through httpx."""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
import redis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from energyapp.auth.models import AuthSession, User
from energyapp.auth.security import create_access_token, password_hash
from energyapp.config import Settings, load_settings
from energyapp.core.migrate import upgrade
from energyapp.db import create_engine, create_sessionmaker, utcnow
from energyapp.main import create_app
from energyapp.models import Base
from tests import log_scan

_T = TypeVar("_T")

log_scan.install()

# The harness of several real app processes (tests/multiproc.py): `start_cluster`, `cluster`.
pytest_plugins = ("tests.multiproc",)

TEST_DB = os.environ.get("ENERGYAPP_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "ENERGYAPP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
# ENERGYAPP_TEST_BROKER=redis: every app of the run shares its chat runtime through the Redis
# broker (``make test-broker``), under a key prefix of the run's own.
TEST_BROKER = os.environ.get("ENERGYAPP_TEST_BROKER", "local")
TEST_REDIS_URL = os.environ.get("ENERGYAPP_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
TEST_REDIS_PREFIX = f"test-run-{secrets.token_hex(4)}:"


def pytest_report_header() -> str:
    return f"energyapp test database: {TEST_DB}, chat broker: {TEST_BROKER}"


# The log scans of the xdist workers (``make test`` runs each pass on several), each reported by
# its worker when it stops; the controller reports them all.
_WORKER_SCANS: list[dict[str, Any]] = []


def _log_scan() -> dict[str, Any]:
    found = log_scan.leaks(
        log_scan.LINES, log_scan.PASSWORDS, log_scan.TOTP_SECRETS, log_scan.TOKENS
    )
    return {
        "lines": len(log_scan.LINES),
        "passwords": len(log_scan.PASSWORDS),
        "totp_secrets": len(log_scan.TOTP_SECRETS),
        "tokens": len(log_scan.TOKENS),
        "leaks": found,
    }


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """An xdist worker stopped: keep its log scan (none when it crashed before its end)."""
    scan = getattr(node, "workeroutput", {}).get("log_scan")
    if scan is not None:
        _WORKER_SCANS.append(scan)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when any log line written during it holds a password, a token or a TOTP
    secret (``tests/log_scan.py``). Each process scans its own lines against the secrets it
    handled (a test's app logs in the process that runs the test); an xdist worker hands its
    result to the controller, which reports and judges them all."""
    scan = _log_scan()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker
        workeroutput["log_scan"] = scan
    else:
        scans = _WORKER_SCANS or [scan]
        found = [leak for s in scans for leak in s["leaks"]]
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"log scan: {sum(s['lines'] for s in scans)} log lines, "
                f"{sum(s['passwords'] for s in scans)} passwords, "
                f"{sum(s['totp_secrets'] for s in scans)} TOTP secrets, "
                f"{sum(s.get('tokens', 0) for s in scans)} tokens checked in "
                f"{len(scans)} process(es); {len(found)} leaks"
            )
            for leak in found[:20]:
                reporter.write_line(f"  LEAK: {leak}", red=True)
        if found:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if TEST_BROKER == "redis":
        _forget_redis_keys(f"{TEST_REDIS_PREFIX}*")


def _forget_redis_keys(pattern: str) -> None:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    keys = list(client.scan_iter(pattern))
    if keys:
        client.delete(*keys)
    client.close()


# What a test reaches a database through; a ``no_database`` test may use none of them.
DATABASE_FIXTURES = frozenset({"db_url", "scratch_db_url", "ui_db_url", "engine", "sessionmaker"})


def _requested_fixtures(item: pytest.Item) -> set[str]:
    """The fixtures ``item`` asks for and everything they need, leaving out autouse ones (the
    database emptying after each test is one, and touches nothing the test sees)."""
    if not isinstance(item, pytest.Function):
        return set()
    info = item._fixtureinfo
    names = [*info.argnames, *(n for m in item.iter_markers("usefixtures") for n in m.args)]
    seen: set[str] = set()
    while names:
        name = names.pop()
        if name not in seen:
            seen.add(name)
            definitions = info.name2fixturedefs.get(name)
            if definitions:
                names.extend(definitions[-1].argnames)
    return seen


def _run_database_free_tests_once(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A ``no_database`` test proves the same thing whatever ENERGYAPP_TEST_DB says: it runs in
    the SQLite pass, and the PostgreSQL passes deselect it (not skip: it is not missing)."""
    free = [item for item in items if "no_database" in item.keywords]
    for item in free:
        if reached := _requested_fixtures(item) & DATABASE_FIXTURES:
            raise pytest.UsageError(
                f"{item.nodeid} is marked no_database but uses {', '.join(sorted(reached))}"
            )
    if TEST_DB == "postgres" and free:
        config.hook.pytest_deselected(items=free)
        items[:] = [item for item in items if "no_database" not in item.keywords]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _run_database_free_tests_once(config, items)
    if TEST_BROKER == "redis":
        local = pytest.mark.skip(reason="the in-process chat runtime (runs in the other passes)")
        for item in items:
            if "local_broker" in item.keywords:
                item.add_marker(local)
    if TEST_DB != "postgres":
        skip = pytest.mark.skip(
            reason="needs PostgreSQL (runs in the ENERGYAPP_TEST_DB=postgres pass)"
        )
        for item in items:
            if "postgres_only" in item.keywords:
                item.add_marker(skip)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def empty_database(directory: Path) -> Iterator[str]:
    """The URL of a new, empty database of the kind under test, dropped afterwards."""
    if TEST_DB == "postgres":
        name = f"energyapp_test_{secrets.token_hex(4)}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        try:
            yield f"{base}/{name}"
        finally:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        yield f"sqlite:///{directory / 'test.db'}"


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway, migrated database for this test run."""
    with empty_database(tmp_path_factory.mktemp("db")) as url:
        upgrade(url)
        yield url


@pytest.fixture
def scratch_db_url(tmp_path: Path) -> Iterator[str]:
    """A database of its own, not migrated: for tests that walk the migrations."""
    with empty_database(tmp_path) as url:
        yield url


def run_sync_on(url: str, work: Callable[[Connection], _T]) -> _T:
    """``work`` in one transaction on the database at ``url`` (a migration test's reads and
    writes between revisions)."""

    async def _run() -> _T:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(_run())


def make_settings(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "db_url": db_url,
        "secret_key": TEST_SECRET,
        "ollama_url": "http://127.0.0.1:9",  # nothing listens: tests that chat start a stand-in
        "fake_ollama_autostart": False,
        "log_level": "INFO",  # every line is written, so the log scan sees it (log_scan.py)
    }
    if TEST_BROKER == "redis":
        values.update(redis_url=TEST_REDIS_URL, redis_prefix=TEST_REDIS_PREFIX)
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture(scope="session")
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(db_url)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture(autouse=True)
async def _empty_database(engine: AsyncEngine) -> AsyncIterator[None]:
    """Every table emptied after the test, children first. DELETE, not TRUNCATE, on PostgreSQL
    too: a test leaves a few rows, and TRUNCATE (new files for every table and index) took about
    0.2 s per test there, against a few milliseconds."""
    yield
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as conn:
        for table in tables:
            await conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names


@pytest.fixture(autouse=True)
def _rate_limits_apart() -> Iterator[None]:
    """In the broker pass the app's limiter counts in Redis under the run's prefix, where they
    would outlive the test (every test signs in from the same address: a later one got 429):
    forgotten after each test, as the in-process counts are with their app."""
    yield
    if TEST_BROKER == "redis":
        _forget_redis_keys(f"{TEST_REDIS_PREFIX}limits*")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


_HASHES: dict[str, str] = {}

UserFactory = Callable[..., Awaitable[User]]


@pytest.fixture
def make_user(sessionmaker: async_sessionmaker[AsyncSession]) -> UserFactory:
    """Insert a user directly (password hashes are cached: argon2 is slow on purpose)."""

    async def _make(
        role: str = "trabajador",
        email: str | None = None,
        password: str = "Contrasena-segura-1",
        full_name: str | None = None,
        **fields: Any,
    ) -> User:
        if password not in _HASHES:
            _HASHES[password] = password_hash.hash(password)
        user = User(
            email=email or f"{role}-{secrets.token_hex(4)}@alvaradomazzei.cl",
            full_name=full_name or f"Usuario {role}",
            password_hash=_HASHES[password],
            role=role,
            **fields,
        )
        async with sessionmaker() as session:
            session.add(user)
            await session.commit()
        return user

    return _make


HeadersFactory = Callable[[User], Awaitable[dict[str, str]]]


@pytest.fixture
def auth_headers(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> HeadersFactory:
    """A valid Authorization header for a user, without going through /auth/login."""

    async def _headers(user: User) -> dict[str, str]:
        auth_session = AuthSession(
            id=uuid.uuid4(), user_id=user.id, expires_at=utcnow() + timedelta(days=30)
        )
        async with sessionmaker() as session:
            session.add(auth_session)
            await session.commit()
        token, _ = create_access_token(settings, user.id, auth_session.id)
        return {"Authorization": f"Bearer {token}"}

    return _headers
