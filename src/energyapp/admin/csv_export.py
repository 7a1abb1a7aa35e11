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

from starlette.responses import Response, StreamingResponse

from energyapp.core import dates
from energyapp.core.ratelimit import RateLimiter
from energyapp.db import utcnow
from energyapp.errors import Unprocessable

BOM = "\ufeff"
DELIMITER = ";"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# An export reads up to thousands of rows: a person gets a few a minute, not a loop.
EXPORTS_PER_MINUTE = 10
# Rows of one file, either kind: the file is built whole in memory on the event loop (20 000
# usage rows took 0.2 s and 35 MB there; 100 000 took 1.3 s, every other request waiting).
MAX_ROWS = 20_000


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


MEDIA_TYPE = "text/csv; charset=utf-8"


def _disposition(name: str) -> dict[str, str]:
    """A download named ``<name>-<dd-mm-aaaa>.csv`` (today in Santiago)."""
    today = utcnow().astimezone(dates.LOCAL_TIMEZONE).strftime(dates.DAY_FORMAT)
    return {"Content-Disposition": f'attachment; filename="{name}-{today}.csv"'}


def response(name: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    """The file, named ``<name>-<dd-mm-aaaa>.csv`` (today in Santiago)."""
    body = render(header, rows).encode("utf-8")
    return Response(body, media_type=MEDIA_TYPE, headers=_disposition(name))


def head_response(name: str) -> StreamingResponse:
    """A HEAD's answer (core/head.py): the file's type and name, nothing built (and so no
    ``Content-Length``, which only the file would know)."""
    return StreamingResponse(iter(()), media_type=MEDIA_TYPE, headers=_disposition(name))


def too_large(rows: str, advice: str) -> Unprocessable:
    """The 422 ``export_too_large`` of a file that would pass :data:`MAX_ROWS` ``rows``."""
    most = f"{MAX_ROWS:,}".replace(",", ".")
    return Unprocessable(
        f"La exportación admite como máximo {most} {rows}. {advice}", code="export_too_large"
    )


async def check_rate(limiter: RateLimiter, user_id: uuid.UUID, *, count: bool = True) -> None:
    """429 ``rate_limited`` beyond :data:`EXPORTS_PER_MINUTE` exports per person (all kinds);
    ``count=False``: a HEAD's answer, which builds nothing and so spends nothing."""
    await limiter.enforce(
        "admin.export", str(user_id), limit=EXPORTS_PER_MINUTE, window_seconds=60,
        detail="Pidió demasiadas exportaciones seguidas. Espere {seconds} s e intente de nuevo.",
        count=count,
    )  # fmt: skip
