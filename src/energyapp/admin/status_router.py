"""``GET /admin/status`` and ``POST /admin/status/work/{id}/stop``: the admins' "Estado" tab
(supervisors and workers: 403)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from energyapp.admin import status as status_service
from energyapp.admin import status_stop
from energyapp.admin.status_schemas import StatusOut, WorkStopOut
from energyapp.auth.deps import AdminUser, require_roles
from energyapp.core.roles import Role
from energyapp.db import SessionDep

router = APIRouter(
    prefix="/admin", tags=["admin"], dependencies=[Depends(require_roles(Role.ADMIN))]
)


@router.get("/status", response_model=StatusOut)
async def server_status(admin: AdminUser, session: SessionDep, request: Request) -> StatusOut:
    """What the server is doing now: the model servers, the answers being written and waiting
    in every app process (who and since when, never what), today's answers, the database and
    Redis."""
    return await status_service.status(request.app, session, admin)


@router.post("/status/work/{work_id}/stop", response_model=WorkStopOut)
async def stop_work(
    work_id: Annotated[str, Path(max_length=64)],
    admin: AdminUser,
    session: SessionDep,
    request: Request,
) -> WorkStopOut:
    """Stop an answer written or waiting (``id`` of ``GET /admin/status``'s ``queue``): it ends
    ``stopped`` with ``stopped_by_admin``, its slot or place given to the next; 404
    ``work_not_found`` once it ended; 409 ``work_not_stoppable`` for a title. Audited."""
    return await status_stop.stop_work(request.app, session, admin, work_id, request)
