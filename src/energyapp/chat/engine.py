"""The chat engine: answers are owned by the app, not by the request that asked for them.

A request stores the question and an empty answer in its own transaction and, once that is
committed, the engine runs the generation in the background (``chat/runner.py``): it waits
for a slot in the fair queue, streams from Ollama into a :class:`LiveAnswer` that any number of
watchers follow, and saves the answer as it grows and ends. Closing a tab never stops an
answer; only ``stop`` or a shutdown does. After a good first answer the conversation gets an
automatic title (``chat/titles.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sse_starlette import ServerSentEvent

from energyapp.auth.models import User
from energyapp.chat import limits, runner
from energyapp.chat import service as chat_service
from energyapp.chat.board import Board
from energyapp.chat.broker import Broker
from energyapp.chat.live import LiveAnswer, LiveAnswers
from energyapp.chat.request_answers import RequestAnswers
from energyapp.chat.revocation import StreamGuards
from energyapp.chat.waits import QueueTimes
from energyapp.config import Settings
from energyapp.conversations import temporary
from energyapp.db import after_commit
from energyapp.errors import AppError
from energyapp.instructions import service as instructions_service
from energyapp.llm.catalog import ModelCatalog

if TYPE_CHECKING:
    from energyapp.chat.continuation import Continued

logger = logging.getLogger("energyapp.chat")


@dataclass(frozen=True, slots=True)
class Job:
    """What the generation of one answer needs to know."""

    answer_id: uuid.UUID
    user_message_id: uuid.UUID
    conversation_id: uuid.UUID
    user_id: uuid.UUID
    message: str
    model: str
    new_conversation: bool  # nothing before the question: no history to read
    requested_at: float  # time.perf_counter() when the request asked for it
    # The conversation's custom instructions: the copy it took when created (docs/chat.md).
    instructions: instructions_service.Instructions | None
    # The answer as it was before, when this generation continues it (chat/continuation.py).
    continued: Continued | None = None
    messages_added: int = 0  # what the request stored: the usage ledger counts them


class ChatEngine:
    """Starts, stops and finishes answers; one per app (``app.state.chat``)."""

    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        http: aiohttp.ClientSession,
        broker: Broker,
        live: LiveAnswers,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.http = http
        self.broker = broker
        self.queue = broker.queue
        self.live = live
        self.catalog = ModelCatalog(http, settings.llm_urls, settings.ollama_model)
        # The wait told to queued answers (``queue`` events), from this process's answers.
        self.queue_times = QueueTimes()
        self.requests = RequestAnswers()  # the API's answers, owned by their requests
        self.board = Board()  # this process's work through the queue (admin/status.py)
        self.guards = StreamGuards()  # streams that end with their session or key
        self.closing = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(
        self,
        session: AsyncSession,
        user: User,
        conversation_id: uuid.UUID | None,
        message: str,
        model: str,
        turn: chat_service.Turn = chat_service.NEXT_TURN,
    ) -> LiveAnswer:
        """Check the conversation (404) and the quota (429), reserve a place in the queue
        (429/503), and store the question and an empty answer in the request's transaction.
        The generation starts once that transaction is committed."""
        requested_at = time.perf_counter()
        # Read now: a failed flush expires the ORM instance, and reading it again would need
        # the database that just failed.
        user_id = user.id
        conversation = await chat_service.conversation_for(
            session, user, conversation_id, self.settings
        )
        if conversation is not None and turn.temporary:
            raise temporary.only_at_creation()
        await chat_service.check_quota(session, user, self.settings)
        await self.queue.admit(user_id)
        try:
            started = await chat_service.start_chat(
                session, user, conversation, message, model, turn, custom_instructions=True
            )
            limits.check_fits(self.settings, started)
        except BaseException:
            await self.queue.leave(user_id)
            raise
        job = Job(
            answer_id=started.assistant_message_id,
            user_message_id=started.user_message_id,
            conversation_id=started.conversation_id,
            user_id=user_id,
            message=started.message,
            model=model,
            new_conversation=started.new_conversation,
            requested_at=requested_at,
            instructions=started.instructions,
            messages_added=started.messages_added,
        )
        return await self.launch(session, job)

    async def launch(self, session: AsyncSession, job: Job) -> LiveAnswer:
        """The live answer of ``job``, whose place in the queue is reserved and whose rows the
        request's transaction writes: its generation starts once that transaction is
        committed. A continued answer starts with its text so far, which every watcher
        (a re-attach too) gets first."""
        answer = LiveAnswer(job.answer_id, job.conversation_id, job.user_id, job.user_message_id)
        if job.continued is not None and job.continued.text:
            answer.publish(job.continued.text)
        try:
            await self.broker.claim(answer, again=job.continued is not None)
        except BaseException:
            await self.queue.leave(job.user_id)
            raise
        self.live.add(answer)
        after_commit(
            session,
            on_commit=lambda: self._begin(answer, job),
            on_rollback=lambda: self._abandon(answer, job),
        )
        return answer

    def _begin(self, answer: LiveAnswer, job: Job) -> None:
        answer.task = self.spawn(runner.run_generation(self, answer, job))
        self.broker.publish(answer)

    def _abandon(self, answer: LiveAnswer, job: Job) -> None:
        """The request failed after :meth:`submit`: nothing was stored, nothing runs."""
        self.spawn(self.queue.leave(job.user_id))
        answer.close()
        self.live.release(answer.id)
        self.spawn(self.broker.abandon(answer.id))

    async def follow(
        self,
        answer_id: uuid.UUID,
        first: ServerSentEvent,
        last_event_id: str | None = None,
        closing: anyio.Event | None = None,
        running: bool = True,
    ) -> AsyncIterator[ServerSentEvent] | None:
        """The events of a live answer, from whichever process generates it; None when no
        process does (the saved answer is then the whole story)."""
        return await self.broker.follow(answer_id, first, last_event_id, closing, running)

    async def stop_answer(self, answer_id: uuid.UUID, reason: str = "user") -> str | None:
        """Stop an answer wherever it runs (``reason``: "user", or "admin" from the "Estado"
        tab); its final status, or None when nothing runs it. An API answer (``answer_id`` its
        request's, ``chat/request_answers.py``) stops at its next step: "stopped" here, None when
        another process generates it (it is only asked to)."""
        live = self.live.get(answer_id)
        if live is not None and not live.finished:
            await self.stop(live, reason)
            return live.status
        if live is None:
            if self.requests.stop(answer_id, reason):
                return "stopped"
            return await self.broker.stop_elsewhere(answer_id, reason)
        # A generation that ended here is kept a moment: its continuation (chat/continuation.py)
        # may run in another process meanwhile; with the shared broker away, it cannot.
        try:
            elsewhere = await self.broker.stop_elsewhere(answer_id, reason)
        except AppError:
            elsewhere = None
        return elsewhere or live.status

    def stop_here(self, answer_id: uuid.UUID, reason: str) -> None:
        """Another process asks to stop ``answer_id`` (the broker's ``stop`` notice): stop it
        if this process generates it, a web answer or an API one."""
        live = self.live.get(answer_id)
        if live is not None and not live.finished:
            self.spawn(self.stop(live, reason))
        else:
            self.requests.stop(answer_id, reason)

    def stop_answers_of(self, session: AsyncSession, user_id: uuid.UUID) -> None:
        """Once the request's transaction is committed, stop every answer being generated or
        queued for ``user_id``, wherever it runs, the API's too (a deactivated account gets
        nothing more): here, and through the broker on every other process."""
        after_commit(
            session,
            on_commit=lambda: self._stop_everywhere(user_id),
            on_rollback=lambda: None,
        )

    def _stop_everywhere(self, user_id: uuid.UUID) -> None:
        self.stop_here_answers_of(user_id)
        self.spawn(self._stop_elsewhere_answers_of(user_id))

    def stop_here_answers_of(self, user_id: uuid.UUID) -> None:
        """Stop what this process generates for ``user_id``: its web answers (``stopped``, the
        text kept) and its API answers (``chat/request_answers.py``)."""
        for answer in self.live.running():
            if answer.user_id == user_id:
                self.spawn(self.stop(answer))
        self.requests.stop_all_of(user_id)

    async def _stop_elsewhere_answers_of(self, user_id: uuid.UUID) -> None:
        try:
            await self.broker.stop_elsewhere_answers_of(user_id)
        except Exception as exc:  # the shared broker away: the answers end on their own
            logger.warning("stopping a user's answers failed", extra={"error": type(exc).__name__})

    def credentials_ended(self, user_id: uuid.UUID) -> None:
        """A session or API key of ``user_id`` ended (committed): the streams it opened end,
        here and, through the broker, on every other process (``chat/revocation.py``)."""
        self.guards.wake(user_id)
        self.spawn(self._announce_credentials_ended(user_id))

    async def _announce_credentials_ended(self, user_id: uuid.UUID) -> None:
        try:
            await self.broker.announce_credentials_ended(user_id)
        except Exception as exc:  # the shared broker away: the periodic checks find out
            logger.warning(
                "announcing ended credentials failed", extra={"error": type(exc).__name__}
            )

    async def stop_answers_in(self, session: AsyncSession, conversation_id: uuid.UUID) -> None:
        """Once the request's transaction is committed, stop the answers of a conversation
        being deleted: nobody can read them any more, and they would hold a model slot."""
        answer_ids = await chat_service.streaming_answers(session, conversation_id=conversation_id)
        self._stop_after_commit(session, answer_ids)

    def _stop_after_commit(self, session: AsyncSession, answer_ids: list[uuid.UUID]) -> None:
        if answer_ids:
            after_commit(
                session,
                on_commit=lambda: self._stop_each(answer_ids),
                on_rollback=lambda: None,
            )

    def _stop_each(self, answer_ids: list[uuid.UUID]) -> None:
        for answer_id in answer_ids:
            self.spawn(self._stop_quietly(answer_id))

    async def _stop_quietly(self, answer_id: uuid.UUID) -> None:
        try:
            await self.stop_answer(answer_id)
        except Exception as exc:  # the shared broker away: the answer ends on its own
            logger.warning("stopping an answer failed", extra={"error": type(exc).__name__})

    async def stop(self, answer: LiveAnswer, reason: str = "user") -> None:
        """Stop an answer; its text so far is kept (``stopped``, with ``stopped_by_admin`` when
        an admin stopped it, or ``interrupted`` when the app shuts down). Returns once it is
        saved."""
        task = answer.task
        if task is None or task.done() or answer.finished:
            return
        # Cancel only a generation still under way, and only once: once it is over, a cancel
        # would interrupt the save of its end, and a second stop (another tab, a double click)
        # only waits for the first.
        if not answer.saving_end and answer.stop_reason is None:
            answer.stop_reason = reason
            task.cancel()
        # Waits for the end whichever way the task ends, and never swallows a cancel of the
        # caller itself (suppressing CancelledError around the await would).
        await asyncio.wait({task})

    async def shutdown(self, grace_seconds: float = 10.0) -> None:
        """Save every running answer as ``interrupted`` with its text; drop pending titles.

        With a shared broker the other processes take the new answers and the clients
        re-attach through them, so the running answers first get ``drain_timeout`` to finish.
        """
        self.closing = True
        if self.broker.shared:
            await self._drain(self.settings.drain_timeout)
        answers = self.live.running()
        await asyncio.gather(*(self.stop(a, "shutdown") for a in answers), return_exceptions=True)
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=grace_seconds)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` in the background, kept until it ends (and cancelled at shutdown)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _drain(self, seconds: float) -> None:
        tasks = [a.task for a in self.live.running() if a.task is not None]
        if tasks:
            logger.info("draining %d answers before stopping", len(tasks))
            await asyncio.wait(tasks, timeout=seconds)

    def close(self, answer: LiveAnswer) -> None:
        """Nothing more will be published for ``answer``."""
        answer.close()
        self.live.release(answer.id)
        self.spawn(self.broker.disown(answer.id))
