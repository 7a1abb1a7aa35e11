"""A database error is answered for what it is: a value the database refuses is the client's 4xx,
only a database that cannot be reached (or is busy right now) is a 503, anything else is a 500.

The real errors of each database come from a probe route on the app's own session; the table
below covers the SQLSTATE classes and SQLite result codes a test cannot provoke on demand."""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from energyapp.auth.models import User
from energyapp.config import Settings
from energyapp.conversations.models import Conversation
from energyapp.db import SessionDep, create_engine, create_sessionmaker
from energyapp.errors import classify_db_error
from energyapp.main import create_app
from tests.hardening.conftest import Actor


def _probe_routes(app: FastAPI, actor_email: str) -> None:
    """Routes that make the request's own session fail the way each case names."""

    @app.post("/probe/data")
    async def data(session: SessionDep) -> None:
        if session.bind.dialect.name == "postgresql":
            # The failure of the issue: a NUL that reaches PostgreSQL (SQLSTATE 22021).
            user_id = await session.scalar(text("SELECT id FROM users LIMIT 1"))
            session.add(Conversation(user_id=user_id, title="a\x00b"))
            await session.flush()
        else:  # SQLite stores a NUL; a value over its length limit is its data error.
            await session.execute(text("SELECT zeroblob(:n)"), {"n": 2_000_000_000})

    @app.post("/probe/conflict")
    async def conflict(session: SessionDep) -> None:
        session.add(User(email=actor_email, full_name="Copia", password_hash="x"))
        await session.flush()

    @app.post("/probe/busy")
    async def busy(session: SessionDep) -> None:
        await session.execute(text("SET LOCAL statement_timeout = 50"))
        await session.execute(text("SELECT pg_sleep(2)"))

    @app.post("/probe/bug")
    async def bug(session: SessionDep) -> None:
        await session.execute(text("SELECT * FROM no_such_table"))

    @app.get("/probe/ping")
    async def ping(session: SessionDep) -> None:
        await session.execute(text("SELECT 1"))


@pytest.fixture
def probe_app(settings: Settings, actors: dict[str, Actor]) -> FastAPI:
    app = create_app(settings)
    _probe_routes(app, actors["trabajador"].user.email)
    return app


