"""Continuing an answer the length cap cut ("Continuar", as ChatGPT's "Continue generating").

An answer ``num_predict`` cut ends ``complete`` with ``finish_reason`` "length" (docs/chat.md,
"Answer length"). ``POST /chat`` with ``continue_message_id`` asks the model to write on from
it: the same prompt as for that answer (system message, the conversation's instructions, the
same history trimming) with the answer so far as the last message, an assistant's, which Qwen's
template leaves open: the model continues it, and the model server finds the whole prompt in
the slot that wrote the answer (a cut answer has no end marker there). The new text is appended
to the same message, which goes back to ``streaming`` and ends like any answer; its counts and
times are added to the ones it had. The queue, stop, re-attach, quotas and the one answer at a
time per person are the ones of every answer (``ChatEngine.launch``).

Only the owner's (404 otherwise, as for every message), only the last message of its branch
(409 ``not_last_answer``), only an answer the cap cut (409 ``not_cut``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth.models import User
from energyapp.chat import engine as chat_engine  # a module: the engine's runner imports this one
from energyapp.chat import prompt
from energyapp.chat import service as chat_service
from energyapp.chat.live import LiveAnswer
from energyapp.chat.schemas import ChatRequest
from energyapp.conversations import service as conversations_service
from energyapp.conversations import tree
from energyapp.conversations.models import MESSAGES, Conversation, Message
from energyapp.core.ratelimit import RateLimiter
from energyapp.db import affected_rows, utcnow
from energyapp.errors import Conflict, NotFound, Unprocessable
from energyapp.instructions import service as instructions_service
from energyapp.usage.quota import quota_day_bounds

if TYPE_CHECKING:
    from energyapp.chat.engine import ChatEngine


CLOSING_WAIT_SECONDS = 10.0  # a title being written after the answer: about a second


@dataclass(frozen=True, slots=True)
class Continued:
    """The answer as it was before its continuation: its text is kept whatever happens, and
    its counts and times are added to the continuation's."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    duration_ms: int | None
    first_token_ms: int | None


def answer_closing() -> Conflict:
    return Conflict(
        "La respuesta todavía se está cerrando. Intente continuarla en unos segundos.",
        code="answer_closing",
    )


def _checked(body: ChatRequest) -> tuple[uuid.UUID, uuid.UUID]:
    """(conversation, answer) of a continuation; 422 without the conversation, or with a
    message, a place in the tree, a model of its own or ``temporary`` (a conversation is
    temporary from its creation only)."""
    if body.conversation_id is None or body.continue_message_id is None:
        raise Unprocessable(
            "Para continuar una respuesta indique la conversación.", code="conversation_required"
        )
    given = (
        body.parent_message_id is not None
        or body.regenerate
        or body.model is not None
        or body.temporary
    )
    if body.message.strip() or given:
        raise Unprocessable(
            "Para continuar una respuesta envíe solo la conversación y la respuesta.",
            code="invalid_continue",
        )
    return body.conversation_id, body.continue_message_id


async def submit(
    engine: ChatEngine,
    session: AsyncSession,
    user: User,
    limiter: RateLimiter,
    body: ChatRequest,
) -> LiveAnswer:
    """Check the request (422), the rate (429), the answer (404/409) and the quota (429),
    reserve a place in the queue (429/503) and reopen the answer in the request's transaction;
    its generation starts once that is committed."""
    requested_at = time.perf_counter()
    conversation_id, answer_id = _checked(body)
    settings = engine.settings
    await chat_service.check_rate(limiter, user, settings)
    user_id = user.id
    conversation = await conversations_service.get_owned_conversation(
        session, user, conversation_id, settings
    )
    answer = await _answer_in(session, conversation, answer_id)
    _check_charged_today(answer, user)
    question = await _question_of(session, answer)
    instructions = instructions_service.of_conversation(conversation)
    budget = prompt.continuation_budget(settings, instructions, question.content)
    if not prompt.kept_answer_start(answer.content, budget):
        raise Conflict(
            "La pregunta ocupa todo el espacio del modelo: no queda lugar para continuar la "
            "respuesta.",
            code="no_room_to_continue",
        )
    await _closed(engine.live.get(answer.id))
    await chat_service.check_quota(session, user, settings)
    await engine.queue.admit(user_id)
    try:
        continued = await _reopen(session, conversation, answer)
        now = utcnow()
        if now - user.last_active_at >= chat_service.LAST_ACTIVE_RESOLUTION:
            user.last_active_at = now
    except BaseException:
        await engine.queue.leave(user_id)
        raise
    job = chat_engine.Job(
        answer_id=answer.id,
        user_message_id=question.id,
        conversation_id=conversation.id,
        user_id=user_id,
        message=question.content,
        model=answer.model or settings.ollama_model,
        new_conversation=False,
        requested_at=requested_at,
        instructions=instructions,
        continued=continued,
    )
    return await engine.launch(session, job)


