"""Dependencies that load and authorize a conversation in one step."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from energyapp.auth.deps import CurrentUser
from energyapp.conversations import service
from energyapp.conversations.models import Conversation
from energyapp.core.deps import SettingsDep
from energyapp.db import SessionDep


async def owned_conversation(
    conversation_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> Conversation:
    return await service.get_owned_conversation(session, user, conversation_id, settings)


OwnedConversation = Annotated[Conversation, Depends(owned_conversation)]
