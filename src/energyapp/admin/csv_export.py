"""CSV files for spreadsheets: what the admin panel exports (audit trail, usage report).

UTF-8 with a byte-order mark and ``;`` between fields: Excel configured for Chile (decimal
comma) opens such a file directly with accents intact. A cell a spreadsheet would run as a
formula (starting with ``=``, ``+``, ``-``, ``@``) is prefixed with an apostrophe, since names and
titles come from users.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Sequence

from starlette.responses import Response

from energyapp.core import dates
from energyapp.core.ratelimit import RateLimiter
from energyapp.db import utcnow

BOM = "\ufeff"
DELIMITER = ";"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# An export reads up to thousands of rows: a person gets a few a minute, not a loop.
EXPORTS_PER_MINUTE = 10


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def render(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The CSV text (with its BOM) of ``header`` and ``rows``."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, delimiter=DELIMITER, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def response(name: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    """A download named ``<name>-<dd-mm-aaaa>.csv`` (today in Santiago)."""
    today = utcnow().astimezone(dates.LOCAL_TIMEZONE).strftime(dates.DAY_FORMAT)
    return Response(
        render(header, rows).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{today}.csv"'},
    )


async def check_rate(limiter: RateLimiter, user_id: uuid.UUID) -> None:
    """429 ``rate_limited`` beyond :data:`EXPORTS_PER_MINUTE` exports per person (all kinds)."""
    await limiter.enforce(
        "admin.export", str(user_id), limit=EXPORTS_PER_MINUTE, window_seconds=60,
        detail="Pidió demasiadas exportaciones seguidas. Espere {seconds} s e intente de nuevo.",
    )  # fmt: skip
