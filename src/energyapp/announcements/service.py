"""Announcements: the administrators write them (the panel's "Avisos generales" tab, or ``energyapp
announce`` on the server), everyone signed in reads the active ones meant for their role and
closes them.

The state lives only in the database (no process cache), so every worker and host shows the
same: an announcement written on one is read by the next poll on any other. A dismissal is a
row, so it holds on every device of the person; editing an announcement's text or level deletes
its dismissals (it is news again). Every change is audited with the announcement's id, and the
console's with ``details.via = "console"`` and no actor.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import ColumnElement, case, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.announcements.models import (
    ANNOUNCEMENTS,
    DISMISSALS,
    Announcement,
    AnnouncementDismissal,
)
from energyapp.audit import service as audit_service
from energyapp.auth.models import User
from energyapp.core.dates import LOCAL_TIMEZONE
from energyapp.core.text import multiline, within
from energyapp.db import for_update, take_turns, utcnow
from energyapp.errors import Conflict, NotFound, Unprocessable

Level = Literal["info", "warning"]  # models.LEVELS, the column's check constraint
Audience = Literal["all", "admin", "supervisor", "trabajador"]  # models.AUDIENCES
State = Literal["programado", "activo", "terminado"]
MAX_BODY_CHARS = 500  # counted in characters (code points) after cleaning
MAX_OPEN = 20  # announcements not yet ended (active or scheduled) at once
_EXCERPT_CHARS = 80  # of the text, in the audit trail
OPEN_LOCK_KEY = 0x616E6E6F_756E6365  # "announce": creating or reopening, in turns (the cap)


@dataclass(frozen=True, slots=True)
class Changes:
    """What a PATCH sends; a field left ``None`` (and not in ``sent``) stays."""

    sent: frozenset[str]
    body: str | None = None
    level: Level | None = None
    audience: Audience | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


def clean_body(raw: str) -> str:
    """``raw`` cleaned as :func:`energyapp.core.text.multiline` (NFC, trimmed); 422
    ``announcement_empty`` when nothing is left, ``announcement_too_long`` beyond
    :data:`MAX_BODY_CHARS` characters."""
    text = multiline(raw)
    if not text:
        raise Unprocessable("Escriba el texto del aviso.", code="announcement_empty")
    return within(text, MAX_BODY_CHARS, "El aviso", "announcement_too_long")


def as_utc(moment: datetime) -> datetime:
    """An aware ``moment`` as is; a naive one read as Santiago's clock (what a person types).
    422 ``invalid_date`` at the ends of the calendar, where the shift to UTC overflows, and for
    a Santiago time the clock skips (the hour lost when summer time starts)."""
    typed = moment if moment.tzinfo is None else None
    if typed is not None:
        moment = typed.replace(tzinfo=LOCAL_TIMEZONE)
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # year 9999 ahead of UTC, year 1 behind it
        raise Unprocessable(
            "La fecha del aviso está fuera del calendario: elija una fecha real.",
            code="invalid_date",
        ) from None
    if typed is not None and utc.astimezone(LOCAL_TIMEZONE).replace(tzinfo=None) != typed:
        raise Unprocessable(
            f"La hora {typed:%H:%M} del {typed:%d-%m-%Y} no existe en Santiago: ese día el reloj "
            "se adelanta una hora por el horario de verano. Elija otra hora.",
            code="invalid_date",
        )
    return utc


def _check_window(starts_at: datetime, ends_at: datetime | None) -> None:
    if ends_at is not None and ends_at <= starts_at:
        raise Unprocessable(
            "El término del aviso debe ser posterior a su inicio.", code="ends_before_start"
        )


def state_of(announcement: Announcement, now: datetime) -> State:
    """Whether it waits for its start, shows, or ended."""
    if announcement.ends_at is not None and announcement.ends_at <= now:
        return "terminado"
    return "programado" if announcement.starts_at > now else "activo"


def _active(now: datetime) -> list[ColumnElement[bool]]:
    a = Announcement
    return [a.starts_at <= now, or_(a.ends_at.is_(None), a.ends_at > now)]


def _excerpt(body: str) -> str:
    return body if len(body) <= _EXCERPT_CHARS else body[: _EXCERPT_CHARS - 1] + "…"


def _audit(
    session: AsyncSession,
    action: str,
    announcement: Announcement,
    actor_id: uuid.UUID | None,
    request: Request | None,
    **details: object,
) -> None:
    facts: dict[str, object] = {"body": _excerpt(announcement.body), **details}
    if actor_id is None:
        facts["via"] = "console"
    audit_service.record(
        session, action, actor_id=actor_id, request=request, target_type="announcement",
        target_id=announcement.id, details=facts,
    )  # fmt: skip


async def list_all(session: AsyncSession) -> list[Announcement]:
    """Every announcement, newest first (the admin's list; few rows, no pages)."""
    rows = await session.scalars(
        select(Announcement).order_by(Announcement.created_at.desc(), Announcement.id.desc())
    )
    return list(rows)


async def _count_open(session: AsyncSession, now: datetime) -> int:
    a = Announcement
    query = select(func.count()).select_from(a).where(or_(a.ends_at.is_(None), a.ends_at > now))
    return int(await session.scalar(query) or 0)


async def _check_room(session: AsyncSession, now: datetime) -> None:
    """409 ``too_many_announcements`` when :data:`MAX_OPEN` are not yet ended (creating one,
    or reopening an ended one). Two admins at once take turns: both counting 19 made 21."""
    await take_turns(session, ANNOUNCEMENTS, OPEN_LOCK_KEY)
    if await _count_open(session, now) >= MAX_OPEN:
        raise Conflict(
            f"Ya hay {MAX_OPEN} avisos vigentes o programados. Termine o elimine alguno antes "
            "de crear otro o de volver a abrir uno terminado.",
            code="too_many_announcements",
        )


async def create(
    session: AsyncSession,
    actor_id: uuid.UUID | None,
    *,
    body: str,
    level: Level = "info",
    audience: Audience = "all",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    request: Request | None = None,
) -> Announcement:
    """A new announcement (``actor_id`` None: the server's console); audited. 422 when the
    text is empty or too long, when it ends before it starts or has already ended; 409
    ``too_many_announcements`` past :data:`MAX_OPEN` not yet ended."""
    text = clean_body(body)
    now = utcnow()
    start = as_utc(starts_at) if starts_at is not None else now
    end = as_utc(ends_at) if ends_at is not None else None
    if end is not None and end <= now:
        raise Unprocessable(
            "El término del aviso ya pasó: elija una fecha futura.", code="ends_in_past"
        )
    _check_window(start, end)
    await _check_room(session, now)
    announcement = Announcement(
        body=text, level=level, audience=audience, starts_at=start, ends_at=end,
        created_by=actor_id, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(announcement)
    await session.flush()
    _audit(session, "announcement.created", announcement, actor_id, request,
           level=level, audience=audience)  # fmt: skip
    return announcement


async def get_for_update(session: AsyncSession, announcement_id: uuid.UUID) -> Announcement:
    """The announcement, locked for the change; 404 ``announcement_not_found``."""
    found = await session.scalar(
        for_update(select(Announcement).where(Announcement.id == announcement_id))
    )
    if found is None:
        raise NotFound("No se encontró el aviso: puede que ya no exista.",
                       code="announcement_not_found")  # fmt: skip
    return found


async def update(
    session: AsyncSession,
    actor_id: uuid.UUID | None,
    announcement: Announcement,
    changes: Changes,
    *,
    request: Request | None = None,
) -> Announcement:
    """Change what ``changes.sent`` names; audited with the fields changed. A new text or level
    deletes its dismissals: everyone in its audience sees it again. Reopening an ended one (its
    end moved ahead or removed) is 409 ``too_many_announcements`` past :data:`MAX_OPEN`. A start
    sent as ``None`` is now, as when creating one."""
    a, now = announcement, utcnow()
    body = clean_body(changes.body) if changes.body is not None else a.body
    start = a.starts_at
    if "starts_at" in changes.sent:
        start = as_utc(changes.starts_at) if changes.starts_at is not None else now
    end = a.ends_at
    if "ends_at" in changes.sent:
        end = as_utc(changes.ends_at) if changes.ends_at is not None else None
    _check_window(start, end)
    new = {
        "body": body,
        "level": changes.level or a.level,
        "audience": changes.audience or a.audience,
        "starts_at": start,
        "ends_at": end,
    }
    changed = [name for name, value in new.items() if getattr(a, name) != value]
    if not changed:
        return a
    if state_of(a, now) == "terminado" and (end is None or end > now):
        await _check_room(session, now)  # reopened: it counts again
    news_again = "body" in changed or "level" in changed
    for name in changed:
        setattr(a, name, new[name])
    a.updated_at = now
    if news_again:
        await session.execute(delete(DISMISSALS).where(DISMISSALS.c.announcement_id == a.id))
    await session.flush()
    _audit(session, "announcement.updated", a, actor_id, request, changed=changed)
    return a


async def end_now(
    session: AsyncSession,
    actor_id: uuid.UUID | None,
    announcement: Announcement,
    *,
    request: Request | None = None,
) -> Announcement:
    """ "Terminar ahora": it stops showing at once (a scheduled one never shows); audited. One
    already ended stays as it is."""
    now = utcnow()
    a = announcement
    if a.ends_at is not None and a.ends_at <= now:
        return a
    a.starts_at = min(a.starts_at, now)  # the table allows ends_at == starts_at for this
    a.ends_at = now
    a.updated_at = now
    await session.flush()
    _audit(session, "announcement.ended", a, actor_id, request)
    return a


async def remove(
    session: AsyncSession,
    actor_id: uuid.UUID | None,
    announcement: Announcement,
    *,
    request: Request | None = None,
) -> None:
    """Delete it and its dismissals; the audit keeps its id and the start of its text."""
    _audit(session, "announcement.deleted", announcement, actor_id, request)
    await session.delete(announcement)
    await session.flush()


async def visible_to(session: AsyncSession, user: User) -> list[Announcement]:
    """The active announcements for ``user``'s role they have not closed: warnings first, then
    the newest."""
    a, d = Announcement, DISMISSALS.c
    closed = select(d.announcement_id).where(d.user_id == user.id)
    warning_first = case((a.level == "warning", 0), else_=1)
    rows = await session.scalars(
        select(a)
        .where(*_active(utcnow()), a.audience.in_(("all", user.role)), a.id.not_in(closed))
        .order_by(warning_first, a.starts_at.desc(), a.id.desc())
    )
    return list(rows)


async def dismiss(session: AsyncSession, user: User, announcement_id: uuid.UUID) -> None:
    """Close an active announcement for ``user`` on all their devices; again: nothing changes.
    404 ``announcement_not_found`` for one they cannot see (another role's, not started,
    ended, missing)."""
    a = Announcement
    found = await session.scalar(
        select(a.id).where(
            a.id == announcement_id, *_active(utcnow()), a.audience.in_(("all", user.role))
        )
    )
    if found is None:
        raise NotFound("No se encontró el aviso: puede que ya haya terminado.",
                       code="announcement_not_found")  # fmt: skip
    if await session.get(AnnouncementDismissal, (announcement_id, user.id)) is not None:
        return
    try:
        async with session.begin_nested():
            session.add(AnnouncementDismissal(announcement_id=announcement_id, user_id=user.id))
    except IntegrityError:  # the same person's other device closed it at the same moment
        return
