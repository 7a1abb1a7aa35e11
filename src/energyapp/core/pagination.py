"""Keyset pagination shared by every list endpoint.

A page is ordered by a sort key that ends with the row id (unique), so ``(key..., id)`` is a
total order. The next page starts strictly after the last row's key: rows added meanwhile never
shift the pages already served (no row twice, none skipped), and a deep page costs the same as
the first one (an index range scan, no OFFSET).

The cursor is opaque to clients: base64url of the last key and an HMAC (the app's secret) over
that key and the list's *binding*: the list's name, the viewer, the parent object and every
filter. A cursor is therefore valid only on the request that could have produced it: tampered,
foreign or replayed onto another list, another conversation, other filters or another viewer, it
is refused with 422 ``invalid_cursor`` instead of silently paging from somewhere else. The
binding is not carried in the cursor (nothing about the filters leaks, and the size does not grow
with a search text); the request supplies it again and the MAC checks it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, FromClause, Select, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from energyapp.core.deps import SettingsDep
from energyapp.errors import Unprocessable

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_MAC_BYTES = 12

T = TypeVar("T")
# One list item as read from the database: output field name -> column value.
Item = dict[str, Any]
KeyType = type[bool] | type[int] | type[str] | type[datetime] | type[uuid.UUID]
# A value a list is bound to: a parent's id or a filter (None when the filter is not used).
ContextValue = str | int | bool | uuid.UUID | datetime | None


class Page(BaseModel, Generic[T]):
    """One page of a list: ``next_cursor`` is null on the last page."""

    items: list[T]
    next_cursor: str | None


def _invalid() -> Unprocessable:
    return Unprocessable(
        "El cursor de paginación no es válido. Vuelva a cargar la lista desde el inicio.",
        code="invalid_cursor",
    )


def _dump(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, uuid.UUID):
        return value.hex
    return value


def _load(value: Any, kind: KeyType) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise _invalid()
        return value
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _invalid()
        return value
    if not isinstance(value, str):
        raise _invalid()
    try:
        if kind is datetime:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise _invalid()
            return moment
        if kind is uuid.UUID:
            return uuid.UUID(hex=value)
    except ValueError:
        raise _invalid() from None
    return value


def cursor_binding(name: str, viewer_id: uuid.UUID, context: Mapping[str, ContextValue]) -> bytes:
    """What a cursor is valid for, canonically: the list ``name``, the viewer, and ``context``
    (the parent object and every filter, normalised as the query uses them)."""
    document = {
        "list": name,
        "viewer": viewer_id.hex,
        "context": {key: _dump(value) for key, value in context.items()},
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class PageRequest:
    """``limit`` and the cursor of a list request (``after`` decodes it; None on page one)."""

    limit: int
    cursor: str | None
    secret: bytes

    def _mac(self, binding: bytes, payload: bytes) -> bytes:
        # The binding is canonical JSON (no raw NUL), so the separator keeps the two apart.
        message = binding + b"\x00" + payload
        return hmac.new(self.secret, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, binding: bytes, key: Sequence[Any]) -> str:
        """The cursor of the page after ``key``, valid only for ``binding``."""
        payload = json.dumps([_dump(v) for v in key], separators=(",", ":")).encode()
        raw = self._mac(binding, payload) + payload
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def after(self, binding: bytes, types: Sequence[KeyType]) -> list[Any] | None:
        """The key the page starts after, checked against ``binding`` and the key types."""
        if self.cursor is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(self.cursor + "=" * (-len(self.cursor) % 4))
        except (binascii.Error, ValueError):
            raise _invalid() from None
        mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, self._mac(binding, payload)):
            raise _invalid()
        try:
            values = json.loads(payload)
        except (ValueError, TypeError):
            raise _invalid() from None
        if not isinstance(values, list) or len(values) != len(types):
            raise _invalid()
        return [_load(v, t) for v, t in zip(values, types, strict=True)]


@functools.lru_cache(maxsize=4)
def _cursor_key(secret_key: str) -> bytes:
    return hashlib.sha256(b"energyapp-cursor:" + secret_key.encode()).digest()


async def page_request(
    settings: SettingsDep,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Elementos por página (1 a 200).")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description="El next_cursor de la página anterior."),
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor or None, secret=_cursor_key(settings.secret_key))


PageDep = Annotated[PageRequest, Depends(page_request)]


KeyColumns = Sequence[InstrumentedAttribute[Any] | ColumnElement[Any]]


def keyset(
    stmt: Select[Any],
    columns: KeyColumns,
    after: Sequence[Any] | None,
    *,
    descending: bool,
    limit: int,
) -> Select[Any]:
    """Order ``stmt`` by ``columns`` (all in one direction) and start after ``after``.

    Fetches ``limit + 1`` rows: the extra one only tells whether a next page exists.
    """
    if after is not None:
        bound = [literal(v, type_=c.type) for c, v in zip(columns, after, strict=True)]
        stmt = stmt.where(_beyond(columns, bound, descending))
    return _ordered(stmt, columns, descending).limit(limit + 1)


def _ordered(stmt: Select[Any], columns: KeyColumns, descending: bool) -> Select[Any]:
    return stmt.order_by(*(c.desc() if descending else c.asc() for c in columns))


def _beyond(
    columns: KeyColumns, bound: Sequence[ColumnElement[Any]], descending: bool
) -> ColumnElement[bool]:
    # A row-value comparison is one index range condition on PostgreSQL and SQLite; the bound
    # values take each column's type so datetimes and UUIDs compare as stored.
    left = tuple_(*columns)
    right = tuple_(*bound)
    return left < right if descending else left > right


def build_page(
    rows: Sequence[T], page: PageRequest, binding: bytes, key: Any
) -> tuple[list[T], str | None]:
    """Cut the extra row and make the cursor from the last row's key (``key(row)``)."""
    items = list(rows[: page.limit])
    if len(rows) <= page.limit or not items:
        return items, None
    return items, page.encode(binding, key(items[-1]))


