"""``GET /admin/status``: the admins' "Estado" tab (supervisors and workers: 403)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from energyapp.admin import status as status_service
from energyapp.admin.status_schemas import StatusOut
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