@pytest.fixture
async def probe(probe_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(probe_app):
        transport = httpx.ASGITransport(app=probe_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "code"} and body["code"] == code and body["detail"]
    assert ("retry-after" in response.headers) == (status == 503)


async def test_a_value_the_database_refuses_is_422(probe: httpx.AsyncClient) -> None:
    assert_error(await probe.post("/probe/data"), 422, "invalid_data")


async def test_a_duplicate_is_409(probe: httpx.AsyncClient) -> None:
    assert_error(await probe.post("/probe/conflict"), 409, "conflict")


async def test_a_broken_statement_is_a_500_not_an_outage(probe: httpx.AsyncClient) -> None:
    assert_error(await probe.post("/probe/bug"), 500, "internal_error")


@pytest.mark.postgres_only
async def test_a_statement_timeout_is_503_busy(probe: httpx.AsyncClient) -> None:
    assert_error(await probe.post("/probe/busy"), 503, "db_busy")


async def test_an_unreachable_database_is_503(
    probe: httpx.AsyncClient, probe_app: FastAPI, settings: Settings, tmp_path: Path
) -> None:
    if settings.db_url.startswith("postgresql"):
        unreachable = "postgresql://nobody@127.0.0.1:1/none"
    else:  # a directory where the database file should be
        unreachable = f"sqlite:///{tmp_path}"
    engine = create_engine(unreachable)
    probe_app.state.sessionmaker = create_sessionmaker(engine)
    try:
        assert_error(await probe.get("/probe/ping"), 503, "db_unavailable")
    finally:
        await engine.dispose()


class _DriverError(Exception):
    """What SQLAlchemy wraps: asyncpg's adapted error (``sqlstate``) or sqlite3's."""

    def __init__(self, sqlstate: str | None = None, sqlite_errorname: str | None = None) -> None:
        super().__init__("driver error")
        self.sqlstate = sqlstate
        self.sqlite_errorname = sqlite_errorname


def _pg(cls: type[DBAPIError], sqlstate: str | None) -> DBAPIError:
    return cls("SELECT 1", {}, _DriverError(sqlstate=sqlstate))


def _lite(cls: type[DBAPIError], name: str) -> DBAPIError:
    return cls("SELECT 1", {}, _DriverError(sqlite_errorname=name))


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (_pg(DBAPIError, "22021"), 422, "invalid_data"),  # character_not_in_repertoire
        (_pg(DBAPIError, "22P05"), 422, "invalid_data"),  # untranslatable_character
        (_pg(DBAPIError, "22001"), 422, "invalid_data"),  # string_data_right_truncation
        (_pg(IntegrityError, "23505"), 409, "conflict"),
        (_pg(DBAPIError, "23514"), 409, "conflict"),
        (_pg(DBAPIError, "08006"), 503, "db_unavailable"),  # connection_failure
        (_pg(DBAPIError, "57P01"), 503, "db_unavailable"),  # admin_shutdown
        (_pg(DBAPIError, "57P03"), 503, "db_unavailable"),  # cannot_connect_now
        (_pg(DBAPIError, "53300"), 503, "db_unavailable"),  # too_many_connections
        (_pg(DBAPIError, "40001"), 503, "db_busy"),  # serialization_failure
        (_pg(DBAPIError, "40P01"), 503, "db_busy"),  # deadlock_detected
        (_pg(DBAPIError, "55P03"), 503, "db_busy"),  # lock_not_available
        (_pg(DBAPIError, "53100"), 507, "storage_full"),
        (_pg(DBAPIError, "25006"), 503, "storage_read_only"),
        (_pg(ProgrammingError, "42P01"), 500, "internal_error"),
        (_pg(InternalError, "XX000"), 500, "internal_error"),
        (_pg(InterfaceError, None), 503, "db_unavailable"),
        (_lite(OperationalError, "SQLITE_BUSY"), 503, "db_busy"),
        (_lite(OperationalError, "SQLITE_LOCKED"), 503, "db_busy"),
        (_lite(OperationalError, "SQLITE_CANTOPEN"), 503, "db_unavailable"),
        (_lite(OperationalError, "SQLITE_IOERR_WRITE"), 503, "db_unavailable"),
        (_lite(OperationalError, "SQLITE_FULL"), 507, "storage_full"),
        (_lite(OperationalError, "SQLITE_READONLY_DBMOVED"), 503, "storage_read_only"),
        (_lite(IntegrityError, "SQLITE_CONSTRAINT_UNIQUE"), 409, "conflict"),
        (_lite(DataError, "SQLITE_TOOBIG"), 422, "invalid_data"),
        (_lite(OperationalError, "SQLITE_ERROR"), 500, "internal_error"),
        (OperationalError("SELECT 1", {}, Exception("server closed")), 503, "db_unavailable"),
        (DataError("SELECT 1", {}, Exception("x")), 422, "invalid_data"),
        (IntegrityError("SELECT 1", {}, Exception("x")), 409, "conflict"),
        (
            DBAPIError("SELECT 1", {}, Exception("x"), connection_invalidated=True),
            503,
            "db_unavailable",
        ),
        (DBAPIError("SELECT 1", {}, Exception("x")), 500, "internal_error"),
        (DBAPIError("SELECT 1", {}, ConnectionResetError()), 503, "db_unavailable"),
        (ConnectionRefusedError(111, "Connect call failed"), 503, "db_unavailable"),
        (PoolTimeoutError("QueuePool limit reached"), 503, "db_unavailable"),
        (OSError(errno.ENOSPC, "No space left on device"), 507, "storage_full"),
    ],
    ids=lambda value: value if isinstance(value, str | int) else type(value).__name__,
)
def test_classification(exc: BaseException, status: int, code: str) -> None:
    assert classify_db_error(exc)[:2] == (status, code)
