"""The usage report of the admin panel: tokens and answers per day or per user, in scope."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.admin.schemas import UsageItem, UsageReport, UsageTotals
from energyapp.admin.service import user_scope
from energyapp.auth.models import User
from energyapp.conversations.models import Message
from energyapp.core.roles import Role
from energyapp.errors import Unprocessable

USAGE_MAX_DAYS = 366

_PROMPT = func.coalesce(func.sum(Message.prompt_tokens), 0)
_COMPLETION = func.coalesce(func.sum(Message.completion_tokens), 0)
_COUNT = func.count(Message.id)
_FIRST_TOKEN = func.avg(Message.first_token_ms)  # answers only: questions have none


async def usage_report(
    session: AsyncSession,
    viewer: User,
    *,
    from_date: date,
    to_date: date,
    group_by: Literal["user", "day"],
    limit: int,
) -> UsageReport:
    """Tokens and messages caused by users in scope between two UTC days (inclusive).

    ``group_by=day`` gives one item per day with activity; ``group_by=user`` the ``limit``
    heaviest users by tokens. ``totals`` always covers everyone in scope.
    """
    if to_date < from_date:
        raise Unprocessable("La fecha final es anterior a la inicial.", code="invalid_range")
    if (to_date - from_date).days >= USAGE_MAX_DAYS:
        raise Unprocessable(
            f"El período admite como máximo {USAGE_MAX_DAYS} días.", code="invalid_range"
        )
    start = datetime.combine(from_date, time.min, tzinfo=UTC)
    end = datetime.combine(to_date + timedelta(days=1), time.min, tzinfo=UTC)
    in_range = (Message.created_at >= start, Message.created_at < end)

    def scoped(stmt: Any) -> Any:
        if viewer.role == Role.ADMIN:
            return stmt.outerjoin(User, User.id == Message.user_id).where(*in_range)
        return stmt.join(User, User.id == Message.user_id).where(*in_range, user_scope(viewer))

    total = (await session.execute(scoped(select(_PROMPT, _COMPLETION, _COUNT)))).one()
    if group_by == "day":
        items = await _by_day(session, scoped)
    else:
        items = await _by_user(session, scoped, limit)
    return UsageReport(
        from_date=from_date,
        to_date=to_date,
        group_by=group_by,
        items=items,
        totals=UsageTotals(prompt_tokens=total[0], completion_tokens=total[1], messages=total[2]),
    )


async def _by_day(session: AsyncSession, scoped: Any) -> list[UsageItem]:
    day: ColumnElement[Any]
    if session.get_bind().dialect.name == "postgresql":
        day = cast(func.timezone("UTC", Message.created_at), Date)
    else:
        day = func.date(Message.created_at)
    stmt = scoped(select(day.label("day"), _PROMPT, _COMPLETION, _COUNT, _FIRST_TOKEN))
    stmt = stmt.group_by(day)
    return [
        UsageItem(
            day=row[0] if isinstance(row[0], date) else date.fromisoformat(str(row[0])),
            prompt_tokens=row[1],
            completion_tokens=row[2],
            messages=row[3],
            avg_first_token_ms=None if row[4] is None else round(float(row[4]), 1),
        )
        for row in (await session.execute(stmt.order_by(day))).all()
    ]


async def _by_user(session: AsyncSession, scoped: Any, limit: int) -> list[UsageItem]:
    stmt = (
        scoped(select(Message.user_id, User.email, User.full_name, _PROMPT, _COMPLETION, _COUNT))
        .group_by(Message.user_id, User.email, User.full_name)
        .order_by((_PROMPT + _COMPLETION).desc(), _COUNT.desc(), Message.user_id)
        .limit(limit)
    )
    return [
        UsageItem(
            user_id=row[0],
            email=row[1],
            full_name=row[2],
            prompt_tokens=row[3],
            completion_tokens=row[4],
            messages=row[5],
        )
        for row in (await session.execute(stmt)).all()
    ]
