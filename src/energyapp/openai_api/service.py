"""Chat completions for the ``/v1`` API: the same queue, limits and quotas as the web UI.

Unlike a web answer, an API answer belongs to its request: it is generated while the client
listens, and a client that goes away stops it and frees its slot. It is not stored unless the
request says ``store: true``; its token counts always are (the usage ledger, ``usage_events``),
so daily quotas and the usage reports see API answers too.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.chat import prompt
from energyapp.chat import service as chat_service
from energyapp.chat.board import stopped_by_admin
from energyapp.chat.engine import ChatEngine
from energyapp.chat.request_answers import AnswerStopped
from energyapp.config import Settings
from energyapp.core import tokens
from energyapp.core.ratelimit import RateLimiter
from energyapp.errors import AppError, NotFound, Unauthorized, Unprocessable
from energyapp.llm import client as llm
from energyapp.openai_api.deps import ApiCaller
from energyapp.openai_api.errors import UnsupportedParameter
from energyapp.openai_api.schemas import ChatCompletionRequest
from energyapp.usage import service as usage_service

logger = logging.getLogger("energyapp.openai_api")

TITLE_MAX = 200


@dataclass
class Completion:
    """One admitted request: what to ask, and how it went."""

    caller: ApiCaller
    model: str
    messages: list[dict[str, str]]
    options: dict[str, Any]
    question: str | None  # the question ``store: true`` keeps; None: nothing is stored
    output_format: str | dict[str, Any] | None = None
    id: str = field(default_factory=lambda: "chatcmpl-" + secrets.token_hex(12))
    created: int = field(default_factory=lambda: int(time.time()))
    text: str = ""
    status: str = "complete"
    stats: llm.ChatStats = field(default_factory=llm.ChatStats)
    server: str | None = None  # the Ollama server whose slot the answer holds
    asked: bool = False  # Ollama was asked: there is usage to record
    finished: bool = False

    @property
    def finish_reason(self) -> str:
        return "length" if self.stats.done_reason == "length" else "stop"

    def usage(self) -> dict[str, int]:
        prompt_tokens, completion_tokens = self.counted_tokens()
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    def counted_tokens(self) -> tuple[int, int]:
        """Ollama's counts; for an answer cut short (no final counts), an estimate, so the
        quota still sees it. A failure before any text (Ollama away, saturated, or failing at
        once) counts nothing, as a failed answer in the web UI."""
        if self.status == "complete":
            return self.stats.prompt_tokens, self.stats.completion_tokens
        if self.status == "error" and not self.text:
            return 0, 0
        asked = sum(tokens.estimate_tokens(m["content"]) for m in self.messages)
        return asked, tokens.estimate_tokens(self.text) if self.text else 0

    @property
    def store(self) -> bool:
        """The answer is kept as a conversation (``store: true``)."""
        return self.question is not None


def _ollama_messages(settings: Settings, body: ChatCompletionRequest) -> list[dict[str, str]]:
    """The request's messages as Ollama takes them; the server's system prompt first when the
    request brings none. 400 without a user message, 413 beyond the context window."""
    messages = [
        {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
        for m in body.messages
    ]
    if not any(m["role"] == "user" and m["content"].strip() for m in messages):
        raise AppError("La solicitud no tiene ningún mensaje del usuario.", code="no_user_message")
    limit = settings.num_ctx * tokens.CHARS_PER_TOKEN
    size = sum(len(m["content"]) for m in messages)
    if size > limit:
        # 400, as OpenAI answers it: clients (the SDK's BadRequestError, LangChain, LiteLLM)
        # recognise a context overflow by that status and this code.
        raise AppError(
            f"Los mensajes suman {size} caracteres; el modelo admite unos {limit}. Acorte la "
            "conversación o divídala.",
            code="context_length_exceeded",
        )
    if messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": settings.system_prompt})
    return messages


def _stored_question(settings: Settings, messages: list[dict[str, str]]) -> str:
    """The last user message, which ``store: true`` keeps as a conversation's question: by the
    rules of a message sent from the web (400 blank, 413 over ``max_message_chars``)."""
    last = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    try:
        return chat_service.clean_message(last, settings)
    except Unprocessable as exc:
        raise AppError(
            "El último mensaje del usuario está vacío y no se puede guardar (store).",
            code=exc.code,
        ) from None


def _options(settings: Settings, body: ChatCompletionRequest) -> dict[str, Any]:
    options = prompt.answer_options(settings)
    # OpenAI's sampling parameters are Ollama options of the same name.
    for name in ("temperature", "top_p", "seed", "frequency_penalty", "presence_penalty"):
        if (value := getattr(body, name)) is not None:
            options[name] = value
    # The answer's room in num_ctx caps max_tokens too (finish_reason "length" past it).
    limit = body.max_completion_tokens or body.max_tokens
    if limit is not None:
        options["num_predict"] = min(limit, options["num_predict"])
    if stop := body.stop_words():
        options["stop"] = stop
    return options


def _refuse_unsupported(body: ChatCompletionRequest) -> None:
    """400 ``unsupported_parameter`` for what the API cannot give (several choices, token
    probabilities, tool calls, images or audio to read) rather than an answer that silently
    lacks it."""
    for index, message in enumerate(body.messages):
        if kind := message.unreadable_part():
            raise UnsupportedParameter(
                f"messages[{index}].content",
                f"El modelo solo lee texto: el mensaje {index} trae una parte «{kind}» que no "
                "podría ver. Quítela o descríbala con texto.",
            )
    if body.n is not None and body.n > 1:
        raise UnsupportedParameter(
            "n",
            "Esta API entrega una sola respuesta por solicitud: use n=1 (o no lo envíe) y "
            "repita la solicitud si necesita otra.",
        )
    if body.logprobs:
        raise UnsupportedParameter(
            "logprobs", "Esta API no entrega las probabilidades de los tokens: quite logprobs."
        )
    for name, given, choice in (
        ("tools", body.tools, body.tool_choice),
        ("functions", body.functions, body.function_call),
    ):
        if given and choice != "none":
            raise UnsupportedParameter(
                name,
                f"Esta API no admite llamadas a herramientas: quite {name} (o pida que no se "
                'usen con "none").',
            )


def _model_not_found(name: str | None) -> NotFound:
    return NotFound(
        f"El modelo «{name}» no existe en este servidor. Consulte GET /v1/models.",
        code="model_not_found",
    )


async def resolve_model(engine: ChatEngine, name: str | None) -> str:
    """The model's name: the default (not asked for: a default Ollama lacks fails when the
    answer starts, with the same 404), or one Ollama offers (404 ``model_not_found``)."""
    try:
        return await engine.catalog.resolve(name)
    except AppError as exc:
        if exc.code != "unknown_model":
            raise
        raise _model_not_found(name) from None


async def offered_model(engine: ChatEngine, name: str) -> str:
    """As :func:`resolve_model`, but the default too must be offered: what ``GET /v1/models``
    lists, ``GET /v1/models/{model}`` finds."""
    resolved = await resolve_model(engine, name)
    if resolved not in {model.name for model in await engine.catalog.available()}:
        raise _model_not_found(name)
    return resolved


async def admit(
    engine: ChatEngine,
    limiter: RateLimiter,
    caller: ApiCaller,
    body: ChatCompletionRequest,
) -> Completion:
    """Check the request, the user's rate limit and daily quota, and reserve a place in the
    fair queue (429/503 as for the web UI). The caller must :func:`finish` afterwards."""
    settings = engine.settings
    _refuse_unsupported(body)
    messages = _ollama_messages(settings, body)
    question = _stored_question(settings, messages) if body.store else None
    model = await resolve_model(engine, body.model)
    await chat_service.check_rate(limiter, caller.user, settings)
    async with engine.sessionmaker() as session:
        await chat_service.check_quota(session, caller.user, settings)
    await engine.queue.admit(caller.user.id)
    return Completion(
        caller=caller,
        model=model,
        messages=messages,
        options=_options(settings, body),
        question=question,
        output_format=body.response_format.format_for_ollama() if body.response_format else None,
    )


async def finish(engine: ChatEngine, completion: Completion) -> None:
    """Give back the slot and the place :func:`admit` reserved and record the usage, once,
    whichever path gets here first (the end of the answer, or the response's background task
    when the client left before it started). Shielded: a client that left cancels the
    response's tasks, and this must still run."""
    if completion.finished:
        return
    completion.finished = True
    user_id = completion.caller.user.id
    with anyio.CancelScope(shield=True):
        # Recorded before the place is given back: the user's next request, admitted only
        # then, finds these tokens in its quota check.
        if completion.asked:
            await _record(engine.sessionmaker, completion)
        if completion.server is not None:
            await _give_back(engine.queue.release(completion.server, user_id))
        await _give_back(engine.queue.leave(user_id))


