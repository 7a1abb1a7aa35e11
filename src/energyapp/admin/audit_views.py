"""The audit trail as people read it: filtered, scoped, labelled in Spanish, exported as CSV.

Scope: an administrator sees every event; a supervisor sees the events about its scope, those
whose actor is in scope or whose object is a user in scope, a conversation of one or an API key
of one, and none whose object is a user, a conversation or an API key out of scope.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, cast, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.admin import csv_export
from energyapp.admin.audit_schemas import AuditEventOut, AuditFilters, AuditRow
from energyapp.admin.service import user_scope
from energyapp.apikeys.models import API_KEYS
from energyapp.audit import labels
from energyapp.audit import service as audit_service
from energyapp.audit.models import AUDIT_EVENTS
from energyapp.auth.models import USERS, User
from energyapp.conversations.models import CONVERSATIONS
from energyapp.core import dates, search
from energyapp.core.pagination import Item, PageRequest, fetch_page, item_columns
from energyapp.core.roles import Role
from energyapp.errors import Unprocessable

AUDIT_CURSOR = "admin.audit"
_NAME_BATCH = 500

_a = AUDIT_EVENTS.c
AUDIT_ROW_COLUMNS = item_columns(
    AuditRow, AUDIT_EVENTS, actor_name=USERS.c.full_name, actor_email=USERS.c.email
)


def _id_text(column: Any) -> ColumnElement[str]:
    # A uuid as text without dashes: PostgreSQL casts a uuid with dashes, SQLite stores it as
    # 32 hex digits, and ``target_id`` holds ``str(uuid)``. Comparing the dashless forms works
    # on both.
    return func.replace(cast(column, String), "-", "")


def _targets_user_among(users: Select[Any]) -> ColumnElement[bool]:
    """The event's object is one of the users ``users`` (a select of ``USERS.c.id``) finds."""
    ids = users.with_only_columns(_id_text(USERS.c.id)).correlate(None)
    return and_(_a.target_type == "user", _id_text(_a.target_id).in_(ids))


def _scope(viewer: User) -> ColumnElement[bool]:
    if viewer.role == Role.ADMIN:
        return true()
    return and_(_about(viewer, user_scope(viewer)), ~_about(viewer, ~user_scope(viewer), False))


def _about(viewer: User, users: ColumnElement[bool], by_actor: bool = True) -> ColumnElement[bool]:
    """Events whose object is a user ``users`` selects, a conversation or an API key of one
    (or, with ``by_actor``, whose actor is one). Never NULL, so it can be negated: an event
    about something out of scope stays hidden, whoever its actor is now (a demoted admin)."""
    owned = (
        select(_id_text(table.c.id)).join(USERS, USERS.c.id == table.c.user_id).where(users)
        for table in (CONVERSATIONS, API_KEYS)
    )
    ids = (select(_id_text(USERS.c.id)).where(users), *owned)
    about = [
        and_(
            func.coalesce(_a.target_type, "") == kind,
            _a.target_id.is_not(None),
            _id_text(_a.target_id).in_(found.correlate(None)),
        )
        for kind, found in zip(("user", "conversation", "api_key"), ids, strict=True)
    ]
    if by_actor:
        about.append(and_(_a.actor_id.is_not(None), users))
    return or_(*about)


def _filtered(viewer: User, filters: AuditFilters) -> Select[Any]:
    stmt = (
        select(*AUDIT_ROW_COLUMNS)
        .select_from(AUDIT_EVENTS.outerjoin(USERS, USERS.c.id == _a.actor_id))
        .where(_scope(viewer))
    )
    if filters.q:
        people = (USERS.c.email, USERS.c.full_name)
        stmt = stmt.where(
            or_(
                search.any_contains(people, filters.q),
                _targets_user_among(
                    select(USERS.c.id).where(search.any_contains(people, filters.q))
                ),
            )
        )
    if filters.actor_id:
        stmt = stmt.where(_a.actor_id == filters.actor_id)
    if filters.action:
        stmt = stmt.where(_a.action == filters.action)
    if filters.outcome == "failure":
        stmt = stmt.where(_a.action.in_(labels.FAILURE_ACTIONS))
    elif filters.outcome == "success":
        stmt = stmt.where(_a.action.not_in(labels.FAILURE_ACTIONS))
    if filters.from_date:
        stmt = stmt.where(_a.created_at >= dates.local_day_start(filters.from_date))
    if filters.to_date:
        end = dates.local_day_start(filters.to_date + timedelta(days=1))
        stmt = stmt.where(_a.created_at < end)
    return stmt


