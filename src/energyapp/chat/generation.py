"""The generation of answers, owned by the app (not by any request).

A request stores the question, reserves a place in the queue and starts a background task; the
task waits for a slot, streams from Ollama into a :class:`LiveAnswer` (which any number of
watchers read), saves the text at most every ``SAVE_INTERVAL`` seconds, and records how the
answer ended. Closing a tab never stops it; only ``stop`` or a shutdown does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from energyapp.auth.models import Caller
from energyapp.chat import prompt
from energyapp.chat import service as chat_service
from energyapp.chat.live import LiveAnswer, LiveAnswers
from energyapp.chat.queue import GenerationQueue
from energyapp.config import Settings
from energyapp.conversations.service import ConversationRef
from energyapp.core.metrics import (
    GENERATIONS_FINISHED,
    GENERATIONS_RUNNING,
    LLM_ERRORS,
    LLM_FIRST_TOKEN,
    QUEUE_WAIT,
    TIME_TO_FIRST_TOKEN,
    TITLES_PREEMPTED,
    TOKENS_GENERATED,
)
from energyapp.db import SingleStatements, autocommit
from energyapp.errors import ServiceUnavailable, Unprocessable
from energyapp.llm import client as llm

logger = logging.getLogger("energyapp.chat")

SAVE_INTERVAL = 1.0  # seconds between saves of a growing answer (no per-token writes)
# The end of an answer is the one write worth waiting for: a database restart takes seconds.
FINAL_SAVE_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
TITLE_TIMEOUT = 120.0
TITLE_ATTEMPTS = 5  # a title given up for users' answers this many times keeps the first words
MODELS_CACHE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Job:
    answer_id: uuid.UUID
    user_message_id: uuid.UUID
    conversation_id: uuid.UUID
    user_id: uuid.UUID
    message: str
    model: str
    title_pending: bool
    requested_at: float  # perf_counter at the request
    new_conversation: bool = False  # nothing before the question: no history to read


def _error_event(code: str, detail: str) -> tuple[str, dict[str, Any]]:
    return "error", {"detail": detail, "code": code}


def describe_llm_error(exc: llm.LLMError, model: str, token_timeout: float) -> tuple[str, str, str]:
    """(final status, event code, Spanish detail) for a failure talking to Ollama."""
    kept = " Su mensaje y el texto recibido hasta ahora quedaron guardados."
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


class ChatEngine:
    """Starts, stops and finishes answers; one per app (``app.state.chat``)."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        http_client: aiohttp.ClientSession,
        queue: GenerationQueue,
        live_answers: LiveAnswers,
    ) -> None:
        self.settings = settings
        # Core connections, no ORM session: the answer path pays for every statement.
        self.db = engine
        # Single-statement writes (progress, end of an answer, title) need no BEGIN/COMMIT round
        # trips: on this path every round trip to the database is a measurable cost.
        self.single_statement = autocommit(engine)
        self.one_statement_start = chat_service.starts_in_one_statement(engine.dialect)
        self.http = http_client
        self.queue = queue
        self.live = live_answers
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._models_cache: tuple[float, list[llm.ModelInfo]] | None = None
        # Whose conversation each Ollama server evaluated last (an answer's id; None for a
        # title asked of an excerpt): a hint about what its prompt cache holds, for titles.
        self._last_prompt: dict[str, uuid.UUID | None] = {}

    # --- public ------------------------------------------------------------------------------

    async def submit(
        self,
        user: Caller,
        conversation: ConversationRef | None,
        message: str,
        model: str,
        requested_at: float,
        connection: AsyncConnection | None = None,
    ) -> LiveAnswer:
        """Reserve a place in the queue (429/503 when there is none), store the question and an
        empty answer, and start generating.

        Where the storing is one atomic statement (``one_statement_start``: PostgreSQL) the
        caller passes its own ``connection``, in autocommit mode, and it runs there; otherwise
        (SQLite) it is a short transaction of its own.
        """
        self.queue.admit(user.id)
        try:
            if connection is not None:
                started = await chat_service.start_chat(
                    connection, user, conversation, message, model
                )
            else:
                async with self.db.begin() as conn:
                    started = await chat_service.start_chat(
                        conn, user, conversation, message, model
                    )
        except BaseException:
            self.queue.leave(user.id)
            raise
        job = Job(
            answer_id=started.assistant_message_id,
            user_message_id=started.user_message_id,
            conversation_id=started.conversation_id,
            user_id=user.id,
            message=message,
            model=model,
            title_pending=started.title_pending,
            requested_at=requested_at,
            new_conversation=conversation is None,
        )
        return self.start(job)

    def connect(self) -> SingleStatements:
        """``async with`` a pooled connection in autocommit mode: for a request's checks and
        its question, and for each single-statement write of an answer."""
        return SingleStatements(self.single_statement)

    def known_model(self, name: str | None) -> str | None:
        """The model to use when that takes no question to the servers (the default, or one
        their fresh list offers); None when :meth:`resolve_model` must ask them."""
        if name is None or name == self.settings.ollama_model:
            return self.settings.ollama_model
        cache = self._models_cache
        if cache is None or time.monotonic() - cache[0] >= MODELS_CACHE_SECONDS:
            return None
        return name if name in {m.name for m in cache[1]} else None

    async def resolve_model(self, name: str | None) -> str:
        """The model to use: the default, or one the Ollama servers offer (else 422)."""
        if (known := self.known_model(name)) is not None:
            return known
        if name in {m.name for m in await self.available_models()}:
            return name
        raise Unprocessable(
            f"El modelo «{name}» no está disponible. Consulte la lista en /models.",
            code="unknown_model",
        )

    async def available_models(self) -> list[llm.ModelInfo]:
        """Every model the configured servers offer (cached a few seconds)."""
        now = time.monotonic()
        if self._models_cache is not None and now - self._models_cache[0] < MODELS_CACHE_SECONDS:
            return self._models_cache[1]
        found: dict[str, llm.ModelInfo] = {}
        failures = 0
        for url in self.settings.llm_urls:
            try:
                for info in await llm.list_models(self.http, url):
                    found.setdefault(info.name, info)
            except llm.LLMError:
                failures += 1
        if failures == len(self.settings.llm_urls):
            raise ServiceUnavailable(
                "El servicio del modelo (Ollama) no está disponible en este momento.",
                code="llm_unavailable",
            )
        models = list(found.values())
        self._models_cache = (now, models)
        return models

    def start(self, job: Job) -> LiveAnswer:
        """Run ``job`` in the background (its place in the queue is already reserved)."""
        answer = LiveAnswer(job.answer_id, job.conversation_id, job.user_id, job.user_message_id)
        self.live.add(answer)
        answer.task = self._spawn(self._run(answer, job))
        return answer

    async def stop(self, answer: LiveAnswer, reason: str = "user") -> None:
        """Stop an answer; its text so far is kept (``stopped``, or ``interrupted`` when the
        app shuts down). Returns once it is saved."""
        task = answer.task
        if task is None or task.done() or answer.finished:
            return
        # Cancel only a generation still under way, and only once. Once it is over, cancelling
        # would interrupt the save of its end (and its retries), leaving the row ``streaming``
        # and every watcher waiting: it is saved as it ended. A second stop (another tab, a
        # double click) must not cancel again either: one ``uncancel()`` would leave the
        # task's cancel count at 1, and a timeout during the save would read as a cancellation.
        # Either way the stop waits for the task, which ends once the end is saved.
        if not answer.saving_end and answer.stop_reason is None:
            answer.stop_reason = reason
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)

    async def shutdown(self, grace_seconds: float = 10.0) -> None:
        """Save every running answer as ``interrupted`` with its text; drop pending titles."""
        self._closing = True
        answers = self.live.running()
        await asyncio.gather(*(self.stop(a, "shutdown") for a in answers), return_exceptions=True)
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=grace_seconds)

    # --- the generation ----------------------------------------------------------------------

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, answer: LiveAnswer, job: Job) -> None:
        settings = self.settings
        stats = llm.ChatStats()
        status, error = "complete", None
        first_token_ms: int | None = None
        server: str | None = None
        asked: list[dict[str, str]] | None = None
        try:
            try:
                queued_at = time.perf_counter()
                server = await self.queue.acquire(job.user_id, answer.set_position)
                QUEUE_WAIT.observe(time.perf_counter() - queued_at)
                answer.set_position(None)
                GENERATIONS_RUNNING.inc()
                past: list[tuple[str, str]] = []
                if not job.new_conversation:
                    async with self.connect() as conn:
                        past = await chat_service.history(
                            conn, job.conversation_id, job.user_message_id
                        )
                asked = prompt.build_messages(settings, past, job.message)
                payload = llm.chat_payload(
                    job.model,
                    asked,
                    options=prompt.chat_options(settings),
                    keep_alive=settings.keep_alive,
                )
                self._last_prompt[server] = answer.id
                last_save = time.monotonic()
                asked_at = time.perf_counter()
                pieces = llm.stream_chat(
                    self.http,
                    server,
                    payload,
                    token_timeout=settings.llm_token_timeout,
                    stats=stats,
                )
                async with contextlib.aclosing(pieces):
                    async for piece in pieces:
                        first = first_token_ms is None
                        if first:
                            now = time.perf_counter()
                            elapsed = now - job.requested_at
                            first_token_ms = int(elapsed * 1000)
                            TIME_TO_FIRST_TOKEN.observe(elapsed)
                            LLM_FIRST_TOKEN.observe(now - asked_at)
                        answer.publish(piece)
                        if first:
                            # Let the watchers send the first token before the rest of a reply
                            # that has already arrived is read (bench/ttft_ab.py: -0.12 ms).
                            await asyncio.sleep(0)
                        if time.monotonic() - last_save >= SAVE_INTERVAL:
                            last_save = time.monotonic()
                            await self._save_progress(answer)
            except asyncio.CancelledError:
                if answer.stop_reason is None:
                    raise
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                if answer.stop_reason == "user":
                    status = "stopped"
                else:
                    status = "interrupted"
                    error = _error_event(
                        "app_shutdown",
                        "El servidor se reinició durante la respuesta. El texto recibido "
                        "quedó guardado.",
                    )
            except llm.LLMError as exc:
                status, code, detail = describe_llm_error(
                    exc, job.model, settings.llm_token_timeout
                )
                error = _error_event(code, detail)
                LLM_ERRORS.labels(code).inc()
                logger.warning("generation failed", extra={"code": exc.code, "error": exc.message})
            except Exception:
                logger.exception("generation crashed")
                status = "error"
                error = _error_event(
                    "internal_error",
                    "Ocurrió un error interno durante la respuesta. El texto recibido quedó "
                    "guardado.",
                )
        finally:
            if server is not None:
                self.queue.release(server, job.user_id)
                GENERATIONS_RUNNING.dec()
            self.queue.leave(job.user_id)
        answer.saving_end = True  # from here on a stop waits for the end instead of cancelling
        await self._finish(answer, job, status, error, stats, first_token_ms, asked)

    async def _save_progress(self, answer: LiveAnswer) -> None:
        async with self.connect() as conn:
            await chat_service.save_progress(conn, answer.id, answer.text)

    async def _finish(
        self,
        answer: LiveAnswer,
        job: Job,
        status: str,
        error: tuple[str, dict[str, Any]] | None,
        stats: llm.ChatStats,
        first_token_ms: int | None,
        asked: list[dict[str, str]] | None,
    ) -> None:
        duration_ms = int((time.perf_counter() - job.requested_at) * 1000)
        text = answer.text
        completed = status == "complete"
        for attempt, delay in enumerate((*FINAL_SAVE_RETRY_DELAYS, None)):
            try:
                async with self.connect() as conn:
                    await chat_service.finish_answer(
                        conn,
                        answer.id,
                        status=status,
                        text=text,
                        error_code=error[1]["code"] if error else None,
                        prompt_tokens=stats.prompt_tokens if completed else None,
                        completion_tokens=stats.completion_tokens if completed else None,
                        duration_ms=duration_ms,
                        first_token_ms=first_token_ms,
                    )
                break
            except Exception:
                if delay is None or self._closing:
                    # Still down: the crash recovery marks it interrupted (with the text saved
                    # so far) at the next start.
                    logger.exception("could not save the end of an answer")
                    break
                logger.warning(
                    "saving the end of an answer failed; retrying", extra={"attempt": attempt + 1}
                )
                await asyncio.sleep(delay)
        GENERATIONS_FINISHED.labels(status).inc()
        if completed:
            TOKENS_GENERATED.inc(stats.completion_tokens)
        done = {
            "assistant_message_id": str(answer.id),
            "status": status,
            "prompt_tokens": stats.prompt_tokens if completed else None,
            "completion_tokens": stats.completion_tokens if completed else None,
            "duration_ms": duration_ms,
        }
        answer.finish([error, ("done", done)] if error else [("done", done)])
        if completed and job.title_pending and text and not self._closing:
            self._spawn(self._title(answer, job, text, asked))
        else:
            self._close(answer)

    def _close(self, answer: LiveAnswer) -> None:
        answer.close()
        self.live.release(answer.id)

    # --- automatic titles --------------------------------------------------------------------

    async def _title(
        self, answer: LiveAnswer, job: Job, text: str, asked: list[dict[str, str]] | None
    ) -> None:
        """Name the conversation with a short request that only runs when no user's answer is
        waiting for a slot, and gives the slot up as soon as one arrives (titles never delay
        an answer); it then waits for the next quiet moment, a few times at most.

        When the server's last prompt was this answer's, the title is asked as the next turn of
        the conversation (:func:`prompt.title_follow_up`: the model reads only the instruction
        and the conversation stays in its cache); otherwise, of an excerpt."""
        options = prompt.chat_options(self.settings)
        options.update(num_predict=self.settings.title_num_predict, temperature=0.2)

        def payload_for(server: str) -> dict[str, Any]:
            messages = None
            if asked is not None and self._last_prompt.get(server) == answer.id:
                messages = prompt.title_follow_up(self.settings, asked, text)
            if messages is None:
                messages = prompt.title_messages(job.message, text)
                self._last_prompt[server] = None
            return llm.chat_payload(
                job.model,
                messages,
                options=options,
                keep_alive=self.settings.keep_alive,
                stream=False,
            )

        try:
            raw = await self._title_request(payload_for)
            title = prompt.clean_title(raw) if raw is not None else None
            if title:
                async with self.connect() as conn:
                    saved = await chat_service.save_auto_title(conn, job.conversation_id, title)
                if saved:
                    answer.set_title(title)
        except llm.LLMError as exc:
            logger.info("automatic title failed", extra={"code": exc.code})
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("automatic title crashed")
        finally:
            self._close(answer)

    async def _title_request(self, payload_for: Callable[[str], dict[str, Any]]) -> str | None:
        """The model's raw title (the request for a server is ``payload_for(server)``), or None
        when it was preempted every time it tried."""
        task = asyncio.current_task()
        assert task is not None
        preempted = False

        def preempt() -> None:
            nonlocal preempted
            preempted = True
            task.cancel()

        for _ in range(TITLE_ATTEMPTS):
            server: str | None = None
            try:
                server = await self.queue.acquire(None, on_preempt=preempt)
                raw, _stats = await llm.chat_once(
                    self.http, server, payload_for(server), read_timeout=TITLE_TIMEOUT
                )
                return raw
            except asyncio.CancelledError:
                if not preempted:
                    raise
                task.uncancel()
                preempted = False
                TITLES_PREEMPTED.inc()
            finally:
                if server is not None:
                    self.queue.release(server, None, on_preempt=preempt)
        return None
