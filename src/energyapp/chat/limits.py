"""How long a question may be: ``max_message_chars``, or what ``num_ctx`` holds beside the
conversation's own system message (the global prompt and its copy of the custom instructions)
and the answer's room (:func:`energyapp.core.tokens.message_limit`).

``/config/public`` can only give the limit without instructions; the composer asks
``GET /chat/limit`` for the conversation it shows (or the one it would create), so a question
that fits the counter is not refused with a 413 after it is sent (:func:`check_fits`)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth.models import User
from energyapp.chat import service as chat_service
from energyapp.chat.prompt import system_content
from energyapp.config import Settings
from energyapp.core.tokens import message_limit
from energyapp.instructions import service as instructions_service
from energyapp.instructions.service import Instructions


def with_instructions(settings: Settings, instructions: Instructions | None) -> int:
    """The limit beside ``instructions`` (None: the global system prompt alone)."""
    if instructions is None:
        return message_limit(settings)
    return message_limit(settings, system_content(settings, instructions))


async def limit_for(
    session: AsyncSession, settings: Settings, user: User, conversation_id: uuid.UUID | None
) -> int:
    """The limit of a question in the caller's conversation (404 when not theirs), or in the
    conversation they would create now (their instructions in force)."""
    conversation = await chat_service.conversation_for(session, user, conversation_id, settings)
    if conversation is not None:
        return with_instructions(settings, instructions_service.of_conversation(conversation))
    return with_instructions(settings, await instructions_service.in_force(session, user))


def check_fits(settings: Settings, started: chat_service.StartedChat) -> None:
    """413 (the request's transaction rolled back) when the question does not fit ``num_ctx``
    beside the conversation's copy of the custom instructions, unknown to
    :func:`chat_service.clean_message`."""
    if started.instructions is None:
        return
    limit = with_instructions(settings, started.instructions)
    if len(started.message) > limit:
        raise chat_service.too_long(
            len(started.message), limit, " con sus instrucciones personalizadas"
        )
