"""Automatic titles: a short request after a conversation's first good answer.

A title only runs when no user's answer is waiting for a slot, and gives its slot up as soon
as one arrives (titles never delay an answer); it then waits for the next quiet moment, a few
times at most. When the server's last prompt was this answer's, the title is asked as the
next turn of the conversation (:func:`prompt.title_follow_up`: the model reads only the
instruction and the conversation stays in its prompt cache); otherwise, of an excerpt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from energyapp.chat import prompt
from energyapp.chat import service as chat_service
from energyapp.chat.live import LiveAnswer
from energyapp.core.metrics import TITLES_PREEMPTED
from energyapp.llm import client as llm

if TYPE_CHECKING:
    from energyapp.chat.engine import ChatEngine, Job

logger = logging.getLogger("energyapp.chat")

TITLE_TIMEOUT = 120.0
TITLE_ATTEMPTS = 5  # a title given up for users' answers this many times keeps the first words


async def write_title(
    engine: ChatEngine,
    answer: LiveAnswer,
    job: Job,
    text: str,
    asked: list[dict[str, str]] | None,
) -> None:
    """Name the conversation of ``answer`` (unless a person named it meanwhile), tell its
    watchers, and close the answer."""
    try:
        raw = await _title_request(engine, _payloads(engine, answer, job, text, asked))
        title = prompt.clean_title(raw) if raw is not None else None
        if title:
            async with engine.sessionmaker.begin() as session:
                saved = await chat_service.save_auto_title(session, job.conversation_id, title)
            if saved:
                answer.set_title(title)
    except llm.LLMError as exc:
        logger.info("automatic title failed", extra={"code": exc.code})
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("automatic title crashed")
    finally:
        engine.close(answer)


def _payloads(
    engine: ChatEngine,
    answer: LiveAnswer,
    job: Job,
    text: str,
    asked: list[dict[str, str]] | None,
) -> Callable[[str], dict[str, Any]]:
    """The title request for a server: a follow-up when its cache holds this conversation."""
    settings = engine.settings
    options = prompt.chat_options(settings)
    options.update(num_predict=settings.title_num_predict, temperature=0.2)

    def payload_for(server: str) -> dict[str, Any]:
        messages = None
        if asked is not None and engine.last_prompt.get(server) == answer.id:
            messages = prompt.title_follow_up(settings, asked, text)
        if messages is None:
            messages = prompt.title_messages(job.message, text)
            engine.last_prompt[server] = None
        return llm.chat_payload(
            job.model, messages, options=options, keep_alive=settings.keep_alive, stream=False
        )

    return payload_for


async def _title_request(
    engine: ChatEngine, payload_for: Callable[[str], dict[str, Any]]
) -> str | None:
    """The model's raw title, or None when it was preempted every time it tried."""
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
            server = await engine.queue.acquire(None, on_preempt=preempt)
            raw, _stats = await llm.chat_once(
                engine.http, server, payload_for(server), read_timeout=TITLE_TIMEOUT
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
                await engine.queue.release(server, None, on_preempt=preempt)
    return None
