"""Text search conditions shared by every list that takes a search box (``q``).

Searches ignore case and accents ("MANTENCIÓN", "mantencion" and "Mantención" find the same):
both sides are *folded* by :func:`fold` in Python and by :func:`folded` in SQL, which apply the
same table, so both databases agree. SQLite gets the SQL function ``energyapp_fold`` from
:func:`register_sqlite_functions` (the engine installs it on every connection); PostgreSQL folds
with its built-in ``translate`` and ``lower``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import ColumnElement, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from energyapp.config import Settings
from energyapp.core.ratelimit import RateLimiter
from energyapp.core.text import nfc

MAX_TERMS = 8

# Accented letters and what they fold to (one character each, same position).
# Applied after lower case: half the table to scan per character (PostgreSQL's translate scans
# it linearly), which keeps the admin user search near a plain ILIKE.
_ACCENTED = "áàâäãåéèêëíìîïóòôöõúùûüñçýÿ"
_PLAIN = "aaaaaaeeeeiiiiooooouuuuncyy"
_FOLD_TABLE = str.maketrans(_ACCENTED, _PLAIN)
SQLITE_FOLD_FUNCTION = "energyapp_fold"


def fold(text: str) -> str:
    """``text`` without accents and in lower case, as :func:`folded` does in SQL. Composed
    first (NFC, :func:`energyapp.core.text.nfc`): a decomposed "a" + U+0301 folds like "á"."""
    return nfc(text).lower().translate(_FOLD_TABLE)


def _sqlite_fold(value: object) -> object:
    return fold(value) if isinstance(value, str) else value


def register_sqlite_functions(dbapi_conn: Any) -> None:
    """Install ``energyapp_fold`` on a SQLite DB-API connection."""
    dbapi_conn.create_function(SQLITE_FOLD_FUNCTION, 1, _sqlite_fold, deterministic=True)


class folded(FunctionElement[str]):  # noqa: N801 (reads as SQL, like func.lower)
    """SQL: a text expression folded like :func:`fold`."""

    type = String()
    name = "folded"
    inherit_cache = True


@compiles(folded, "postgresql")
def _folded_postgresql(element: folded, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"translate(lower({column}), '{_ACCENTED}', '{_PLAIN}')"


@compiles(folded)
def _folded_default(element: folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_FOLD_FUNCTION}({compiler.process(element.clauses, **kw)})"


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's own characters escaped (``\\`` is the escape character)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(column: ColumnElement[Any] | Any, text: str) -> ColumnElement[bool]:
    """``column`` contains ``text``, ignoring case and accents."""
    condition: ColumnElement[bool] = folded(column).like(like_pattern(fold(text)), escape="\\")
    return condition


def any_contains(columns: tuple[Any, ...], text: str) -> ColumnElement[bool]:
    return or_(*(contains(column, text) for column in columns))


# A word or a quoted phrase (left open while typing), with the "-" that excludes it when the "-"
# starts the word: "e-mail" is one word, not "e" without "mail".
_TOKEN = re.compile(r'(-?)("[^"]*"?|[^\s"]+)')


def split_exclusions(query: str) -> tuple[str, list[str]]:
    """The query without its excluded parts, and those parts (web-search syntax: ``-palabra``,
    ``-"frase"``), at most :data:`MAX_TERMS`. An excluded part rules out a whole conversation
    (title or any message), which one full-text query over each message alone cannot say."""
    wanted: list[str] = []
    excluded: list[str] = []
    for match in _TOKEN.finditer(query):
        minus, token = match.groups()
        if not minus:
            wanted.append(token)
        elif token.strip('" '):
            excluded.append(token)
    return " ".join(wanted), excluded[:MAX_TERMS]


def terms(query: str) -> list[str]:
    """The words of a search, at most :data:`MAX_TERMS`. Double quotes only group words (as in
    a web search), so they are not part of any word: ``"año nuevo"`` looks for año and nuevo."""
    return query.replace('"', " ").split()[:MAX_TERMS]


async def check_rate(
    limiter: RateLimiter,
    settings: Settings,
    user_id: uuid.UUID,
    query: str | None,
    *,
    count: bool = True,
) -> None:
    """A search (``query`` not blank) counts against the person's
    ``search_rate_limit_per_minute`` (429 ``rate_limited`` beyond, every page counted); a list
    without one is not counted, nor (``count=False``) a HEAD that searches nothing. One budget
    for every search: the conversations and the admin panel's users, audit trail and API keys.
    One search of every message can cost a second of the database's time."""
    if not (query and query.strip()):
        return
    await limiter.enforce(
        "search", str(user_id), limit=settings.search_rate_limit_per_minute,
        window_seconds=60,
        detail="Hizo demasiadas búsquedas seguidas. Espere {seconds} s e intente de nuevo.",
        count=count,
    )  # fmt: skip
