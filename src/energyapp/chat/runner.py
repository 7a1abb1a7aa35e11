"""The generation of one answer, from its place in the queue to its saved end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from energyapp.chat import continuation, prompt, titles
from energyapp.chat import service as chat_service
from energyapp.chat.board import STOPPED_BY_ADMIN, STOPPED_BY_ADMIN_DETAIL, Work, WorkKind
from energyapp.chat.live import LiveAnswer
from energyapp.chat.waits import QueuePlace
from energyapp.core.db_errors import refused_values, sqlstate
from energyapp.core.metrics import (
    GENERATIONS_FINISHED,
    GENERATIONS_RUNNING,
    LLM_ERRORS,
    LLM_FIRST_TOKEN,
    QUEUE_WAIT,
    TIME_TO_FIRST_TOKEN,
    TOKENS_GENERATED,
)
from energyapp.core.text import storable
from energyapp.errors import AppError
from energyapp.llm import client as llm
from energyapp.usage import service as usage_service

if TYPE_CHECKING:
    from energyapp.chat.engine import ChatEngine, Job

logger = logging.getLogger("energyapp.chat")

SAVE_INTERVAL = 1.0  # seconds between saves of a growing answer (no per-token writes)
# The end of an answer is the one write worth waiting for: its whole text is in memory, and a
# database restart takes seconds. It is retried, waiting longer each time up to the last delay,
# for as long as the process runs.
FINAL_SAVE_RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0)

Event = tuple[str, dict[str, Any]]


@dataclass
class Outcome:
    """How a generation ended, as it will be saved and told to the watchers."""

    status: str = "complete"
    error: Event | None = None
    stats: llm.ChatStats = field(default_factory=llm.ChatStats)
    first_token_ms: int | None = None
    asked: list[dict[str, str]] | None = None  # the prompt sent, for a follow-up title


def finish_reason(outcome: Outcome) -> str | None:
    """How a complete answer ended: "length" when ``num_predict`` cut it (Ollama's
    ``done_reason``), else "stop"; None for an answer that did not end complete."""
    if outcome.status != "complete":
        return None
    return "length" if outcome.stats.done_reason == "length" else "stop"


def error_event(code: str, detail: str) -> Event:
    return "error", {"detail": detail, "code": code}


def describe_llm_error(
    exc: llm.LLMError, model: str, token_timeout: float, *, saved: bool = True
) -> tuple[str, str, str]:
    """(final status, event code, Spanish detail) for a failure talking to Ollama; ``saved``:
    the question and the text so far are kept (always on the web, only with ``store`` on /v1)."""
    kept = " Su mensaje y el texto recibido hasta ahora quedaron guardados." if saved else ""
    if exc.code == llm.UNAVAILABLE:
        return (
            "error",
            "llm_unavailable",
            "El servicio del modelo (Ollama) no está disponible en este momento. Intente de "
            "nuevo en unos minutos o avise al administrador." + kept,
        )
    if exc.code == llm.MODEL_MISSING:
        return (
            "error",
            "model_missing",
            f"El modelo «{model}» no está instalado en el servidor. Un administrador debe "
            f"ejecutar: ollama pull {model}",
        )
    if exc.code == llm.TIMEOUT:
        return (
            "interrupted",
            "llm_error",
            f"El modelo dejó de responder (sin texto nuevo en {token_timeout:g} s)." + kept,
        )
    if exc.code == llm.DISCONNECTED:
        return (
            "interrupted",
            "llm_error",
            "Se perdió la conexión con el servicio del modelo a mitad de la respuesta." + kept,
        )
    if exc.status_code == 503:
        return (
            "error",
            "llm_error",
            "El servicio del modelo está saturado. Intente de nuevo en unos segundos." + kept,
        )
    return ("error", "llm_error", "El servicio del modelo respondió con un error." + kept)


async def run_generation(engine: ChatEngine, answer: LiveAnswer, job: Job) -> None:
    """Wait for a slot, stream the answer, and save how it ended; a stop or a shutdown ends it
    early with its text kept."""
    outcome = Outcome()
    server: str | None = None
    affinity = str(job.conversation_id)  # the slot scheduling follows the conversation's cache
    try:
        try:
            kind: WorkKind = "continuation" if job.continued is not None else "chat"
            with engine.board.track(job.user_id, kind, job.answer_id) as work:
                queued_at = time.perf_counter()
                place = QueuePlace(engine.queue_times, _told(engine, work, answer))
                server = await engine.queue.acquire(job.user_id, place.moved, affinity=affinity)
                place.granted()
                engine.board.started(work)
                QUEUE_WAIT.observe(time.perf_counter() - queued_at)
                answer.set_position(None)
                GENERATIONS_RUNNING.inc()
                await _stream(engine, answer, job, server, outcome)
        except asyncio.CancelledError:
            if answer.stop_reason is None:
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            _stopped(answer, outcome)
        except _MarkedStopped:  # by energyapp deactivate-user (chat_service.mark_answers_stopped)
            answer.stop_reason = "user"
            _stopped(answer, outcome)
        except llm.LLMError as exc:
            status, code, detail = describe_llm_error(
                exc, job.model, engine.settings.llm_token_timeout
            )
            outcome.status, outcome.error = status, error_event(code, detail)
            LLM_ERRORS.labels(code).inc()
            logger.warning("generation failed", extra={"reason": exc.code, "error": exc.message})
        except AppError as exc:  # the shared queue is unreachable (broker_unavailable)
            outcome.status, outcome.error = "error", error_event(exc.code, exc.detail)
            logger.warning("generation not started", extra={"reason": exc.code})
        except Exception:
            logger.exception("generation crashed")
            outcome.status = "error"
            outcome.error = error_event(
                "internal_error",
                "Ocurrió un error interno durante la respuesta. El texto recibido quedó guardado.",
            )
    finally:
        if server is not None:
            GENERATIONS_RUNNING.dec()
            await _give_back(engine.queue.release(server, job.user_id, affinity=affinity))
        await _give_back(engine.queue.leave(job.user_id))
    answer.saving_end = True  # from here on a stop waits for the end instead of cancelling
    await _finish(engine, answer, job, outcome)


def _told(
    engine: ChatEngine, work: Work, answer: LiveAnswer
) -> Callable[[int | None, int | None], None]:
    """A new place in the queue, for the answer's watchers and for the admins' board."""

    def tell(position: int | None, wait_seconds: int | None) -> None:
        engine.board.moved(work, position)
        answer.set_position(position, wait_seconds)

    return tell


async def _give_back(work: Awaitable[None]) -> None:
    """Give a slot or a place back; with the shared broker away, the lease gives it back."""
    try:
        await work
    except Exception as exc:
        logger.warning("giving back a queue place failed", extra={"error": type(exc).__name__})


def _stopped(answer: LiveAnswer, outcome: Outcome) -> None:
    if answer.stop_reason in ("user", "admin"):
        outcome.status = "stopped"
        if answer.stop_reason == "admin":  # the person is told who stopped it
            outcome.error = error_event(STOPPED_BY_ADMIN, STOPPED_BY_ADMIN_DETAIL)
        return
    outcome.status = "interrupted"
    outcome.error = error_event(
        "app_shutdown",
        "El servidor se reinició durante la respuesta. El texto recibido quedó guardado.",
    )


async def _stream(
    engine: ChatEngine, answer: LiveAnswer, job: Job, server: str, outcome: Outcome
) -> None:
    """Ask ``server`` and publish the answer as it comes, saving it every ``SAVE_INTERVAL``."""
    settings = engine.settings
    past: list[tuple[str, str]] = []
    if not job.new_conversation:
        async with engine.sessionmaker() as session:
            past = await chat_service.history(session, job.conversation_id, job.user_message_id)
    answer_start = job.continued.text if job.continued is not None else ""
    outcome.asked = prompt.build_messages(
        settings, past, job.message, job.instructions, answer_start=answer_start
    )
    payload = llm.chat_payload(
        job.model,
        outcome.asked,
        options=prompt.answer_options(settings),
        keep_alive=settings.keep_alive,
    )
    last_save = time.monotonic()
    asked_at = time.perf_counter()
    pieces = llm.stream_chat(
        engine.http,
        server,
        payload,
        token_timeout=settings.llm_token_timeout,
        stats=outcome.stats,
    )
    async with contextlib.aclosing(pieces):
        async for piece in pieces:
            if outcome.first_token_ms is None:
                now = time.perf_counter()
                outcome.first_token_ms = int((now - job.requested_at) * 1000)
                TIME_TO_FIRST_TOKEN.observe(now - job.requested_at)
                LLM_FIRST_TOKEN.observe(now - asked_at)
            answer.publish(piece)
            if time.monotonic() - last_save >= SAVE_INTERVAL:
                last_save = time.monotonic()
                if not await _save_progress(engine, answer):
                    raise _MarkedStopped


class _MarkedStopped(Exception):
    """The answer's row was marked ``stopped`` from outside this process."""


