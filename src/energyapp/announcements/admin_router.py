"""The administrators' announcements (the panel's "Avisos generales" tab): list, create, edit, end,
delete. Supervisors and workers get 403 on every route here; every change is audited."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from energyapp.announcements import service
from energyapp.announcements.models import Announcement
from energyapp.announcements.schemas import (
    AdminAnnouncementOut,
    AnnouncementCreate,
    AnnouncementUpdate,
)
from energyapp.auth.deps import AdminUser, require_roles
from energyapp.core.roles import Role
from energyapp.db import SessionDep, utcnow

router = APIRouter(
    prefix="/admin/announcements",
    tags=["admin"],
    dependencies=[Depends(require_roles(Role.ADMIN))],
)


async def locked_announcement(
    announcement_id: uuid.UUID, admin: AdminUser, session: SessionDep
) -> Announcement:
    """The announcement, locked for the change; 404 ``announcement_not_found``."""
    return await service.get_for_update(session, announcement_id)


LockedAnnouncement = Annotated[Announcement, Depends(locked_announcement)]


def _out(row: Announcement) -> AdminAnnouncementOut:
    return AdminAnnouncementOut(
        id=row.id, body=row.body, level=row.level, audience=row.audience,
        starts_at=row.starts_at, ends_at=row.ends_at, state=service.state_of(row, utcnow()),
        created_by=row.created_by, created_at=row.created_at, updated_at=row.updated_at,
    )  # fmt: skip


@router.get("", response_model=list[AdminAnnouncementOut])
async def list_announcements(admin: AdminUser, session: SessionDep) -> list[AdminAnnouncementOut]:
    """Every announcement, newest first, with its state (programado, activo, terminado)."""
    return [_out(row) for row in await service.list_all(session)]


@router.post("", response_model=AdminAnnouncementOut, status_code=status.HTTP_201_CREATED)
async def create_announcement(
    body: AnnouncementCreate, admin: AdminUser, session: SessionDep, request: Request
) -> AdminAnnouncementOut:
    """A new announcement; 409 ``too_many_announcements`` past the limit of open ones."""
    row = await service.create(
        session, admin.id, body=body.body, level=body.level, audience=body.audience,
        starts_at=body.starts_at, ends_at=body.ends_at, request=request,
    )  # fmt: skip
    return _out(row)


@router.patch("/{announcement_id}", response_model=AdminAnnouncementOut)
async def update_announcement(
    body: AnnouncementUpdate,
    announcement: LockedAnnouncement,
    admin: AdminUser,
    session: SessionDep,
    request: Request,
) -> AdminAnnouncementOut:
    """Change the fields sent; a new text or level shows it again to those who closed it."""
    changes = service.Changes(sent=frozenset(body.model_fields_set), **body.model_dump())
    row = await service.update(session, admin.id, announcement, changes, request=request)
    return _out(row)


@router.post("/{announcement_id}/end", response_model=AdminAnnouncementOut)
async def end_announcement(
    announcement: LockedAnnouncement, admin: AdminUser, session: SessionDep, request: Request
) -> AdminAnnouncementOut:
    """ "Terminar ahora": it stops showing at once (one already ended stays as it is)."""
    return _out(await service.end_now(session, admin.id, announcement, request=request))


@router.delete("/{announcement_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_announcement(
    announcement: LockedAnnouncement, admin: AdminUser, session: SessionDep, request: Request
) -> Response:
    """Delete it (its dismissals with it); the audit trail keeps the start of its text."""
    await service.remove(session, admin.id, announcement, request=request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
