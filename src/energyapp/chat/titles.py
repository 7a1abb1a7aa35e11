"""Automatic titles, designed for the model server's prompt cache.

On a CPU server a prompt the model has not just read costs seconds, and each request of another
conversation may evict someone's conversation from its slot (``docs/performance.md``). So a
conversation's title is, at most once:

- asked as the next turn of the conversation right after its first good answer
  (:func:`prompt.title_follow_up`): the slot that answered still holds the conversation, the
  model reads only the instruction, and the user's next message finds the conversation there;
- or, when that cannot be cheap — a user's answer is waiting, no slot is free at once, or the
  conversation no longer fits ``num_ctx`` — the first words of the first message, with no
  request at all.

A title never waits for a slot, so no waiting user would preempt it; a user who arrives while
it runs still does (the queue's preemption), and the conversation then keeps its first words:
no second attempt competes with users' answers. Only a failure of the model server (an error,
not a preemption) leaves the title pending for the conversation's next answer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from energyapp.chat import prompt
from energyapp.chat import service as chat_service
from energyapp.chat.live import LiveAnswer
from energyapp.core.metrics import TITLE_REQUESTS, TITLES_PREEMPTED
from energyapp.llm import client as llm

if TYPE_CHECKING:
    from energyapp.chat.engine import ChatEngine, Job

logger = logging.getLogger("energyapp.chat")

TITLE_TIMEOUT = 120.0
FREE_SLOT_WAIT = 0.05  # seconds a title waits for a slot the answer has just given back


async def write_title(
    engine: ChatEngine,
    answer: LiveAnswer,
    job: Job,
    text: str,
    asked: list[dict[str, str]] | None,
) -> None:
    """Name the conversation of ``answer`` (unless a person named it meanwhile), tell its
    watchers, and close the answer. The caller checked, when it saved the answer's end, that
    the conversation still waits for its title."""
    try:
        title = await _title(engine, job, asked, text)
        if title is None:
            title = prompt.provisional_title(job.message)
        async with engine.sessionmaker.begin() as session:
            saved = await chat_service.save_auto_title(session, job.conversation_id, title)
        if saved:
            answer.set_title(title)
    except llm.LLMError as exc:
        logger.info("automatic title failed", extra={"reason": exc.code})
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("automatic title crashed")
    finally:
        engine.close(answer)


async def _title(
    engine: ChatEngine, job: Job, asked: list[dict[str, str]] | None, text: str
) -> str | None:
    """The model's title as a follow-up of the conversation, or None when it would not be
    cheap or was preempted (the caller keeps the first words)."""
    settings = engine.settings
    messages = prompt.title_follow_up(settings, asked, text) if asked is not None else None
    if messages is None or engine.queue.waiting():
        return None
    options = prompt.chat_options(settings)
    options.update(num_predict=settings.title_num_predict, temperature=0.2)
    payload = llm.chat_payload(job.model, messages, options=options, keep_alive=settings.keep_alive)
    task = asyncio.current_task()
    assert task is not None
    preempted = False
    affinity = str(job.conversation_id)  # only the slot that holds the conversation

    def preempt() -> None:
        nonlocal preempted
        preempted = True
        task.cancel()

    with engine.board.track(None, "title") as work:
        try:  # asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose a cancellation
            async with asyncio.timeout(FREE_SLOT_WAIT):
                server = await engine.queue.acquire(None, on_preempt=preempt, affinity=affinity)
        except TimeoutError:
            return None  # every slot is busy: no title that would wait for (or evict) a user
        engine.board.started(work)
        TITLE_REQUESTS.inc()
        try:
            raw, stats = await llm.chat_once(
                engine.http, server, payload, read_timeout=TITLE_TIMEOUT
            )
            prompt.record_prompt(messages, stats)
        except asyncio.CancelledError:
            if not preempted:
                raise
            task.uncancel()
            TITLES_PREEMPTED.inc()
            return None
        finally:
            await engine.queue.release(server, None, on_preempt=preempt, affinity=affinity)
        return prompt.clean_title(raw)
