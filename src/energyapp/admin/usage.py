"""The usage report of the admin panel: tokens and answers per day, per user, or per user and
day, for the users in the viewer's scope, read from the usage ledger (``usage_events``): what
was used stays reported when the conversations are deleted.

Days are Santiago calendar days (what a person in the company calls "el 3 de noviembre").
PostgreSQL converts each event's time to Santiago in the query; SQLite has no time zones, so
it groups by UTC hour and the hours are folded into Santiago days here (Chile's offsets are
whole hours, so an hour never straddles two local days).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.admin import csv_export
from energyapp.admin.schemas import UsageItem, UsageReport, UsageTotals
from energyapp.admin.service import user_scope
from energyapp.auth.models import User
from energyapp.core import dates
from energyapp.core.roles import Role
from energyapp.errors import Unprocessable
from energyapp.usage.models import UsageEvent

USAGE_MAX_DAYS = 366

_PROMPT = func.coalesce(func.sum(UsageEvent.prompt_tokens), 0)
_COMPLETION = func.coalesce(func.sum(UsageEvent.completion_tokens), 0)
_COUNT = func.coalesce(func.sum(UsageEvent.messages), 0)
_ANSWERS = func.coalesce(func.sum(UsageEvent.answers), 0)
_SUMS = (_PROMPT, _COMPLETION, _COUNT, _ANSWERS)


@dataclass
class Sums:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    messages: int = 0
    answers: int = 0

    def add(self, row: Iterable[Any]) -> None:
        prompt, completion, messages, answers = (int(v) for v in row)
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.messages += messages
        self.answers += answers


@dataclass(frozen=True)
class Period:
    """A checked range of Santiago days (both ends included) and the users in scope."""

    viewer: User
    from_date: date
    to_date: date

    def scoped(self, stmt: Any, rows: Any = UsageEvent) -> Any:
        """``stmt`` over the ``rows`` (a model with ``created_at`` and ``user_id``: the ledger,
        or the messages for the status page) of the period and the scope."""
        start = dates.local_day_start(self.from_date)
        end = dates.local_day_start(self.to_date + timedelta(days=1))
        in_range = (rows.created_at >= start, rows.created_at < end)
        if self.viewer.role == Role.ADMIN:
            return stmt.outerjoin(User, User.id == rows.user_id).where(*in_range)
        return stmt.join(User, User.id == rows.user_id).where(*in_range, user_scope(self.viewer))


def period(viewer: User, from_date: date, to_date: date) -> Period:
    """The period, or 422 ``invalid_range`` when it is reversed or longer than a year."""
    if to_date < from_date:
        raise Unprocessable("La fecha final es anterior a la inicial.", code="invalid_range")
    if (to_date - from_date).days >= USAGE_MAX_DAYS:
        raise Unprocessable(
            f"El período admite como máximo {USAGE_MAX_DAYS} días.", code="invalid_range"
        )
    return Period(viewer, from_date, to_date)


def day_bucket(session: AsyncSession, moment: Any = UsageEvent.created_at) -> ColumnElement[Any]:
    """What to group ``moment`` (a UTC time column) by for Santiago days: the day itself on
    PostgreSQL, the UTC hour on SQLite (folded into days by :func:`local_day`)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(dates.LOCAL_TIMEZONE.key, moment), Date)
    return func.strftime("%Y-%m-%d %H:00:00", moment)


def local_day(bucket: Any) -> date:
    """The Santiago day of a :func:`day_bucket` value."""
    if isinstance(bucket, date) and not isinstance(bucket, datetime):
        return bucket
    moment = datetime.fromisoformat(str(bucket)).replace(tzinfo=UTC)
    return moment.astimezone(dates.LOCAL_TIMEZONE).date()


# The wait for the first token, summed and counted (generations that had one), so that hourly
# buckets fold into Santiago days before the average is taken.
_FIRST_TOKEN = (
    func.coalesce(func.sum(UsageEvent.first_token_ms), 0),
    func.count(UsageEvent.first_token_ms),
)