async def _give_back(work: Awaitable[None]) -> None:
    try:
        await work
    except Exception as exc:  # the shared broker away: its lease gives the place back
        logger.warning("giving back a queue place failed", extra={"error": type(exc).__name__})


async def generate(engine: ChatEngine, completion: Completion) -> AsyncIterator[str]:
    """Wait for a slot and yield the answer's pieces. Closing the iterator early (a client
    that left) closes the connection to Ollama, which stops the generation; so does the
    deactivation of the owner's account (``engine.stop_answers_of``), which ends it with 401
    ``api_access_disabled``. The slot and the place are given back and the usage recorded
    either way."""
    completion.status = "stopped"
    user_id = completion.caller.user.id
    try:
        with (
            engine.requests.hold(user_id) as held,
            engine.board.track(user_id, "api", held.id) as work,
        ):
            moved = functools.partial(engine.board.moved, work)
            completion.server = await held.wait(engine.queue.acquire(user_id, moved))
            engine.board.started(work)
            completion.asked = True
            pieces = llm.stream_chat(
                engine.http,
                completion.server,
                llm.chat_payload(
                    completion.model,
                    completion.messages,
                    options=completion.options,
                    keep_alive=engine.settings.keep_alive,
                    output_format=completion.output_format,
                ),
                token_timeout=engine.settings.llm_token_timeout,
                stats=completion.stats,
            )
            async with contextlib.aclosing(held.follow(pieces)) as followed:
                async for piece in followed:
                    completion.text += piece
                    yield piece
        completion.status = "complete"
    except AnswerStopped as stopped:
        if stopped.reason == "admin":
            raise stopped_by_admin() from None
        raise Unauthorized(
            "La cuenta dueña de esta clave fue desactivada: la respuesta se detuvo.",
            code="api_access_disabled",
        ) from None
    except llm.LLMError:
        completion.status = "error"
        raise
    finally:
        await finish(engine, completion)


