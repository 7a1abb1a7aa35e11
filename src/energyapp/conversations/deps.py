"""Dependencies that load and authorize a conversation in one step."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from energyapp.auth.deps import CurrentUser
from energyapp.conversations import service
from energyapp.conversations.models import Conversation
from energyapp.db import SessionDep


async def owned_conversation(
    conversation_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Conversation:
    return await service.get_owned_conversation(session, user, conversation_id)


OwnedConversation = Annotated[Conversation, Depends(owned_conversation)]