def item_columns(
    schema: type[BaseModel], table: FromClause, **elsewhere: ColumnElement[Any]
) -> tuple[ColumnElement[Any], ...]:
    """The columns behind ``schema``'s fields, in field order and labelled with the field names:
    ``table``'s column of the same name, or the one given by name in ``elsewhere``.

    A list selects exactly what its page shows, and a field without a column fails here, at
    import time rather than on the first request.
    """
    return tuple(
        elsewhere[name].label(name) if name in elsewhere else table.c[name]
        for name in schema.model_fields
    )


async def fetch_page(
    session: AsyncSession,
    stmt: Select[Any],
    columns: KeyColumns,
    page: PageRequest,
    name: str,
    *,
    descending: bool,
    viewer_id: uuid.UUID,
    context: Mapping[str, ContextValue],
) -> tuple[list[Item], str | None]:
    """One page of ``stmt`` (a select of :func:`item_columns`) in the order of ``columns``, the
    sort key, whose last one is unique. Every list runs through here.

    The cursor carries the last item's key and is bound to the list ``name``, the viewer and
    ``context``: the parent object (a conversation id, a user filter) and *every* filter that
    narrows ``stmt``, each under its own name, ``None`` when unused. A cursor from any other
    binding is 422 ``invalid_cursor``, so a later page cannot be reached without the first one.
    """
    binding = cursor_binding(name, viewer_id, context)
    after = page.after(binding, [_key_type(column) for column in columns])
    result = await session.execute(
        keyset(stmt, columns, after, descending=descending, limit=page.limit)
    )
    rows = [dict(row) for row in result.mappings()]
    keys = [column.key for column in columns]
    return build_page(rows, page, binding, lambda item: [item[key] for key in keys])


def _key_type(column: InstrumentedAttribute[Any] | ColumnElement[Any]) -> KeyType:
    kind = column.type.python_type
    if kind not in (bool, int, str, datetime, uuid.UUID):
        raise TypeError(f"no cursor for a {kind.__name__} sort key")
    return kind
