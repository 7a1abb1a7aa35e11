"""The usage report as a CSV download (admins: everyone; supervisors: their scope)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from energyapp.admin import csv_export
from energyapp.admin import usage as usage_service
from energyapp.audit import service as audit_service
from energyapp.auth.deps import AdminOrSupervisor, require_roles
from energyapp.core import dates
from energyapp.core.deps import RateLimiterDep
from energyapp.core.head import is_head
from energyapp.core.roles import Role
from energyapp.db import SessionDep

router = APIRouter(
    prefix="/admin/usage",
    tags=["admin"],
    dependencies=[Depends(require_roles(Role.ADMIN, Role.SUPERVISOR))],
)

USAGE_FILE = "uso"
USAGE_HEADER = (
    "Día",
    "Nombre",
    "Correo",
    "Respuestas",
    "Mensajes",
    "Tokens de entrada",
    "Tokens generados",
    "Tokens en total",
)


@router.get("/export.csv", response_class=Response)
async def export_usage(
    viewer: AdminOrSupervisor,
    session: SessionDep,
    request: Request,
    limiter: RateLimiterDep,
    from_: dates.FromDay = None,
    to: dates.ToDay = None,
) -> Response:
    """Tokens and answers per user and Santiago day (UTF-8 with BOM, days dd-mm-aaaa);
    the download is audited. A HEAD gets the headers (or the 429 or 422 a GET would get for
    its range): nothing built, counted or audited."""
    head = is_head(request)
    await csv_export.check_rate(limiter, viewer.id, count=not head)
    from_date, to_date = dates.day_range(from_, to)
    span = usage_service.period(viewer, from_date, to_date)
    if head:
        return csv_export.head_response(USAGE_FILE)
    items = await usage_service.usage_by_user_and_day(session, span)
    audit_service.record(
        session,
        "usage.exported",
        actor_id=viewer.id,
        request=request,
        details={"from": from_date.isoformat(), "to": to_date.isoformat(), "rows": len(items)},
    )
    rows = (
        (
            i.day.strftime(dates.DAY_FORMAT) if i.day else "",
            i.full_name,
            i.email,
            i.answers,
            i.messages,
            i.prompt_tokens,
            i.completion_tokens,
            i.prompt_tokens + i.completion_tokens,
        )
        for i in items
    )
    return csv_export.response(USAGE_FILE, USAGE_HEADER, rows)