async def _save_progress(engine: ChatEngine, answer: LiveAnswer) -> bool:
    """Save the text so far; False when the row says the answer must stop. While the database
    is away the answer goes on (its end carries the whole text), so a failure is only logged."""
    try:
        async with engine.sessionmaker.begin() as session:
            return await chat_service.save_progress(session, answer.id, answer.text)
    except Exception as exc:
        logger.warning("saving an answer's progress failed", extra={"error": type(exc).__name__})
        return True


async def _finish(engine: ChatEngine, answer: LiveAnswer, job: Job, outcome: Outcome) -> None:
    """Save the end, tell the watchers, and ask for a title when the conversation still needs
    one. Normally the end is saved before the watchers hear of it, so a client that reloads at
    ``done`` reads the saved answer; while the database is away they hear of it at once, without
    a title, and the save is retried for as long as the process runs."""
    duration_ms = int((time.perf_counter() - job.requested_at) * 1000)
    text = answer.text
    completed = outcome.status == "complete"
    stats = outcome.stats
    # Usage and quotas count the whole prompt sent, not what the server's cache saved.
    sent = prompt.record_prompt(outcome.asked, stats) if completed and outcome.asked else None
    end = {
        "status": outcome.status,
        "text": text,
        "error_code": outcome.error[1]["code"] if outcome.error else None,
        "finish_reason": finish_reason(outcome),
        "prompt_tokens": sent,
        "completion_tokens": stats.completion_tokens if completed else None,
        "duration_ms": duration_ms,
        "first_token_ms": outcome.first_token_ms,
    }
    charge = _charge(job, answer, end)
    if job.continued is not None:
        end = continuation.added_to(job.continued, end)
    saved = await _save_end(engine, answer, end, charge)
    GENERATIONS_FINISHED.labels(outcome.status).inc()
    if completed:
        TOKENS_GENERATED.inc(stats.completion_tokens)
    done = {
        "assistant_message_id": str(answer.id),
        "status": outcome.status,
        "prompt_tokens": end["prompt_tokens"],
        "completion_tokens": end["completion_tokens"],
        "duration_ms": end["duration_ms"],
        "first_token_ms": end["first_token_ms"],
        "finish_reason": end["finish_reason"],
    }
    answer.finish([outcome.error, ("done", done)] if outcome.error else [("done", done)])
    if isinstance(saved, Exception):
        answer.close()  # no title for now: the watchers' streams end at ``done``
        await _save_end_until_it_holds(engine, answer, (end, charge), saved, job.continued)
    elif completed and saved and text and not engine.closing:
        asked = outcome.asked
        if job.continued is not None and asked:  # the title follows the whole answer
            asked = asked[:-1]
        engine.spawn(titles.write_title(engine, answer, job, text, asked))
        return
    engine.close(answer)


