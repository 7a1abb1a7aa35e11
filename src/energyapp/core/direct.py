"""Hot, prebuilt statements run straight on asyncpg, under SQLAlchemy's own connection.

SQLAlchemy's execution path (greenlet, cache key, execution context, cursor adapter, result)
costs ~0.2 ms of CPU per statement; the same statement on the asyncpg connection underneath
costs ~0.06 ms (``docs/performance.md``). A request that checks its token, reads a page and
writes an audit event runs three of them, an answer four.

A :class:`DirectStatement` is built with SQLAlchemy Core like any other statement and compiled
once per dialect. It takes the direct path only when that is exactly equivalent:

- PostgreSQL (asyncpg) only; any other database runs it through SQLAlchemy;
- the connection is in autocommit mode, so a statement outside SQLAlchemy's view cannot land
  outside (or inside) a transaction SQLAlchemy manages; in a transaction it runs through
  SQLAlchemy;
- bind and result values pass through the same type processors SQLAlchemy applies (those of
  each type's implementation for the dialect).

Errors are SQLAlchemy's: when the direct call fails, the statement runs again through
SQLAlchemy on the same connection. A failed statement in autocommit mode changed nothing, so
this is safe; a lost connection fails again there, and SQLAlchemy invalidates the pool and raises
its usual exception (503 ``db_unavailable``); a constraint violation comes back as SQLAlchemy's
``IntegrityError``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Delete, Insert, Select, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

logger = logging.getLogger("energyapp.db")

Row = Mapping[str, Any]
Statement = Select[Any] | Insert | Update | Delete
_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # parameter names in $n order
    defaults: Mapping[str, Any]  # values bound in the statement itself (literals)
    binds: tuple[_Processor, ...]
    keys: tuple[str, ...]  # result column keys of a SELECT, in order
    results: tuple[_Processor, ...]


class DirectStatement:
    """A statement built once; see the module's docstring for when it bypasses SQLAlchemy."""

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._compiled: _Compiled | None = None

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        binds = compiled.binds
        if any(bind.expanding or bind.literal_execute for bind in binds.values()):
            raise ValueError("a DirectStatement takes no expanding (IN) or literal parameters")
        required = {name for name, bind in binds.items() if bind.required}
        keys: tuple[str, ...] = ()
        results: tuple[_Processor, ...] = ()
        if isinstance(self.statement, Select):
            columns = self.statement.selected_columns
            keys = tuple(columns.keys())
            results = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in columns
            )
        return _Compiled(
            sql=str(compiled),
            names=names,
            defaults={name: binds[name].effective_value for name in names if name not in required},
            binds=tuple(
                binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
            ),
            keys=keys,
            results=results,
        )

    def _direct(self, conn: AsyncConnection) -> tuple[Any, _Compiled] | None:
        """The asyncpg connection and the compiled form, when the direct path applies."""
        if conn.dialect.driver != "asyncpg":
            return None
        sync = conn.sync_connection
        if sync is None:
            return None
        fairy = sync.connection
        if not getattr(fairy.dbapi_connection, "autocommit", False):
            return None
        if self._compiled is None:
            self._compiled = self._compile(conn.dialect)
        return fairy.driver_connection, self._compiled

    @staticmethod
    def _args(compiled: _Compiled, params: Mapping[str, Any]) -> list[Any]:
        args = []
        for name, process in zip(compiled.names, compiled.binds, strict=True):
            value = params[name] if name in params else compiled.defaults[name]
            args.append(value if process is None else process(value))
        return args

    async def _on_driver(
        self, conn: AsyncConnection, method: str, params: Mapping[str, Any]
    ) -> tuple[Any, _Compiled] | None:
        """``method`` (fetchrow, fetch or execute) of the asyncpg connection and its result,
        or None when the statement must run through SQLAlchemy instead."""
        direct = self._direct(conn)
        if direct is None:
            return None
        driver, compiled = direct
        try:  # binding too: a value SQLAlchemy's processors refuse gets SQLAlchemy's error
            result = await getattr(driver, method)(compiled.sql, *self._args(compiled, params))
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises its own (docstring)
            # The exception's type only: its text may quote the statement's values.
            logger.warning(
                "direct statement failed (%s); running it through SQLAlchemy",
                type(exc).__name__,
            )
            return None
        return result, compiled

    async def first(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Row | None:
        """The first row of a SELECT as a mapping of its column keys, or None."""
        if (direct := await self._on_driver(conn, "fetchrow", params)) is not None:
            record, compiled = direct
            if record is None:
                return None
            return {
                key: value if process is None else process(value)
                for key, process, value in zip(
                    compiled.keys, compiled.results, record.values(), strict=True
                )
            }
        row = (await conn.execute(self.statement, dict(params))).first()
        return None if row is None else cast(Row, row._mapping)

    async def all(
        self, conn: AsyncConnection, params: Mapping[str, Any]
    ) -> tuple[tuple[str, ...], list[list[Any]]]:
        """Every row of a SELECT, as lists in column order, and the column keys."""
        if (direct := await self._on_driver(conn, "fetch", params)) is not None:
            records, compiled = direct
            rows = [list(record.values()) for record in records]
            for i, process in enumerate(compiled.results):
                if process is not None:
                    for row in rows:
                        row[i] = process(row[i])
            return compiled.keys, rows
        result = await conn.execute(self.statement, dict(params))
        return tuple(result.keys()), [list(row) for row in result]

    async def execute(self, conn: AsyncConnection, params: Mapping[str, Any]) -> int:
        """Run an INSERT, UPDATE or DELETE; the number of rows it matched."""
        if (direct := await self._on_driver(conn, "execute", params)) is not None:
            status: str = direct[0]  # "UPDATE 1", "INSERT 0 1"
            return int(status.rsplit(" ", 1)[-1])
        result = await conn.execute(self.statement, dict(params))
        return int(getattr(result, "rowcount", 0) or 0)
