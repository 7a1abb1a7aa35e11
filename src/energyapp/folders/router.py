"""HTTP routes of the caller's folders ("Carpetas"). Moving a conversation is
``PATCH /conversations/{id}`` with ``folder_id``; one folder's list is
``GET /conversations?folder_id=``."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from energyapp.auth.deps import CurrentUser
from energyapp.db import SessionDep
from energyapp.folders import service
from energyapp.folders.deps import OwnedFolder
from energyapp.folders.schemas import FolderOut, FolderWrite

router = APIRouter(prefix="/folders", tags=["folders"])


@router.get("", response_model=list[FolderOut])
async def list_folders(user: CurrentUser, session: SessionDep) -> list[service.FolderView]:
    """The caller's folders by name, each with its conversations not archived."""
    return await service.folders_of(session, user)


@router.post("", response_model=FolderOut, status_code=status.HTTP_201_CREATED)
async def create_folder(body: FolderWrite, user: CurrentUser, session: SessionDep) -> FolderOut:
    """A new folder (at most 50: 409 ``folder_limit``; 409 ``folder_name_taken``)."""
    folder = await service.create(session, user, body.name)
    return FolderOut.model_validate(await service.view_of(session, user, folder))


@router.patch("/{folder_id}", response_model=FolderOut)
async def rename_folder(
    body: FolderWrite, folder: OwnedFolder, user: CurrentUser, session: SessionDep
) -> FolderOut:
    """Rename one's folder (404 ``folder_not_found`` for another person's)."""
    await service.rename(session, user, folder, body.name)
    return FolderOut.model_validate(await service.view_of(session, user, folder))


@router.delete("/{folder_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_folder(folder: OwnedFolder, session: SessionDep) -> Response:
    """Delete one's folder; its conversations stay, with no folder."""
    await service.delete(session, folder)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
