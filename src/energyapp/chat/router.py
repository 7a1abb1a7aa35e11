"""HTTP routes of the chat domain: the streaming endpoint, re-attach, stop and the models."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from sse_starlette import EventSourceResponse

from energyapp.auth.deps import CurrentUser
from energyapp.auth.models import User
from energyapp.chat import service as chat_service
from energyapp.chat import sse
from energyapp.chat.deps import ChatEngineDep
from energyapp.chat.schemas import ChatRequest, ModelOut, ModelsOut, StopOut
from energyapp.config import Settings
from energyapp.core.deps import RateLimiterDep, SettingsDep
from energyapp.core.ratelimit import RateLimiter
from energyapp.db import SessionDep
from energyapp.errors import TooManyRequests

router = APIRouter(tags=["chat"])

_SSE_DOC = {
    "content": {"text/event-stream": {}},
    "description": "Eventos: meta, queue, token, title, done, error.",
}


async def _check_rate(limiter: RateLimiter, user: User, settings: Settings) -> None:
    state = await limiter.hit(
        "chat", str(user.id), limit=settings.chat_rate_limit_per_minute, window_seconds=60
    )
    if not state.allowed:
        raise TooManyRequests(
            f"Envió demasiados mensajes seguidos. Espere {state.retry_after} s e intente de nuevo.",
            code="rate_limited",
            retry_after=state.retry_after,
        )


@router.post("/chat", response_class=EventSourceResponse, responses={200: _SSE_DOC})
async def chat(
    body: ChatRequest,
    user: CurrentUser,
    session: SessionDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
    engine: ChatEngineDep,
) -> EventSourceResponse:
    """Send a message and stream the answer (Server-Sent Events). The answer goes on and is
    saved even if the client disconnects; re-attach with ``GET /chat/{id}/stream``.

    ``parent_message_id`` places the message in the conversation's tree (an edit is a new
    question under the same answer as the one edited), ``regenerate`` asks again the question
    it names; without them the message continues the current branch."""
    message = "" if body.regenerate else chat_service.clean_message(body.message, settings)
    await _check_rate(limiter, user, settings)
    model = await engine.catalog.resolve(body.model)
    turn = chat_service.Turn(body.parent_message_id, body.regenerate)
    answer = await engine.submit(session, user, body.conversation_id, message, model, turn)
    first = sse.meta_event(str(answer.id), str(answer.conversation_id), str(answer.user_message_id))
    return sse.sse_response(sse.follow(answer, first))


@router.get(
    "/chat/{assistant_message_id}/stream",
    response_class=EventSourceResponse,
    responses={200: _SSE_DOC},
)
async def reattach(
    assistant_message_id: uuid.UUID, user: CurrentUser, session: SessionDep, engine: ChatEngineDep
) -> EventSourceResponse:
    """Follow an answer again (another tab, a reload): its text so far, then live."""
    saved = await chat_service.owned_answer(session, user, assistant_message_id)
    first = sse.meta_event(str(saved.id), str(saved.conversation_id), str(saved.parent_id))
    live = engine.live.get(saved.id)
    if live is not None:
        return sse.sse_response(sse.follow(live, first))
    done = {
        "assistant_message_id": str(saved.id),
        "status": saved.status,
        "prompt_tokens": saved.prompt_tokens,
        "completion_tokens": saved.completion_tokens,
        "duration_ms": saved.duration_ms,
    }
    return sse.sse_response(sse.finished_stream(first, saved.content, done))


@router.post("/chat/{assistant_message_id}/stop", response_model=StopOut)
async def stop(
    assistant_message_id: uuid.UUID, user: CurrentUser, session: SessionDep, engine: ChatEngineDep
) -> StopOut:
    """Stop an answer being generated; the text so far is kept with status ``stopped``."""
    saved = await chat_service.owned_answer(session, user, assistant_message_id)
    live = engine.live.get(saved.id)
    if live is None or live.finished:
        return StopOut(assistant_message_id=saved.id, status=saved.status)
    await engine.stop(live)  # returns once the end is saved, in a transaction of its own
    return StopOut(assistant_message_id=saved.id, status=live.status or saved.status)


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
