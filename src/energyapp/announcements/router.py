"""HTTP routes of the announcements everyone signed in reads and closes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from energyapp.announcements import service
from energyapp.announcements.schemas import AnnouncementOut
from energyapp.auth.deps import CurrentUser
from energyapp.db import SessionDep

router = APIRouter(prefix="/announcements", tags=["announcements"])


@router.get("", response_model=list[AnnouncementOut])
async def list_announcements(user: CurrentUser, session: SessionDep) -> list[AnnouncementOut]:
    """The active announcements for the caller's role that they have not closed, warnings
    first, then the newest."""
    rows = await service.visible_to(session, user)
    return [AnnouncementOut.model_validate(row) for row in rows]


@router.post("/{announcement_id}/dismiss", status_code=status.HTTP_204_NO_CONTENT)
async def dismiss_announcement(
    announcement_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Response:
    """Close an announcement on all the caller's devices (again: nothing changes); 404
    ``announcement_not_found`` for one they cannot see."""
    await service.dismiss(session, user, announcement_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
