"""HTTP routes of the caller's ratings of the answers in their own conversations."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from energyapp.auth.deps import CurrentUser
from energyapp.conversations.deps import OwnedConversation
from energyapp.db import SessionDep
from energyapp.feedback import service
from energyapp.feedback.schemas import FeedbackIn, FeedbackOut

router = APIRouter(prefix="/conversations", tags=["conversations"])


@router.put("/{conversation_id}/messages/{message_id}/feedback")
async def rate_answer(
    message_id: uuid.UUID,
    body: FeedbackIn,
    conversation: OwnedConversation,
    user: CurrentUser,
    session: SessionDep,
) -> FeedbackOut:
    """Rate a finished answer of one's own conversation (👍 ``up`` / 👎 ``down``, with an
    optional comment the administrators read), replacing any earlier rating. 404 when the
    conversation or message is missing or someone else's; 409 ``not_an_answer`` for a
    question, ``answer_not_complete`` for an answer not finished. Without ``comment``, one's
    comment stays if the rating does not change."""
    saved = await service.rate_answer(
        session,
        user,
        conversation,
        message_id,
        rating=body.rating,
        comment=body.comment,
        keep_comment="comment" not in body.model_fields_set,
    )
    return FeedbackOut(rating=body.rating, comment=saved.comment, updated_at=saved.updated_at)


@router.delete(
    "/{conversation_id}/messages/{message_id}/feedback", status_code=status.HTTP_204_NO_CONTENT
)
async def remove_rating(
    message_id: uuid.UUID, conversation: OwnedConversation, user: CurrentUser, session: SessionDep
) -> Response:
    """Remove one's rating of an answer (none: nothing changes)."""
    await service.remove_rating(session, user, conversation, message_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