def _charge(job: Job, answer: LiveAnswer, end: dict[str, Any]) -> usage_service.Charge:
    """This generation's own counts for the usage ledger: a continuation's, not the sums its
    answer shows (those include the counts its earlier generation was charged)."""
    return usage_service.Charge(
        user_id=job.user_id,
        source="web",
        model=job.model,
        status=end["status"],
        prompt_tokens=end["prompt_tokens"] or 0,
        completion_tokens=end["completion_tokens"] or 0,
        first_token_ms=end["first_token_ms"],
        messages=job.messages_added,
        answers=0 if job.continued is not None else 1,
        message_id=answer.id,
    )


async def _save_end(
    engine: ChatEngine, answer: LiveAnswer, end: dict[str, Any], charge: usage_service.Charge
) -> bool | Exception:
    """Save the end of an answer and its usage in one transaction: once it holds, whether its
    conversation still waits for its automatic title; else what failed."""
    try:
        async with engine.sessionmaker.begin() as session:
            pending = await chat_service.finish_answer(session, answer.id, **end)
            await usage_service.record(session, charge)
            return pending
    except Exception as exc:
        return exc


def _salvaged(end: dict[str, Any], continued: continuation.Continued | None) -> dict[str, Any]:
    """What surely can be saved of an end the database refused: the text without the
    characters no database stores, no counts or timings (a number out of range is the other
    refusal a value can meet) but those a continued answer had, saved before and still counted
    in usage and quotas, and the status ``error`` with ``internal_error``: the saved answer is
    no longer exactly the one generated."""
    salvaged = end | {
        "status": "error",
        "text": storable(end["text"]),
        "error_code": "internal_error",
        "finish_reason": None,
        "prompt_tokens": None,
        "completion_tokens": None,
        "duration_ms": None,
        "first_token_ms": None,
    }
    return salvaged if continued is None else continuation.added_to(continued, salvaged)


