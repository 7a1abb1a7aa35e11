"""Which database failures are refusals of a write's values (permanent) and which are outages
(worth retrying): ``db_errors.refused_values``, which the save of an answer's end follows."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from energyapp.core.db_errors import refused_values, sqlstate

pytestmark = pytest.mark.no_database


class _DriverError(Exception):
    def __init__(self, code: str | None) -> None:
        super().__init__("driver error")
        self.sqlstate = code


def _dbapi(code: str | None, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError(
        "UPDATE messages ...", {}, _DriverError(code), connection_invalidated=invalidated
    )


@pytest.mark.parametrize(
    "error",
    [
        _dbapi("22000"),  # asyncpg: a number out of the column's range
        _dbapi("22021"),  # a NUL in text
        _dbapi("23514"),  # a check constraint
        DataError("UPDATE", {}, _DriverError(None)),
        IntegrityError("UPDATE", {}, _DriverError(None)),
        StatementError("a value its type refused", "UPDATE", {}, ValueError("naive")),
        OverflowError("Python int too large to convert to SQLite INTEGER"),
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
    ],
)
def test_a_refused_value_is_permanent(error: Exception) -> None:
    assert refused_values(error)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError("connection refused"),
        _dbapi("57P03"),  # the database system is starting up
        _dbapi("57P01"),  # terminating connection due to administrator command
        _dbapi("3D000"),  # the database does not exist (yet: a restore under way)
        _dbapi("22000", invalidated=True),  # whatever it says, the connection was lost
        OperationalError("UPDATE", {}, _DriverError(None)),  # SQLite: database is locked
        InterfaceError("UPDATE", {}, _DriverError(None)),  # asyncpg: connection is closed
        PoolTimeout("QueuePool limit reached"),
        TimeoutError(),
    ],
)
def test_an_outage_is_retried(error: Exception) -> None:
    assert not refused_values(error)


def test_the_sqlstate_is_read_from_the_driver_error_only() -> None:
    assert sqlstate(_dbapi("22000")) == "22000"
    assert sqlstate(OverflowError()) is None and sqlstate(_dbapi(None)) is None
