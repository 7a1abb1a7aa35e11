"""HTTP routes of the audit trail (admins see everything, supervisors their scope)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from energyapp.admin import audit_views, csv_export
from energyapp.admin.audit_schemas import AuditAction, AuditEventOut, AuditFilters, Outcome
from energyapp.audit import labels
from energyapp.auth.deps import AdminOrSupervisor, require_roles
from energyapp.core import dates, search
from energyapp.core.deps import RateLimiterDep, SettingsDep
from energyapp.core.head import is_head
from energyapp.core.pagination import Page, PageDep
from energyapp.core.roles import Role
from energyapp.db import SessionDep

router = APIRouter(
    prefix="/admin/audit",
    tags=["admin"],
    dependencies=[Depends(require_roles(Role.ADMIN, Role.SUPERVISOR))],
)

_OUTCOME_NAMES = {"success": "Exitosa", "failure": "Fallida"}
AUDIT_FILE = "auditoria"


def audit_filters(
    q: Annotated[
        str | None,
        Query(max_length=200, description="Nombre o correo de quien actúa o del afectado."),
    ] = None,
    actor_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=64, description="Código de la acción.")] = None,
    from_: dates.FromDay = None,
    to: dates.ToDay = None,
    outcome: Outcome | None = None,
) -> AuditFilters:
    return audit_views.check_filters(
        AuditFilters(
            q=(q or "").strip() or None,
            actor_id=actor_id,
            action=action or None,
            from_date=from_,
            to_date=to,
            outcome=outcome,
        )
    )


AuditFiltersDep = Annotated[AuditFilters, Depends(audit_filters)]


@router.get("", response_model=Page[AuditEventOut])
async def list_audit(
    viewer: AdminOrSupervisor,
    session: SessionDep,
    page: PageDep,
    filters: AuditFiltersDep,
    request: Request,
    limiter: RateLimiterDep,
    settings: SettingsDep,
) -> dict[str, list[AuditEventOut] | str | None]:
    """The audit trail in scope, newest first, each event with its Spanish label; a search
    (``q``) counts against ``search_rate_limit_per_minute``."""
    await search.check_rate(limiter, settings, viewer.id, filters.q)
    items, next_cursor = await audit_views.list_audit(
        session, viewer, page, filters, request=request
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get("/actions", response_model=list[AuditAction])
async def list_actions() -> list[AuditAction]:
    """The actions the trail can be filtered by, with their Spanish names."""
    return [AuditAction(code=code, name=name) for code, name in labels.ACTION_NAMES.items()]


@router.get("/export.csv", response_class=Response)
async def export_audit(
    viewer: AdminOrSupervisor,
    session: SessionDep,
    filters: AuditFiltersDep,
    request: Request,
    limiter: RateLimiterDep,
    settings: SettingsDep,
) -> Response:
    """The filtered trail as CSV (UTF-8 with BOM, dates dd-mm-aaaa HH:MM in Santiago); a
    search (``q``) counts against ``search_rate_limit_per_minute`` too. A HEAD gets the
    headers (or the 429 a GET would get): nothing built, counted or audited."""
    head = is_head(request)
    await csv_export.check_rate(limiter, viewer.id, count=not head)
    await search.check_rate(limiter, settings, viewer.id, filters.q, count=not head)
    if head:
        return csv_export.head_response(AUDIT_FILE)
    events = await audit_views.export_audit(session, viewer, filters, request=request)
    header = (
        "Fecha",
        "Persona",
        "Correo",
        "Acción",
        "Resultado",
        "Objeto",
        "Correo del objeto",
        "IP",
        "Código",
        "Id del evento",
        "Id del objeto",
    )
    rows = (
        (
            dates.local_moment(e.created_at),
            e.actor_name,
            e.actor_email,
            e.label,
            _OUTCOME_NAMES[e.outcome],
            e.target_name,
            e.target_email,
            e.ip,
            e.action,
            e.id,
            e.target_id,
        )
        for e in events
    )
    return csv_export.response(AUDIT_FILE, header, rows)
