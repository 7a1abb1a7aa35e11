"""Dependencies that load a folder and check it is the caller's in one step."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from energyapp.auth.deps import CurrentUser
from energyapp.db import SessionDep
from energyapp.folders import service
from energyapp.folders.models import Folder


async def owned_folder(folder_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Folder:
    """The caller's folder; 404 ``folder_not_found`` when missing or someone else's."""
    return await service.get_folder(session, user.id, folder_id)


OwnedFolder = Annotated[Folder, Depends(owned_folder)]
