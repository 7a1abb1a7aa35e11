"""A database failure told to the person who runs a command: one line saying what to do."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError

from energyapp.errors import classify_db_error

# PostgreSQL's SQLSTATE codes (asyncpg) and SQLite's messages for the same situations.
_NO_DATABASE = {"3D000"}
_REFUSED = {"28000", "28P01"}
_NO_TABLE = {"42P01"}
_NO_COLUMN = {"42703"}


def describe_db_error(exc: BaseException, db_url: str, *, migrating: bool = False) -> str | None:
    """What went wrong reaching ``db_url`` and what to do, or ``None`` when ``exc`` is not a
    database failure. Never shows the URL's password. While ``migrating``, a missing table is
    the migration's own failure, not a reason to migrate."""
    where = shown_url(db_url)
    if isinstance(exc, OSError):
        return (
            f"no se pudo conectar a la base de datos {where} ({exc}): ¿está en marcha y es "
            "correcta ENERGYAPP_DB_URL?"
        )
    if not isinstance(exc, SQLAlchemyError):
        return None
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    detail = str(orig if orig is not None else exc).strip().splitlines()[0]
    code = getattr(orig, "sqlstate", None)
    if code in _NO_DATABASE:
        return f"la base de datos {where} no existe ({detail}): créela o corrija ENERGYAPP_DB_URL"
    if code in _REFUSED:
        return (
            f"PostgreSQL rechazó la conexión a {where} ({detail}): corrija el usuario o la "
            "contraseña de ENERGYAPP_DB_URL"
        )
    if not migrating and (code in _NO_TABLE or detail.startswith("no such table")):
        return (
            f"la base de datos {where} no tiene las tablas de EnergyApp ({detail}): ejecute "
            "`energyapp db upgrade` (o corrija ENERGYAPP_DB_URL si no es esta)"
        )
    if not migrating and (code in _NO_COLUMN or detail.startswith("no such column")):
        return f"la base de datos {where} no está al día ({detail}): ejecute `energyapp db upgrade`"
    return f"error de la base de datos {where}: {detail}"


def shown_url(db_url: str) -> str:
    """``db_url`` as it may be shown: its password masked."""
    try:
        return make_url(db_url.strip()).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is reported before anything connects
        return "(ENERGYAPP_DB_URL)"


def sqlstate(exc: BaseException) -> str | None:
    """PostgreSQL's SQLSTATE of a failed statement (``None`` on SQLite and for other errors)."""
    code = getattr(exc.orig, "sqlstate", None) if isinstance(exc, DBAPIError) else None
    return code if isinstance(code, str) else None


def refused_values(exc: BaseException) -> bool:
    """Whether the database (or its driver) refused the values of a write: retrying the same
    write fails the same way. For a database error that is what the API answers as a client's
    4xx (:func:`energyapp.errors.classify_db_error`: a constraint, or a data exception such as a
    number out of range or a NUL in text); a ``StatementError`` that never reached the database
    (a value its type refused), or SQLite's driver refusing before sending anything
    (``ValueError`` for a lone surrogate, ``OverflowError`` past 64 bits), is one too. A lost
    connection, a database starting up or shutting down, a busy SQLite file or a pool timeout
    are not refusals: they pass."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return False
        return classify_db_error(exc)[1] in ("conflict", "invalid_data")
    return isinstance(exc, StatementError | ValueError | OverflowError)