async def usage_report(
    session: AsyncSession,
    viewer: User,
    *,
    from_date: date,
    to_date: date,
    group_by: Literal["user", "day"],
    limit: int,
) -> UsageReport:
    """Tokens, messages and answers caused by users in scope between two Santiago days.

    ``group_by=day`` gives one item per day with activity; ``group_by=user`` the ``limit``
    heaviest users by tokens. ``totals`` always covers everyone in scope.
    """
    span = period(viewer, from_date, to_date)
    total = Sums()
    total.add((await session.execute(span.scoped(select(*_SUMS)))).one())
    if group_by == "day":
        items = await _by_day(session, span)
    else:
        items = await _by_user(session, span, limit)
    return UsageReport(
        from_date=from_date,
        to_date=to_date,
        group_by=group_by,
        items=items,
        totals=UsageTotals(**vars(total)),
    )


async def _by_day(session: AsyncSession, span: Period) -> list[UsageItem]:
    bucket = day_bucket(session)
    days: dict[date, Sums] = defaultdict(Sums)
    waits: dict[date, list[int]] = defaultdict(lambda: [0, 0])  # ms summed, answers counted
    stmt = span.scoped(select(bucket, *_SUMS, *_FIRST_TOKEN)).group_by(bucket)
    for row in (await session.execute(stmt)).all():
        day = local_day(row[0])
        days[day].add(row[1 : 1 + len(_SUMS)])
        waits[day][0] += int(row[-2])
        waits[day][1] += int(row[-1])
    return [
        UsageItem(day=day, avg_first_token_ms=_average(waits[day]), **vars(days[day]))
        for day in sorted(days)
    ]


def _average(wait: list[int]) -> float | None:
    total, count = wait
    return round(total / count, 1) if count else None


async def _by_user(session: AsyncSession, span: Period, limit: int) -> list[UsageItem]:
    stmt = (
        span.scoped(select(UsageEvent.user_id, User.email, User.full_name, *_SUMS))
        .group_by(UsageEvent.user_id, User.email, User.full_name)
        .order_by((_PROMPT + _COMPLETION).desc(), _COUNT.desc(), UsageEvent.user_id)
        .limit(limit)
    )
    return [
        UsageItem(user_id=row[0], email=row[1], full_name=row[2], **_sums(row[3:]))
        for row in (await session.execute(stmt)).all()
    ]


def _sums(row: Iterable[Any]) -> dict[str, int]:
    sums = Sums()
    sums.add(row)
    return vars(sums)


async def usage_by_user_and_day(session: AsyncSession, span: Period) -> list[UsageItem]:
    """One item per user and Santiago day with activity, by day then heaviest user first (the
    CSV export). More than ``csv_export.MAX_ROWS`` items is a 422 ``export_too_large``, said
    as soon as the first one too many is read (SQLite's hours fold into days as they come)."""
    bucket = day_bucket(session)
    stmt = span.scoped(
        select(bucket, UsageEvent.user_id, User.email, User.full_name, *_SUMS)
    ).group_by(bucket, UsageEvent.user_id, User.email, User.full_name)
    cells: dict[tuple[date, Any], Sums] = defaultdict(Sums)
    people: dict[Any, tuple[str | None, str | None]] = {}
    result = await session.stream(stmt)
    try:
        async for row in result:
            cells[(local_day(row[0]), row[1])].add(row[4:])
            people[row[1]] = (row[2], row[3])
            if len(cells) > csv_export.MAX_ROWS:
                raise csv_export.too_large(
                    "filas (una por persona y día con actividad)", "Acote el rango de fechas."
                )
    finally:
        await result.close()
    items = [
        UsageItem(day=day, user_id=uid, email=people[uid][0], full_name=people[uid][1], **vars(s))
        for (day, uid), s in cells.items()
    ]
    items.sort(key=lambda i: (i.day, -(i.prompt_tokens + i.completion_tokens), str(i.user_id)))
    return items
