"""HTTP routes of the chat domain: the streaming endpoint, re-attach, stop and the models."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import StreamingResponse

from energyapp.auth.deps import (
    CurrentUser,
    RateLimiterDep,
    SettingsDep,
    bearer,
    get_app_settings,
    get_rate_limiter,
)
from energyapp.auth.models import Caller
from energyapp.chat import service as chat_service
from energyapp.chat import sse
from energyapp.chat.deps import ChatCallerDep, ChatEngineDep, get_chat_caller, get_chat_engine
from energyapp.chat.generation import ChatEngine
from energyapp.chat.schemas import ChatRequest, ModelOut, ModelsOut, StopOut
from energyapp.config import Settings
from energyapp.conversations import service as conversations_service
from energyapp.conversations.service import ConversationRef
from energyapp.core.ratelimit import RateLimiter
from energyapp.db import SessionDep, utcnow
from energyapp.errors import AppError, PayloadTooLarge, TooManyRequests, Unprocessable

router = APIRouter(tags=["chat"])

_SSE_DOC = {
    "content": {"text/event-stream": {}},
    "description": "Eventos: meta, queue, token, title, done, error.",
}


def _clean_message(raw: str, settings: Settings) -> str:
    message = raw.strip()
    if not message:
        raise Unprocessable("El mensaje está vacío.", code="message_empty")
    if len(message) > settings.max_message_chars:
        raise PayloadTooLarge(
            f"El mensaje es demasiado largo ({len(message)} caracteres; el máximo es "
            f"{settings.max_message_chars}). Divídalo en partes.",
            code="message_too_long",
        )
    return message


async def _check_rate(limiter: RateLimiter, user: Caller, settings: Settings) -> None:
    state = await limiter.hit(
        "chat", str(user.id), limit=settings.chat_rate_limit_per_minute, window_seconds=60
    )
    if not state.allowed:
        raise TooManyRequests(
            f"Envió demasiados mensajes seguidos. Espere {state.retry_after} s e intente de nuevo.",
            code="rate_limited",
            retry_after=state.retry_after,
        )


async def _check_quota(conn: AsyncConnection, user: Caller, settings: Settings) -> None:
    quota = settings.daily_token_quota.get(user.role)  # type: ignore[call-overload]
    if quota is None:
        return
    start, reset = chat_service.quota_day_bounds()
    if await chat_service.tokens_used_since(conn, user.id, start) < quota:
        return
    seconds = max(1, int((reset - utcnow()).total_seconds()))
    raise AppError(
        f"Alcanzó su cuota diaria de {quota:,} tokens. Se renueva el "
        f"{_local(reset)} (hora de Chile).".replace(",", "."),
        code="quota_exceeded",
        status_code=429,
        headers={"Retry-After": str(seconds), "X-Quota-Reset": reset.isoformat()},
    )


def _local(moment: datetime) -> str:
    return moment.strftime("%d-%m-%Y a las %H:%M")


async def chat(
    caller: ChatCallerDep,
    body: ChatRequest,
    limiter: RateLimiterDep,
    settings: SettingsDep,
    engine: ChatEngineDep,
) -> StreamingResponse:
    """Send a message and stream the answer (Server-Sent Events). The answer goes on and is
    saved even if the client disconnects; re-attach with ``GET /chat/{id}/stream``."""
    requested_at = time.perf_counter()
    user, conn = caller.user, caller.conn
    message = _clean_message(body.message, settings)
    await _check_rate(limiter, user, settings)
    conversation = None
    if body.conversation_id is not None:
        conversation = await conversations_service.owned_conversation_ref(
            conn, user.id, body.conversation_id
        )
    model = engine.known_model(body.model)
    if model is not None:
        return await _start(engine, conn, user, conversation, message, model, requested_at)
    # Asking the Ollama servers for their models can take seconds (the connect timeout, for a
    # server that does not answer): no pooled connection waits for it.
    await conn.close()
    model = await engine.resolve_model(body.model)
    async with engine.connect() as conn:
        return await _start(engine, conn, user, conversation, message, model, requested_at)


async def _start(
    engine: ChatEngine,
    conn: AsyncConnection,
    user: Caller,
    conversation: ConversationRef | None,
    message: str,
    model: str,
    requested_at: float,
) -> StreamingResponse:
    """The end of :func:`chat`: the quota, then the question stored and the answer started."""
    await _check_quota(conn, user, engine.settings)
    if engine.one_statement_start:
        answer = await engine.submit(user, conversation, message, model, requested_at, conn)
    else:
        # Storing the question is then a transaction of its own, and a request must never hold
        # one connection while waiting for another (with a busy pool that is a deadlock).
        await conn.close()
        answer = await engine.submit(user, conversation, message, model, requested_at)
    first = sse.meta_event(str(answer.id), str(answer.conversation_id), str(answer.user_message_id))
    return sse.sse_response(sse.follow(answer, first))


class DirectChatRoute(APIRoute):
    """``POST /chat`` with its dependencies resolved by :func:`_handle_chat`, plain calls in the
    order FastAPI's solver would make them, instead of by that solver.

    The endpoint keeps its signature, so the OpenAPI schema, the security scheme and every check
    on the route's dependencies see the same route. Only the solver's per-request machinery goes
    (the dependency graph walk, its exit stacks and the shielded cancel scope around the
    caller's connection, which is held for a few milliseconds and only a shutdown cancels):
    about 0.15-0.35 ms of the time to first token on this VM, measured with ``bench/ttft_ab.py``
    (docs/performance.md). With ``dependency_overrides`` set, the route goes back to FastAPI's
    solver, which is what overrides are for.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        solver = super().get_route_handler()

        async def handler(request: Request) -> Response:
            if request.app.dependency_overrides:
                return await solver(request)
            return await _handle_chat(request)

        return handler


_chat_caller = contextlib.asynccontextmanager(get_chat_caller)


async def _handle_chat(request: Request) -> Response:
    """:func:`chat` as FastAPI calls it: the caller first (every 401 comes before any look at
    the body), then the body, then the endpoint; the caller's connection is closed when the
    endpoint returns, before the answer streams (``scope="function"``)."""
    settings = await get_app_settings(request)
    engine = await get_chat_engine(request)
    credentials = await bearer(request)
    async with _chat_caller(request, settings, credentials, engine) as caller:
        body = await _chat_body(request)
        limiter = await get_rate_limiter(request)
        return await chat(caller, body, limiter, settings, engine)


async def _chat_body(request: Request) -> ChatRequest:
    """The body validated as FastAPI validates ``body: ChatRequest``, with the same errors: no
    body is ``missing``, malformed JSON is ``json_invalid`` at its position, a body that is not
    JSON (by its content type) fails as bytes do."""
    raw = await request.body()
    if not raw:
        missing: dict[str, Any] = {
            "type": "missing",
            "loc": ("body",),
            "msg": "Field required",
            "input": None,
        }
        raise RequestValidationError([missing])
    data: Any = raw
    if _is_json(request.headers.get("content-type")):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            invalid: dict[str, Any] = {
                "type": "json_invalid",
                "loc": ("body", exc.pos),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": exc.msg},
            }
            raise RequestValidationError([invalid], body=exc.doc) from None
    try:
        return ChatRequest.model_validate(data, from_attributes=True)  # as FastAPI validates bodies
    except ValidationError as exc:
        errors = [
            {**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors, body=data) from None


def _is_json(content_type: str | None) -> bool:
    """FastAPI's test: ``application/json`` or ``application/<anything>+json``."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    maintype, _, subtype = media.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


router.add_api_route(
    "/chat",
    chat,
    methods=["POST"],
    response_class=StreamingResponse,
    responses={200: _SSE_DOC},
    route_class_override=DirectChatRoute,
)


@router.get(
    "/chat/{assistant_message_id}/stream",
    response_class=StreamingResponse,
    responses={200: _SSE_DOC},
)
async def reattach(
    assistant_message_id: uuid.UUID, user: CurrentUser, session: SessionDep, engine: ChatEngineDep
) -> StreamingResponse:
    """Follow an answer again (another tab, a reload): its text so far, then live."""
    saved = await chat_service.owned_answer(session, user, assistant_message_id)
    question_id = await chat_service.question_of(session, saved)
    first = sse.meta_event(str(saved.id), str(saved.conversation_id), str(question_id))
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
    if live is not None and not live.finished:
        await session.close()  # the answer saves itself on its own connection
        await engine.stop(live)
        saved = await chat_service.owned_answer(session, user, assistant_message_id)
    return StopOut(assistant_message_id=saved.id, status=saved.status)


@router.get("/models", response_model=ModelsOut)
async def models(_user: CurrentUser, settings: SettingsDep, engine: ChatEngineDep) -> ModelsOut:
    """The models the Ollama servers offer; ``default`` marks the one used when none is given."""
    available = await engine.available_models()
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
