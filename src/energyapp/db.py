"""Database engine, sessions and the declarative base."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import uuid6
from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_ASYNC_DRIVERS = {"postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}
_KNOWN_SCHEMES = {
    "sqlite",
    "sqlite+aiosqlite",
    "sqlite+pysqlite",
    "postgresql",
    "postgres",
    "postgresql+psycopg2",
    "postgresql+psycopg",
    "postgresql+asyncpg",
    "postgresql+pg8000",
}


class DatabaseUrlError(ValueError):
    pass


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    """Time-ordered UUID (v7): not guessable, and sorts by creation within a process."""
    value: uuid.UUID = uuid.UUID(int=uuid6.uuid7().int)
    return value


def normalize_db_url(raw: str) -> URL:
    """Map every accepted URL form onto the async driver the app uses.

    ``postgresql+psycopg2://`` (the production server's form), ``postgresql://``,
    ``postgresql+psycopg://`` become asyncpg; ``sqlite:///`` becomes aiosqlite.
    """
    try:
        url = make_url(raw.strip())
    except Exception as exc:
        raise DatabaseUrlError(f"ENERGYAPP_DB_URL no es una URL válida: {exc}") from None
    scheme = url.drivername
    if scheme not in _KNOWN_SCHEMES:
        raise DatabaseUrlError(
            f"ENERGYAPP_DB_URL: esquema {scheme!r} no soportado (use sqlite:/// o postgresql://)"
        )
    backend = "postgresql" if scheme.startswith("postgres") else "sqlite"
    url = url.set(drivername=_ASYNC_DRIVERS[backend])
    if backend == "postgresql":
        query = dict(url.query)
        # libpq's sslmode is spelled "ssl" by asyncpg.
        if "sslmode" in query:
            query["ssl"] = query.pop("sslmode")
        url = url.set(query=query)
    return url


def sync_db_url(raw: str) -> URL:
    """The same database for synchronous tools (backups, bench loaders): psycopg-free forms."""
    return normalize_db_url(raw)


def ensure_sqlite_dir(url: URL) -> None:
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_engine(raw_url: str, *, pool_size: int = 10, max_overflow: int = 20) -> AsyncEngine:
    url = normalize_db_url(raw_url)
    if url.get_backend_name() == "sqlite":
        ensure_sqlite_dir(url)
        engine = create_async_engine(
            url, poolclass=NullPool if url.database == ":memory:" else None
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No pre-ping: it costs a round trip on every checkout (measured: ~0.4 ms of a 1 ms
        # authenticated request). A connection broken by a database restart fails once, which
        # makes SQLAlchemy invalidate the whole pool; the request gets 503 db_unavailable and the
        # next ones reconnect (tests/hardening/test_pg_restart.py).
        pool_recycle=1800,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime passed to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Safe methods change nothing but, at most, one audit record (a single INSERT, atomic on its
# own), so they run without a transaction: BEGIN and COMMIT are two round trips of the four a
# list request would otherwise make.
_NO_TRANSACTION_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, each statement committing on its own: no BEGIN/COMMIT round trips."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


class SingleStatements:
    """``async with SingleStatements(engine) as conn``: a pooled connection of ``engine`` (an
    :func:`autocommit` one) for single-statement work, as ``async with engine.connect()``.

    SQLAlchemy returns a connection at the end of ``async with`` in a task of its own behind
    ``asyncio.shield``, so that a cancellation cannot interrupt the return half-way: a task and
    two turns of the event loop, about 40-50 µs on this VM, three times per answer. With
    asyncpg in autocommit mode the return does no I/O at all (there is no transaction to roll
    back), so it cannot be interrupted and is awaited directly. Other drivers (aiosqlite runs
    its rollback in a thread) keep SQLAlchemy's shielded return.
    """

    __slots__ = ("_conn", "_shielded")

    def __init__(self, engine: AsyncEngine) -> None:
        self._conn = engine.connect()
        self._shielded = (
            engine.dialect.driver != "asyncpg"
            or engine.get_execution_options().get("isolation_level") != "AUTOCOMMIT"
        )

    async def __aenter__(self) -> AsyncConnection:
        return await self._conn.start()

    async def __aexit__(self, *exc_info: object) -> None:
        if self._conn.closed:  # closed early (POST /chat before a slow step): nothing to return
            return
        if self._shielded:
            await self._conn.__aexit__(None, None, None)
        else:
            await self._conn.close()


def create_autocommit_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(autocommit(engine))


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Request-scoped session; commits when the handler succeeds, rolls back otherwise (unless
    the error is an ``AppError`` with ``keep_changes``: the failure itself must be recorded).
    GET/HEAD/OPTIONS get a session in autocommit mode.

    Streaming handlers must not keep this open for a whole answer: they close it once access is
    checked, and the answer opens short transactions (or single autocommit statements) of its
    own on ``request.app.state.engine``.
    """
    state = request.app.state
    no_transaction = request.method in _NO_TRANSACTION_METHODS
    maker: async_sessionmaker[AsyncSession] = (
        state.autocommit_sessionmaker if no_transaction else state.sessionmaker
    )
    async with maker() as session:
        try:
            yield session
            # In autocommit mode every statement has committed itself: only ORM changes still
            # waiting for a flush need the commit.
            if not no_transaction or session.new or session.dirty or session.deleted:
                await session.commit()
        except BaseException as exc:
            if getattr(exc, "keep_changes", False):
                await session.commit()
            else:
                await session.rollback()
            raise


# scope="function": commit (or roll back) as soon as the handler returns, before the response
# is sent, so a client never sees a success whose transaction then fails.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
