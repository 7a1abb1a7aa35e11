"""Retention: conversations whose last message is older than their owner's role allows
(``settings.retention_days``), and temporary chats past ``settings.temporary_chat_hours``
(conversations/temporary.py), are deleted by ``energyapp retention run`` (an hourly systemd timer),
except those on legal hold. A conversation's ``updated_at`` is the time of its last message
(``counters.messages_added`` moves it; renaming or pinning does not).

The run deletes in small batches, each its own short transaction, so no table stays locked for
long and a chat turn racing a deletion wins: every DELETE re-checks the policy and the hold on
the rows it removes. The whole run is one ``retention.run`` audit event."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.audit import service as audit
from energyapp.auth.models import USERS, User
from energyapp.config import Settings
from energyapp.conversations import counters, legal_hold, temporary
from energyapp.conversations.models import CONVERSATIONS
from energyapp.core.dates import local_day
from energyapp.core.roles import Role
from energyapp.db import utcnow

NOTICE_LIMIT = 10


@dataclass(frozen=True)
class Cutoffs:
    """The moments before which a last message is too old: per role with a policy, and for a
    temporary chat."""

    by_role: dict[Role, datetime]
    temporary: datetime


def cutoffs(settings: Settings, now: datetime) -> Cutoffs:
    by_role = {role: now - timedelta(days=d) for role, d in settings.retention_days.items()}
    return Cutoffs(by_role, temporary.cutoff(settings, now))


def expired_condition(limits: Cutoffs) -> ColumnElement[bool]:
    """Rows of ``conversations`` past their owner's policy or their life as a temporary chat,
    and not on hold (no JOIN, so it serves a DELETE too)."""
    c = CONVERSATIONS.c
    by_role = [
        and_(c.updated_at < cutoff, c.user_id.in_(select(USERS.c.id).where(USERS.c.role == role)))
        for role, cutoff in limits.by_role.items()
    ]
    expired = or_(false(), temporary.expired_condition(limits.temporary), *by_role)
    return and_(expired, ~legal_hold.is_held_condition())


@dataclass(frozen=True)
class Expired:
    id: uuid.UUID
    owner_email: str
    title: str
    last_message_at: datetime
    message_count: int
    temporary: bool

    def describe(self, now: datetime) -> str:
        """One line of ``--dry-run``: id, last message (dd-mm-aaaa, Santiago), owner, title. A
        temporary chat is meant to leave no trace: only its id, hours since its last message
        and messages, never its title nor its owner."""
        if self.temporary:
            hours = int((now - self.last_message_at).total_seconds() // 3600)
            return f"{self.id}  chat temporal, hace {hours} h  {self.message_count} mensajes"
        return (
            f"{self.id}  {local_day(self.last_message_at)}  {self.owner_email}  "
            f"{self.message_count} mensajes  «{self.title}»"
        )


async def _expired_page(
    session: AsyncSession, limits: Cutoffs, size: int, after: tuple[datetime, uuid.UUID] | None
) -> list[Expired]:
    c = CONVERSATIONS.c
    stmt = (
        select(c.id, USERS.c.email, c.title, c.updated_at, c.message_count, c.temporary)
        .select_from(CONVERSATIONS.join(USERS, USERS.c.id == c.user_id))
        .where(expired_condition(limits))
        .order_by(c.updated_at, c.id)
        .limit(size)
    )
    if after is not None:
        stmt = stmt.where(tuple_(c.updated_at, c.id) > tuple_(*after))
    return [Expired(*row) for row in (await session.execute(stmt)).all()]


async def expired(
    session: AsyncSession, settings: Settings, *, now: datetime | None = None
) -> AsyncIterator[Expired]:
    """Every conversation the run would delete now, oldest first, read page by page."""
    limits = cutoffs(settings, now or utcnow())
    after = None
    while True:
        page = await _expired_page(session, limits, settings.retention_batch_size, after)
        for item in page:
            yield item
        if len(page) < settings.retention_batch_size:
            return
        after = (page[-1].last_message_at, page[-1].id)


async def _delete_batch(
    session: AsyncSession, limits: Cutoffs, ids: Sequence[uuid.UUID]
) -> tuple[int, int]:
    """Delete those of ``ids`` still expired (messages go by FK cascade), keeping the owners'
    counters in step; returns the conversations and messages deleted."""
    c = CONVERSATIONS.c
    rows = (
        await session.execute(
            delete(CONVERSATIONS)
            .where(c.id.in_(ids), expired_condition(limits))
            .returning(c.user_id, c.message_count)
        )
    ).all()
    per_owner: dict[uuid.UUID, list[int]] = defaultdict(lambda: [0, 0])
    for owner_id, message_count in rows:
        per_owner[owner_id][0] += 1
        per_owner[owner_id][1] += message_count
    for owner_id, (conversations, messages) in per_owner.items():
        await counters.conversations_deleted(session, owner_id, conversations, messages)
    return len(rows), sum(messages for _, messages in per_owner.values())


@dataclass(frozen=True)
class RunSummary:
    conversations: int
    messages: int
    batches: int


async def run(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    now: datetime | None = None,
) -> RunSummary:
    """Delete every expired conversation (by policy, or a temporary chat past its life) not on
    hold, batch by batch; one summary audit event."""
    limits = cutoffs(settings, now or utcnow())
    conversations = messages = batches = 0
    after = None
    while True:
        async with sessionmaker() as session, session.begin():
            page = await _expired_page(session, limits, settings.retention_batch_size, after)
            if not page:
                break
            deleted, deleted_messages = await _delete_batch(session, limits, [e.id for e in page])
        conversations += deleted
        messages += deleted_messages
        batches += 1
        after = (page[-1].last_message_at, page[-1].id)
    summary = RunSummary(conversations, messages, batches)
    async with sessionmaker() as session, session.begin():
        audit.record(
            session,
            "retention.run",
            actor_id=None,
            details={
                "conversations": summary.conversations,
                "messages": summary.messages,
                "batches": summary.batches,
                "policy_days": {role.value: days for role, days in settings.retention_days.items()},
                "temporary_chat_hours": settings.temporary_chat_hours,
            },
        )
    return summary


@dataclass(frozen=True)
class Notice:
    retention_days: int | None
    warning_days: int
    expiring_count: int
    expiring: list[tuple[uuid.UUID, str, datetime]]  # (id, title, deleted from this moment)


async def notice_for(
    session: AsyncSession, settings: Settings, user: User, *, now: datetime | None = None
) -> Notice:
    """What the chat list tells ``user``: the policy, and which conversations will be deleted
    within the warning period (held ones are not)."""
    days = settings.retention_days.get(user.role)
    warning = settings.retention_warning_days
    if days is None or warning == 0:
        return Notice(days, warning, 0, [])
    limit = (now or utcnow()) - timedelta(days=days) + timedelta(days=warning)
    c = CONVERSATIONS.c
    where = and_(
        c.user_id == user.id,
        c.updated_at < limit,
        c.temporary.is_(False),  # not listed anywhere; its banner tells its life
        ~legal_hold.is_held_condition(),
    )
    count = await session.scalar(select(func.count()).select_from(CONVERSATIONS).where(where))
    rows = await session.execute(
        select(c.id, c.title, c.updated_at)
        .where(where)
        .order_by(c.updated_at, c.id)
        .limit(NOTICE_LIMIT)
    )
    expiring = [(id_, title, at + timedelta(days=days)) for id_, title, at in rows.all()]
    return Notice(days, warning, count or 0, expiring)
