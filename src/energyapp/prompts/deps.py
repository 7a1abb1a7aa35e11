"""Dependencies that load a saved prompt and check who may change it in one step."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from energyapp.auth.deps import AdminUser, CurrentUser
from energyapp.db import SessionDep
from energyapp.prompts import service
from energyapp.prompts.models import SavedPrompt


async def owned_prompt(prompt_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> SavedPrompt:
    """The caller's own prompt; 404 when missing, published or someone else's."""
    return await service.get_prompt(session, user.id, prompt_id)


async def published_prompt(
    prompt_id: uuid.UUID, admin: AdminUser, session: SessionDep
) -> SavedPrompt:
    """A published prompt (admins only: 403 for everyone else); 404 when missing."""
    return await service.get_prompt(session, None, prompt_id)


OwnedPrompt = Annotated[SavedPrompt, Depends(owned_prompt)]
PublishedPrompt = Annotated[SavedPrompt, Depends(published_prompt)]
