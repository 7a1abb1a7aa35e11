"""Dependencies of the admin panel: load a conversation and check scope in one step."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from energyapp.admin import service
from energyapp.auth.deps import AdminOrSupervisor
from energyapp.conversations.models import Conversation
from energyapp.db import SessionDep


async def scoped_conversation(
    conversation_id: uuid.UUID, viewer: AdminOrSupervisor, session: SessionDep
) -> Conversation:
    """The conversation if its owner is in the viewer's scope, else 404."""
    return (await service.get_conversation_in_scope(session, viewer, conversation_id))[0]


ScopedConversation = Annotated[Conversation, Depends(scoped_conversation)]