def check_filters(filters: AuditFilters) -> AuditFilters:
    """The filters with their days bounded (422 ``invalid_date`` / ``invalid_range``)."""
    dates.bounded_day(filters.from_date, "desde")
    dates.bounded_day(filters.to_date, "hasta")
    if filters.from_date and filters.to_date and filters.to_date < filters.from_date:
        raise Unprocessable(
            "La fecha «hasta» es anterior a la fecha «desde».", code="invalid_range"
        )
    return filters


def _facts(item: Item) -> labels.EventFacts:
    details = item["details"] if isinstance(item["details"], dict) else {}
    return labels.EventFacts(item["action"], item["target_type"], item["target_id"], details)


def _uuids(texts: Iterable[str]) -> list[uuid.UUID]:
    found = []
    for text in texts:
        try:
            found.append(uuid.UUID(text))
        except ValueError:
            continue
    return found


async def _names(session: AsyncSession, items: Sequence[Item]) -> labels.Names:
    """Everyone and every conversation the page's labels name, in a few queries."""
    conversation_ids = {
        item["target_id"] for item in items if item["target_type"] == "conversation"
    }
    conversations: dict[str, tuple[str, str]] = {}
    for batch in _batches(_uuids(conversation_ids)):
        rows = await session.execute(
            select(CONVERSATIONS.c.id, CONVERSATIONS.c.title, CONVERSATIONS.c.user_id).where(
                CONVERSATIONS.c.id.in_(batch)
            )
        )
        conversations.update({str(cid): (title, str(owner)) for cid, title, owner in rows})
    user_ids = {owner for _, owner in conversations.values()}
    for item in items:
        user_ids |= labels.user_ids_named(_facts(item), item["actor_id"])
    people: dict[str, labels.Person] = {}
    for batch in _batches(_uuids(user_ids)):
        rows = await session.execute(
            select(USERS.c.id, USERS.c.full_name, USERS.c.email).where(USERS.c.id.in_(batch))
        )
        people.update({str(uid): labels.Person(name, email) for uid, name, email in rows})
    return labels.Names(people=people, conversations=conversations)


def _batches(values: list[uuid.UUID]) -> Iterable[list[uuid.UUID]]:
    for start in range(0, len(values), _NAME_BATCH):
        yield values[start : start + _NAME_BATCH]


def _labelled(item: Item, names: labels.Names) -> AuditEventOut:
    facts = _facts(item)
    target_name = target_email = None
    person = names.people.get(facts.target_id or "") if facts.target_type == "user" else None
    if person is not None:
        target_name, target_email = person.full_name, person.email
    elif facts.target_type == "conversation":
        target_name = names.conversation(facts.target_id, facts.details)[0]
    return AuditEventOut(
        **item,
        label=labels.describe(facts, names),
        action_name=labels.ACTION_NAMES.get(facts.action, facts.action),
        outcome=labels.outcome(facts.action),
        target_name=target_name,
        target_email=target_email,
    )


async def list_audit(
    session: AsyncSession,
    viewer: User,
    page: PageRequest,
    filters: AuditFilters,
    *,
    request: Request | None,
) -> tuple[list[AuditEventOut], str | None]:
    """One page of the trail in scope, newest first, each event labelled in Spanish.

    Browsing is audited once per viewer and filters per ten minutes (``audit.listed``).
    """
    binding = filters.binding()
    items, next_cursor = await fetch_page(
        session,
        _filtered(viewer, filters),
        (_a.created_at, _a.id),
        page,
        AUDIT_CURSOR,
        descending=True,
        viewer_id=viewer.id,
        context=binding,
    )
    if page.cursor is None:
        await audit_service.record_once(
            session, "audit.listed", actor_id=viewer.id, request=request, filters=binding
        )
    names = await _names(session, items)
    return [_labelled(item, names) for item in items], next_cursor


async def export_audit(
    session: AsyncSession, viewer: User, filters: AuditFilters, *, request: Request | None
) -> list[AuditEventOut]:
    """Every event in scope matching ``filters``, newest first, labelled; the export is audited.

    More than ``csv_export.MAX_ROWS`` events is a 422 ``export_too_large``.
    """
    stmt = _filtered(viewer, filters).order_by(_a.created_at.desc(), _a.id.desc())
    most = csv_export.MAX_ROWS
    rows = [dict(row) for row in (await session.execute(stmt.limit(most + 1))).mappings()]
    if len(rows) > most:
        raise csv_export.too_large("eventos", "Acote el rango de fechas o agregue filtros.")
    names = await _names(session, rows)
    audit_service.record(
        session,
        "audit.exported",
        actor_id=viewer.id,
        request=request,
        details={"filters": filters.binding(), "rows": len(rows)},
    )
    return [_labelled(row, names) for row in rows]