def _check_charged_today(answer: Message, user: User) -> None:
    """A continuation's tokens are added to its answer, which usage and the daily quota count
    by its ``user_id`` and its ``created_at`` day: only the person it was written for (not a
    conversation's later owner, after a reassignment) continues it, and only on the quota day
    it was written (before, continuing yesterday's cut answer again and again escaped today's
    quota). 409 otherwise: "Regenerar" asks a new answer, counted today."""
    if answer.user_id != user.id:
        raise Conflict(
            "Esta respuesta se escribió para otra persona: use «Regenerar» para pedir una suya.",
            code="answer_of_another",
        )
    if answer.created_at < quota_day_bounds()[0]:
        raise Conflict(
            "Solo se puede continuar una respuesta del mismo día: use «Regenerar» para pedir "
            "una nueva.",
            code="continue_too_late",
        )


async def _closed(live: LiveAnswer | None) -> None:
    """Wait a moment for the answer's previous generation to close here (its title is being
    written: its events would mix with the continuation's); 409 ``answer_closing`` after."""
    if live is None or live.closed:
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSING_WAIT_SECONDS):
            while not live.closed:
                await live.wait()
    if not live.closed:
        raise answer_closing()


async def _answer_in(
    session: AsyncSession, conversation: Conversation, answer_id: uuid.UUID
) -> Message:
    """The answer, checked: in this conversation (404), the last of its branch and cut by the
    length cap (409)."""
    answer = await session.scalar(
        select(Message).where(
            Message.id == answer_id,
            Message.conversation_id == conversation.id,
            Message.role == "assistant",
        )
    )
    if answer is None:
        raise NotFound(
            "No se encontró la respuesta en esta conversación.", code="message_not_found"
        )
    if answer.status == "streaming":
        raise Conflict("La respuesta todavía se está escribiendo.", code="answer_streaming")
    if answer.status != "complete" or answer.finish_reason != "length":
        raise _not_cut()
    if await tree.has_children(session, conversation.id, answer.id):
        raise Conflict(
            "Solo se puede continuar la última respuesta de la conversación.",
            code="not_last_answer",
        )
    return answer


async def _question_of(session: AsyncSession, answer: Message) -> Message:
    question = (
        await session.get(Message, answer.parent_id) if answer.parent_id is not None else None
    )
    if question is None:  # an answer always follows its question; a broken tree is not continued
        raise _not_cut()
    return question


def _not_cut() -> Conflict:
    return Conflict(
        "Solo se puede continuar una respuesta que llegó al largo máximo.", code="not_cut"
    )


async def _reopen(session: AsyncSession, conversation: Conversation, answer: Message) -> Continued:
    """The answer back to ``streaming`` (only if it is still complete and cut: of two requests at
    once, one gets 409) and its branch shown; what it was before."""
    continued = Continued(
        text=answer.content,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        duration_ms=answer.duration_ms,
        first_token_ms=answer.first_token_ms,
    )
    now = utcnow()
    reopened = await affected_rows(
        session,
        update(MESSAGES)
        .where(
            MESSAGES.c.id == answer.id,
            MESSAGES.c.status == "complete",
            MESSAGES.c.finish_reason == "length",
        )
        .values(status="streaming", finish_reason=None, updated_at=now),
    )
    if not reopened:
        raise _not_cut()
    conversation.current_leaf_id = answer.id
    conversation.updated_at = now
    return continued


def added_to(continued: Continued, end: dict[str, Any]) -> dict[str, Any]:
    """The end of a continuation as saved: the whole text (already in ``end``), counts and times
    added to the answer's before. An unfinished continuation counts no tokens, as an unfinished
    answer, but the answer's earlier ones stay counted."""

    def plus(before: int | None, now: int | None) -> int | None:
        return before if now is None else (before or 0) + now

    return end | {
        "prompt_tokens": plus(continued.prompt_tokens, end["prompt_tokens"]),
        "completion_tokens": plus(continued.completion_tokens, end["completion_tokens"]),
        "duration_ms": plus(continued.duration_ms, end["duration_ms"]),
        "first_token_ms": plus(continued.first_token_ms, end["first_token_ms"]),
    }
