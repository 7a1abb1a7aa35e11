"""Calendar days a client may name in a request.

A ``date`` parameter accepts years 1 to 9999, and arithmetic on the ends of that range
overflows (``date.max + timedelta(days=1)`` raises ``OverflowError``, a 500). Every day a
request names goes through :func:`bounded_day`: from :data:`EARLIEST_DAY` (long before any
installation kept data) to a year after today, anything else a 422 ``invalid_date``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Query

from energyapp.errors import Unprocessable

EARLIEST_DAY = date(2000, 1, 1)
DAYS_AHEAD = 366
# How a day is written in a message a person reads (es-CL).
DAY_FORMAT = "%d-%m-%Y"


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


# The company's clock: days and times a person reads or names are Santiago's.
LOCAL_TIMEZONE = ZoneInfo("America/Santiago")
MOMENT_FORMAT = "%d-%m-%Y %H:%M"


def local_moment(moment: datetime) -> str:
    """``moment`` as a person reads it: dd-mm-aaaa HH:MM in Santiago."""
    return moment.astimezone(LOCAL_TIMEZONE).strftime(MOMENT_FORMAT)


def local_day_start(day: date) -> datetime:
    """The instant a Santiago calendar day begins (an aware datetime)."""
    return datetime.combine(day, time.min, tzinfo=LOCAL_TIMEZONE)


def local_today() -> date:
    """Today in Santiago."""
    return datetime.now(LOCAL_TIMEZONE).date()


def day_range(
    from_day: date | None, to_day: date | None, *, default_days: int = 30
) -> tuple[date, date]:
    """A report's range from optional ``from``/``to`` parameters, both bounded first (so the
    defaults' arithmetic cannot overflow): by default the ``default_days`` ending today."""
    end = bounded_day(to_day, "hasta") or local_today()
    start = bounded_day(from_day, "desde") or end - timedelta(days=default_days - 1)
    return start, end


# The ``from``/``to`` query parameters of every report over a range of Santiago days.
FromDay = Annotated[date | None, Query(alias="from", description="Día inicial (hora de Santiago).")]
ToDay = Annotated[date | None, Query(description="Día final, incluido (hora de Santiago).")]
