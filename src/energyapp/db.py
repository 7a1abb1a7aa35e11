"""Database engine, sessions and the declarative base."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import uuid6
from fastapi import Depends, Request
from sqlalchemy import (
    CursorResult,
    DateTime,
    Executable,
    Join,
    MetaData,
    Select,
    Table,
    event,
    false,
    func,
    literal,
    select,
)
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from energyapp.core import search

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
    search.register_sqlite_functions(dbapi_conn)


# The execution option that marks a locking select (set by :func:`for_update`): SQLite drops
# ``FOR UPDATE``, so its hook below reads this public marker instead of the statement.
FOR_UPDATE_OPTION = "energyapp_for_update"

_Locking = TypeVar("_Locking", bound=Select[Any])
_Model = TypeVar("_Model")


def for_update(stmt: _Locking) -> _Locking:
    """``stmt`` as ``SELECT ... FOR UPDATE``, locking on every backend: the way the services
    lock rows (``tests/core/test_boundaries.py`` finds any other ``with_for_update``)."""
    return stmt.with_for_update().execution_options(**{FOR_UPDATE_OPTION: True})


async def get_for_update(session: AsyncSession, model: type[_Model], key: Any) -> _Model | None:
    """``session.get`` with the row locked (as :func:`for_update`)."""
    return await session.get(
        model, key, with_for_update=True, execution_options={FOR_UPDATE_OPTION: True}
    )


async def take_turns(session: AsyncSession, table: Table, key: int) -> None:
    """Writers that count or look for rows of ``table`` before inserting one (a cap, a unique
    name no constraint can express) take turns until the transaction ends. A row lock cannot
    cover a row not yet inserted: on PostgreSQL a transaction-level advisory lock ``key`` (one
    per kind of check); on SQLite the database's write lock, which :func:`for_update` takes."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(key)))
    else:
        await session.execute(for_update(select(literal(1)).select_from(table).where(false())))


def _sqlite_lock_for_update(
    _conn: Any, cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
) -> None:
    """Give ``SELECT ... FOR UPDATE`` its PostgreSQL meaning on SQLite, which drops the clause.

    The driver opens a transaction only at the first write, so the rows such a select read
    could change before the caller wrote (two demotions of the last two admins both passed, two
    reassignments of one conversation both moved its counters). A write that changes nothing,
    run just before the select, opens the transaction and takes SQLite's write lock there: the
    other writers wait (up to the busy timeout), then read what this one committed. In a
    transaction that already wrote, the lock is held already and the write is a no-op. The
    select is known by the execution option :func:`for_update` sets (public API, unlike the
    statement's own lock attribute)."""
    compiled = getattr(context, "compiled", None)
    if compiled is None or not context.execution_options.get(FOR_UPDATE_OPTION):
        return
    froms = compiled.statement.get_final_froms()
    table = froms[0] if froms else None
    while isinstance(table, Join):
        table = table.left
    if isinstance(table, Table):
        cursor.execute(f'UPDATE "{table.name}" SET rowid = rowid WHERE 0')  # noqa: S608 - our table


def create_engine(raw_url: str, *, pool_size: int = 10, max_overflow: int = 20) -> AsyncEngine:
    url = normalize_db_url(raw_url)
    if url.get_backend_name() == "sqlite":
        ensure_sqlite_dir(url)
        engine = create_async_engine(
            url, poolclass=NullPool if url.database == ":memory:" else None
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "before_cursor_execute", _sqlite_lock_for_update)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No pre-ping: it costs a round trip on every checkout. A connection broken by a
        # database restart fails once, which makes SQLAlchemy invalidate the whole pool: that
        # request gets 503 db_unavailable and the next ones reconnect
        # (tests/hardening/test_pg_restart.py).
        pool_recycle=1800,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

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


async def affected_rows(session: AsyncSession, statement: Executable) -> int:
    """Run an UPDATE/DELETE and return how many rows it changed (for compare-and-set)."""
    result = cast(CursorResult[Any], await session.execute(statement))
    return result.rowcount


_AFTER_COMMIT = "energyapp.after_commit"


def after_commit(
    session: AsyncSession, *, on_commit: Callable[[], None], on_rollback: Callable[[], None]
) -> None:
    """Call ``on_commit`` once the request's transaction is committed, ``on_rollback`` if it is
    not: for work that must not start before its rows exist (an answer's generation)."""
    session.info.setdefault(_AFTER_COMMIT, []).append((on_commit, on_rollback))


def settle(session: AsyncSession, *, committed: bool) -> None:
    """Run what ``after_commit`` registered, once the transaction is committed or not: the
    request's session dependency does it, and so must any other owner of a transaction that
    commits (the console's, ``cli_session.py``)."""
    for on_commit, on_rollback in session.info.pop(_AFTER_COMMIT, ()):
        (on_commit if committed else on_rollback)()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transactional session per request: committed when the handler succeeds, rolled back
    otherwise (unless the error is an ``AppError`` with ``keep_changes``: the failure itself
    must be recorded, e.g. a failed login).

    A streaming handler's session is committed and closed when the handler returns, before the
    answer streams (``scope="function"`` below); the answer then writes through short sessions
    of its own (``app.state.sessionmaker``).
    """
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException as exc:
            committed = False
            try:
                if getattr(exc, "keep_changes", False):
                    await session.commit()
                    committed = True
                else:
                    await session.rollback()
            finally:
                settle(session, committed=committed)
            raise
        settle(session, committed=True)


# scope="function": commit (or roll back) as soon as the handler returns, before the response
# is sent, so a client never sees a success whose transaction then fails.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
