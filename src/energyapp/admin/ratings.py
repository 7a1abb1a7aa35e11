"""Answer ratings in the "Uso" tab: 👍 and 👎 per Santiago day of a period, and the answers
rated 👎 with their comments, within the viewer's scope.

Counts go by the person who rated (``message_feedback.user_id``), as usage goes by the person
who caused each message: admins see everyone's (an account deleted since included), a
supervisor the ratings of workers and its own. The list of poorly rated answers also needs the
conversation's owner in scope, as the conversation list does, so that each row's link opens
the conversation in the viewer. A rating counts on the day it was last set (``updated_at``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.admin.schemas import PoorAnswerOut, RatingsDay, RatingsReport, RatingsTotals
from energyapp.admin.service import user_scope
from energyapp.admin.usage import Period, day_bucket, local_day
from energyapp.auth.models import USERS
from energyapp.conversations.models import CONVERSATIONS, MESSAGES
from energyapp.core import dates
from energyapp.core.pagination import Item, PageRequest, fetch_page, item_columns
from energyapp.core.roles import Role
from energyapp.feedback.models import MESSAGE_FEEDBACK

POOR_ANSWERS_CURSOR = "admin.poor_answers"

_F = MESSAGE_FEEDBACK.c
_RATER = USERS.alias("rater")
POOR_ANSWER_COLUMNS = item_columns(
    PoorAnswerOut,
    MESSAGE_FEEDBACK,
    conversation_id=MESSAGES.c.conversation_id,
    full_name=_RATER.c.full_name,
    email=_RATER.c.email,
    model=MESSAGES.c.model,
)
_UP = func.coalesce(func.sum(case((_F.rating == "up", 1), else_=0)), 0)
_DOWN = func.coalesce(func.sum(case((_F.rating == "down", 1), else_=0)), 0)


def _in_period(span: Period) -> ColumnElement[bool]:
    start = dates.local_day_start(span.from_date)
    end = dates.local_day_start(span.to_date + timedelta(days=1))
    return and_(_F.updated_at >= start, _F.updated_at < end)


def _rater_in_scope(span: Period) -> ColumnElement[bool]:
    if span.viewer.role == Role.ADMIN:
        return true()
    return _F.user_id.in_(select(USERS.c.id).where(user_scope(span.viewer)))


async def ratings_by_day(session: AsyncSession, span: Period) -> RatingsReport:
    """👍 and 👎 per Santiago day with ratings, and their totals."""
    bucket = day_bucket(session, _F.updated_at)
    stmt = (
        select(bucket, _UP, _DOWN).where(_in_period(span), _rater_in_scope(span)).group_by(bucket)
    )
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for row in (await session.execute(stmt)).all():
        day = days[local_day(row[0])]  # SQLite's hours fold into Santiago days
        day[0] += int(row[1])
        day[1] += int(row[2])
    items = [RatingsDay(day=d, up=up, down=down) for d, (up, down) in sorted(days.items())]
    return RatingsReport(
        from_date=span.from_date,
        to_date=span.to_date,
        items=items,
        totals=RatingsTotals(up=sum(i.up for i in items), down=sum(i.down for i in items)),
    )


async def poor_answers(
    session: AsyncSession, span: Period, page: PageRequest
) -> tuple[list[Item], str | None]:
    """The answers rated 👎 in the period (``PoorAnswerOut`` fields), newest rating first."""
    m, c = MESSAGES.c, CONVERSATIONS.c
    joined: Any = (
        MESSAGE_FEEDBACK.join(MESSAGES, m.id == _F.message_id)
        .join(CONVERSATIONS, c.id == m.conversation_id)
        .join(USERS, USERS.c.id == c.user_id)
        .outerjoin(_RATER, _RATER.c.id == _F.user_id)
    )
    stmt = (
        select(*POOR_ANSWER_COLUMNS)
        .select_from(joined)
        .where(
            _F.rating == "down",
            _in_period(span),
            user_scope(span.viewer),
            _rater_in_scope(span),
        )
    )
    return await fetch_page(
        session,
        stmt,
        (_F.updated_at, _F.message_id),
        page,
        POOR_ANSWERS_CURSOR,
        descending=True,
        viewer_id=span.viewer.id,
        context={"from": span.from_date.isoformat(), "to": span.to_date.isoformat()},
    )
