"""HTTP routes of the chat domain: the streaming endpoint, re-attach, stop and the models."""

from __future__ import annotations

import uuid
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Request
from pydantic import AfterValidator
from sse_starlette import EventSourceResponse

from energyapp.auth.deps import CurrentSessionId, CurrentUser
from energyapp.chat import continuation, limits, sse
from energyapp.chat import service as chat_service
from energyapp.chat.deps import ChatEngineDep
from energyapp.chat.revocation import until_session_ends
from energyapp.chat.schemas import ChatRequest, MessageLimitOut, ModelOut, ModelsOut, StopOut
from energyapp.conversations import service as conversations_service
from energyapp.core.deps import RateLimiterDep, SettingsDep
from energyapp.core.head import is_head
from energyapp.db import SessionDep

router = APIRouter(tags=["chat"])

STREAM_ID = r"^\d{1,20}-\d{1,20}$"  # a Redis Stream entry id
_STREAM_ID_PART_MAX = 2**64 - 1  # each part of one; Redis refuses a read after a larger one


def _stream_id(value: str | None) -> str | None:
    if value is not None and any(int(part) > _STREAM_ID_PART_MAX for part in value.split("-")):
        raise ValueError("no es válido")
    return value


_SSE_DOC = {
    "content": {"text/event-stream": {}},
    "description": "Eventos: meta, queue, token, title, done, error.",
}


@router.post("/chat", response_class=EventSourceResponse, responses={200: _SSE_DOC})
async def chat(
    body: ChatRequest,
    user: CurrentUser,
    session_id: CurrentSessionId,
    session: SessionDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
    engine: ChatEngineDep,
) -> EventSourceResponse:
    """Send a message and stream the answer (Server-Sent Events). The answer goes on and is
    saved even if the client disconnects; re-attach with ``GET /chat/{id}/stream``. The stream
    ends (``error`` ``session_ended``) when the session that opened it does.

    ``parent_message_id`` places the message in the conversation's tree (an edit is a new
    question under the same answer as the one edited), ``regenerate`` asks again the question
    it names; without them the message continues the current branch. ``continue_message_id``
    writes on an answer the length cap cut, in the same message (chat/continuation.py)."""
    if body.continue_message_id is not None:
        answer = await continuation.submit(engine, session, user, limiter, body)
    else:
        message = "" if body.regenerate else chat_service.clean_message(body.message, settings)
        await chat_service.check_rate(limiter, user, settings)
        model = await engine.catalog.resolve(body.model)
        turn = chat_service.Turn(body.parent_message_id, body.regenerate, body.temporary)
        answer = await engine.submit(session, user, body.conversation_id, message, model, turn)
    first = sse.meta_event(str(answer.id), str(answer.conversation_id), str(answer.user_message_id))
    closing = anyio.Event()
    events = await engine.follow(answer.id, first, closing=closing) or sse.follow(answer, first)
    guarded = until_session_ends(engine, events, user.id, session_id)
    return sse.sse_response(guarded, closing)


@router.get(
    "/chat/{assistant_message_id}/stream",
    response_class=EventSourceResponse,
    responses={200: _SSE_DOC},
)
async def reattach(
    assistant_message_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    session_id: CurrentSessionId,
    session: SessionDep,
    engine: ChatEngineDep,
    settings: SettingsDep,
    last_event_id: Annotated[
        str | None, Header(max_length=64, pattern=STREAM_ID), AfterValidator(_stream_id)
    ] = None,
) -> EventSourceResponse:
    """Follow an answer again (another tab, a reload, another app process): its text so far,
    then live. With ``Last-Event-ID`` (the ``id:`` of the last event received, sent when the
    shared broker is on), only what came after it. A person follows at most
    ``max_streams_per_user`` live answers at once (429 ``too_many_streams``). A HEAD gets the
    stream's headers once the answer is found, without following it (core/head.py)."""
    saved = await conversations_service.get_owned_answer(
        session, user, assistant_message_id, settings
    )
    if is_head(request):  # the stream's headers after the same checks, nothing followed
        return sse.sse_response(sse.no_events())
    first = sse.meta_event(str(saved.id), str(saved.conversation_id), str(saved.parent_id))
    closing = anyio.Event()
    running = saved.status == "streaming"
    live = await engine.follow(saved.id, first, last_event_id, closing, running)
    if live is not None:
        watch = await engine.broker.watchers.open(user.id)
        guarded = until_session_ends(engine, live, user.id, session_id)
        return sse.sse_response(guarded, closing, watch)
    done = {
        "assistant_message_id": str(saved.id),
        "status": saved.status,
        "prompt_tokens": saved.prompt_tokens,
        "completion_tokens": saved.completion_tokens,
        "duration_ms": saved.duration_ms,
        "first_token_ms": saved.first_token_ms,
        "finish_reason": saved.finish_reason,
    }
    return sse.sse_response(sse.finished_stream(first, saved.content, done))


@router.post("/chat/{assistant_message_id}/stop", response_model=StopOut)
async def stop(
    assistant_message_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    engine: ChatEngineDep,
    settings: SettingsDep,
) -> StopOut:
    """Stop an answer being generated; the text so far is kept with status ``stopped``."""
    saved = await conversations_service.get_owned_answer(
        session, user, assistant_message_id, settings
    )
    if saved.status != "streaming":
        return StopOut(assistant_message_id=saved.id, status=saved.status)
    # Returns once the end is saved (by whichever process generates the answer).
    status = await engine.stop_answer(saved.id)
    return StopOut(assistant_message_id=saved.id, status=status or saved.status)


@router.get("/chat/limit", response_model=MessageLimitOut)
async def message_limit(
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    conversation_id: uuid.UUID | None = None,
) -> MessageLimitOut:
    """How long a question may be in ``conversation_id`` (404 when not the caller's), or in a
    new conversation: ``max_message_chars`` or less, when the conversation's custom instructions
    leave less room in ``num_ctx`` (chat/limits.py)."""
    limit = await limits.limit_for(session, settings, user, conversation_id)
    return MessageLimitOut(max_message_chars=limit)


@router.get("/models", response_model=ModelsOut)
async def models(_user: CurrentUser, settings: SettingsDep, engine: ChatEngineDep) -> ModelsOut:
    """The models the Ollama servers offer; ``default`` marks the one used when none is given."""
    available = await engine.catalog.available()
    return ModelsOut(
        default_model=settings.ollama_model,
        models=[
            ModelOut(
                name=m.name,
                default=m.name == settings.ollama_model,
                size=m.size,
                family=m.family,
                parameter_size=m.parameter_size,
                quantization_level=m.quantization_level,
                stand_in=m.stand_in,
            )
            for m in available
        ],
    )
