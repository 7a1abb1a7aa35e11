"""Calendar days a client may name in a request.

A ``date`` parameter accepts years 1 to 9999, and arithmetic on the ends of that range
overflows (``date.max + timedelta(days=1)`` raises ``OverflowError``, a 500). Every day a
request names goes through :func:`bounded_day`: from :data:`EARLIEST_DAY` (long before any
installation kept data) to a year after today, anything else a 422 ``invalid_date``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from energyapp.errors import Unprocessable

EARLIEST_DAY = date(2000, 1, 1)
DAYS_AHEAD = 366
# How a day is written in a message a person reads (es-CL).
DAY_FORMAT = "%d-%m-%Y"
# The company's clock: the day a person reads is the day in Santiago.
LOCAL_TIMEZONE = ZoneInfo("America/Santiago")


def local_day(moment: datetime) -> str:
    """``moment`` as the day a person in Chile reads (dd-mm-aaaa in America/Santiago)."""
    return moment.astimezone(LOCAL_TIMEZONE).strftime(DAY_FORMAT)


def latest_day() -> date:
    """The last day a request may name: a year after today (UTC)."""
    return datetime.now(UTC).date() + timedelta(days=DAYS_AHEAD)


def bounded_day(value: date | None, parameter: str) -> date | None:
    """``value`` unchanged when it lies between :data:`EARLIEST_DAY` and :func:`latest_day`;
    422 ``invalid_date`` naming ``parameter`` otherwise. ``None`` (not given) passes."""
    if value is None:
        return None
    latest = latest_day()
    if not EARLIEST_DAY <= value <= latest:
        raise Unprocessable(
            f"La fecha «{parameter}» debe estar entre el {EARLIEST_DAY.strftime(DAY_FORMAT)} "
            f"y el {latest.strftime(DAY_FORMAT)}.",
            code="invalid_date",
        )
    return value
