"""The OpenAI-compatible API: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Authenticated by personal API keys only; errors in OpenAI's shape (``openai_api/errors.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pydantic_core
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask
from starlette.routing import Match

from energyapp.apikeys import service as keys_service
from energyapp.chat import runner
from energyapp.chat.deps import ChatEngineDep
from energyapp.chat.engine import ChatEngine
from energyapp.core.deps import RateLimiterDep, SettingsDep
from energyapp.errors import AppError, NotFound, ServiceUnavailable, openai_error_body
from energyapp.llm import client as llm
from energyapp.openai_api import service
from energyapp.openai_api.deps import ApiCaller, ApiCallerDep
from energyapp.openai_api.errors import OPENAI_ERROR_RESPONSES, OpenAIRoute
from energyapp.openai_api.schemas import (
    AnswerMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ModelCard,
    ModelList,
    Usage,
)

router = APIRouter(
    prefix="/v1", tags=["openai"], route_class=OpenAIRoute, responses=OPENAI_ERROR_RESPONSES
)


@router.get("/models", response_model=ModelList)
async def models(_caller: ApiCallerDep, settings: SettingsDep, engine: ChatEngineDep) -> ModelList:
    """The models the Ollama servers offer, the default first when they have it (as the web
    picker, nothing they lack is listed); 503 ``llm_unavailable`` when none answers."""
    names = [m.name for m in await engine.catalog.available()]
    names.sort(key=lambda name: name != settings.ollama_model)  # stable: the rest keep order
    return ModelList(data=[ModelCard(id=name) for name in names])


@router.get("/models/{model:path}", response_model=ModelCard)
async def retrieve_model(model: str, _caller: ApiCallerDep, engine: ChatEngineDep) -> ModelCard:
    """One model the servers offer, by its id (``client.models.retrieve``); 404
    ``model_not_found``. The path takes the whole rest: Ollama's names may hold a ``/``
    (``hf.co/owner/name:tag``)."""
    return ModelCard(id=await service.offered_model(engine, model))


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_completions(
    body: ChatCompletionRequest,
    caller: ApiCallerDep,
    limiter: RateLimiterDep,
    engine: ChatEngineDep,
    request: Request,
) -> ChatCompletion | EventSourceResponse:
    """One answer, streamed as OpenAI's ``chat.completion.chunk`` events then ``[DONE]``
    (``stream: true``), or whole as a ``chat.completion``."""
    completion = await service.admit(engine, limiter, caller, body)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return EventSourceResponse(
            _until_key_ends(engine, caller, _chunks(engine, completion, include_usage)),
            ping=15,
            sep="\n",
            background=BackgroundTask(service.finish, engine, completion),
        )
    try:
        text = await _whole_answer(engine, completion, request)
    finally:
        await service.finish(engine, completion)
    return ChatCompletion(
        id=completion.id,
        created=completion.created,
        model=completion.model,
        choices=[
            Choice(message=AnswerMessage(content=text), finish_reason=completion.finish_reason)
        ],
        usage=Usage(**completion.usage()),
    )


async def _whole_answer(
    engine: ChatEngine, completion: service.Completion, request: Request
) -> str:
    """The whole text; the generation stops (and its slot is freed) if the client leaves."""
    pieces: list[str] = []
    failures: list[AppError] = []

    async def collect() -> None:
        try:
            async for piece in service.generate(engine, completion):
                pieces.append(piece)
        except llm.LLMError as exc:
            failures.append(_llm_failure(exc, completion, engine))
        except AppError as exc:  # the shared queue is unreachable
            failures.append(exc)
        scope.cancel()

    async with anyio.create_task_group() as group:
        scope = group.cancel_scope
        group.start_soon(collect)
        # The body is read: the next message is the client's disconnect.
        while (await request.receive())["type"] != "http.disconnect":
            pass
        scope.cancel()
    if failures:
        raise failures[0]
    return "".join(pieces)


def _llm_failure(exc: llm.LLMError, completion: service.Completion, engine: ChatEngine) -> AppError:
    _status, code, detail = runner.describe_llm_error(
        exc, completion.model, engine.settings.llm_token_timeout, saved=completion.store
    )
    if code == "model_missing":
        return NotFound(detail, code="model_not_found")
    return ServiceUnavailable(detail, code=code, retry_after=30)


KEY_ENDED = "api_key_revoked"
KEY_ENDED_DETAIL = "La clave de API de esta solicitud fue revocada o venció: la respuesta se cortó."


def _until_key_ends(
    engine: ChatEngine, caller: ApiCaller, chunks: AsyncIterator[str]
) -> AsyncIterator[str]:
    """The stream until its key is revoked or expires, or its owner may no longer use keys:
    then OpenAI's error event with code ``api_key_revoked`` (``chat/revocation.py``). As when
    the client leaves, the answer stops there; with ``store: true`` its text so far is kept."""
    key_id = caller.key_id

    async def holds() -> bool:
        async with engine.sessionmaker() as session:
            return await keys_service.key_is_valid(session, engine.settings, key_id)

    final = _json(openai_error_body(401, KEY_ENDED, KEY_ENDED_DETAIL))
    return engine.guards.guarded(chunks, caller.user.id, holds, final)


def _chunk(
    completion: service.Completion, delta: dict[str, str], finish: str | None, include_usage: bool
) -> str:
    """One ``chat.completion.chunk``; with ``include_usage``, ``usage: null`` as OpenAI sends
    on every chunk but the last (the one with the counts)."""
    chunk: dict[str, object] = {
        "id": completion.id, "object": "chat.completion.chunk", "created": completion.created,
        "model": completion.model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }  # fmt: skip
    if include_usage:
        chunk["usage"] = None
    return _json(chunk)


def _json(data: object) -> str:
    return pydantic_core.to_json(data).decode()


async def _chunks(
    engine: ChatEngine, completion: service.Completion, include_usage: bool
) -> AsyncIterator[str]:
    """OpenAI's stream: a first chunk with the role, one per piece, one with the finish
    reason, the usage when asked, then ``[DONE]``. A failure after the start is an ``error``
    event, as OpenAI sends it. Each is an event's data, framed by the response with LF as
    OpenAI's (a ``ServerSentEvent`` brings its own CRLF, and a client that splits events on
    two LFs never sees one end)."""
    start = {"role": "assistant", "content": ""}
    yield _chunk(completion, start, None, include_usage)
    try:
        async for piece in service.generate(engine, completion):
            yield _chunk(completion, {"content": piece}, None, include_usage)
    except (llm.LLMError, AppError) as exc:
        failure = exc if isinstance(exc, AppError) else _llm_failure(exc, completion, engine)
        yield _json(openai_error_body(failure.status_code, failure.code, failure.detail))
        return
    end = _chunk(completion, {}, completion.finish_reason, include_usage)
    yield end
    if include_usage:
        yield _json({
            "id": completion.id, "object": "chat.completion.chunk",
            "created": completion.created, "model": completion.model, "choices": [],
            "usage": completion.usage(),
        })  # fmt: skip
    yield "[DONE]"


@router.api_route(
    "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
async def unknown(path: str, request: Request) -> None:
    """Any other ``/v1`` path: OpenAI's 404; a method one of the routes above does not take:
    405 with ``Allow`` (this catch-all matches every path, so the router's own 405 never came)."""
    for route in router.routes:
        if route.matches(request.scope)[0] is Match.PARTIAL and isinstance(route, APIRoute):
            allowed = ", ".join(sorted(route.methods or ()))
            raise AppError(
                "Método HTTP no permitido para esta ruta.",
                code="method_not_allowed",
                status_code=405,
                headers={"Allow": allowed},
            )
    raise NotFound(f"No existe la ruta /v1/{path[:100]} en esta API.", code="unknown_url")
