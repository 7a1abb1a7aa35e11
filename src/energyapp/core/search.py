"""Text search conditions shared by every list that takes a search box (``q``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_

MAX_TERMS = 8


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's own characters escaped (``\\`` is the escape character)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(column: ColumnElement[Any] | Any, text: str) -> ColumnElement[bool]:
    """``column`` contains ``text``, case-insensitively (for ASCII on SQLite)."""
    condition: ColumnElement[bool] = column.ilike(like_pattern(text), escape="\\")
    return condition


def any_contains(columns: tuple[Any, ...], text: str) -> ColumnElement[bool]:
    return or_(*(contains(column, text) for column in columns))


def terms(query: str) -> list[str]:
    """The words of a search, at most :data:`MAX_TERMS`."""
    return query.split()[:MAX_TERMS]