async def _save_end_until_it_holds(
    engine: ChatEngine,
    answer: LiveAnswer,
    ending: tuple[dict[str, Any], usage_service.Charge],
    failure: Exception | None,
    continued: continuation.Continued | None = None,
) -> None:
    """Retry the save of the end while the database is away (a lost connection, a restart),
    waiting longer each time, until it holds or the process stops (the next start's crash
    recovery then marks the answer interrupted, with the text saved so far).

    A refusal of the values themselves (``db_errors.refused_values``: a number out of range, a
    character the database cannot store, a constraint) would fail forever: the end is then
    saved once more as :func:`_salvaged`, and one error line says what happened (the error's
    type and SQLSTATE, never its message, which holds the text). Should that be refused too,
    the answer is left to the crash recovery."""
    end, charge = ending
    attempt = 0
    while failure is not None:
        if refused_values(failure):
            salvage = await _save_end(
                engine, answer, _salvaged(end, continued), charge.without_counts()
            )
            logger.error(
                "the database refused the end of an answer: "
                + (
                    "left for the crash recovery"
                    if isinstance(salvage, Exception)
                    else "saved as error"
                ),
                extra={"error": type(failure).__name__, "sqlstate": sqlstate(failure)},
            )
            return
        logger.warning(
            "saving the end of an answer failed", extra={"error": type(failure).__name__}
        )
        if engine.closing:
            logger.error("could not save the end of an answer before the shutdown")
            return
        await asyncio.sleep(FINAL_SAVE_RETRY_DELAYS[min(attempt, len(FINAL_SAVE_RETRY_DELAYS) - 1)])
        attempt += 1
        saved = await _save_end(engine, answer, end, charge)
        failure = saved if isinstance(saved, Exception) else None