async def _record(sessionmaker: async_sessionmaker[AsyncSession], completion: Completion) -> None:
    """Save the usage, with ``store`` in the transaction that keeps the conversation. Should
    keeping it fail, that transaction leaves nothing behind and the usage is saved alone: the
    quota must see the answer all the same. Both tries write the same event (one id): were the
    failed commit in fact done, the second finds it there and the answer counts once. A failure
    is logged, never raised: the answer has already been given."""
    event_id = uuid.uuid4()
    if completion.question is not None:
        try:
            async with sessionmaker.begin() as session:
                stored = await _store(session, completion)
                await _add_usage(session, completion, stored, event_id)
            return
        except Exception as exc:
            logger.warning("storing an API answer failed", extra={"error": type(exc).__name__})
    try:
        async with sessionmaker.begin() as session:
            await _add_usage(session, completion, None, event_id)
    except Exception as exc:
        logger.warning("recording an API answer failed", extra={"error": type(exc).__name__})


async def _add_usage(
    session: AsyncSession,
    completion: Completion,
    message_id: uuid.UUID | None,
    event_id: uuid.UUID,
) -> None:
    prompt_tokens, completion_tokens = completion.counted_tokens()
    charge = usage_service.Charge(
        user_id=completion.caller.user.id,
        source="api",
        key_id=completion.caller.key_id,
        model=completion.model,
        status=completion.status,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        messages=0 if message_id is None else 2,  # the question and the answer kept
        message_id=message_id,
        id=event_id,
    )
    await usage_service.record(session, charge)


async def _store(session: AsyncSession, completion: Completion) -> uuid.UUID | None:
    """The last user message and the answer, as a new conversation titled "API: <key name>"
    (the counters kept right by the chat service)."""
    user = await session.get(User, completion.caller.user.id)
    if user is None or completion.question is None:
        return None
    started = await chat_service.start_chat(
        session, user, None, completion.question, completion.model
    )
    title = f"API: {completion.caller.key_name}"[:TITLE_MAX]
    await chat_service.save_auto_title(session, started.conversation_id, title)
    prompt_tokens, completion_tokens = completion.counted_tokens()
    await chat_service.finish_answer(
        session,
        started.assistant_message_id,
        status=completion.status,
        text=completion.text,
        error_code=None if completion.status == "complete" else "api_" + completion.status,
        finish_reason=completion.finish_reason if completion.status == "complete" else None,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        duration_ms=int((time.time() - completion.created) * 1000),
        first_token_ms=None,
    )
    return started.assistant_message_id
