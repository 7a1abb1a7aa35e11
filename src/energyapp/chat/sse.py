"""Server-Sent Events: the events of one answer, sent with sse-starlette.

sse-starlette sends the ping every 15 s, the no-buffering headers, and stops the loop below
when the client goes away. Only the watcher stops: the answer itself is generated and saved
whatever the client does (``chat/engine.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pydantic_core
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from energyapp.chat.live import LiveAnswer
from energyapp.chat.watchers import Watch, counted

PING_INTERVAL = 15


def event(name: str, data: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(data=pydantic_core.to_json(data).decode(), event=name, sep="\n")


def token_event(text: str, event_id: str | None = None) -> ServerSentEvent:
    data = pydantic_core.to_json({"content": text}).decode()
    return ServerSentEvent(data=data, event="token", id=event_id, sep="\n")


def meta_event(answer_id: str, conversation_id: str, user_message_id: str) -> ServerSentEvent:
    return event(
        "meta",
        {
            "conversation_id": conversation_id,
            "user_message_id": user_message_id,
            "assistant_message_id": answer_id,
        },
    )


async def follow(
    answer: LiveAnswer, first: ServerSentEvent | None = None
) -> AsyncIterator[ServerSentEvent]:
    """Events of ``answer`` from the start: its text so far as one ``token`` event, then live,
    until it is closed. Whatever arrived while the client was being written to leaves as one
    event. The title (if one comes) follows ``done``."""
    if first is not None:
        yield first
    cursor = 0
    sent_position: int | None = None
    sent_final = False
    sent_title = False
    while True:
        sent = False
        position = answer.position
        if not answer.finished and position is not None and position != sent_position:
            sent_position = position
            sent = True
            yield event("queue", {"position": position, "wait_seconds": answer.wait_seconds})
        parts = answer.parts
        if cursor < len(parts):
            text = "".join(parts[cursor:])
            cursor = len(parts)
            sent = True
            yield token_event(text)
        if answer.final is not None and not sent_final:
            sent_final = sent = True
            for name, data in answer.final:
                yield event(name, data)
        if answer.title is not None and not sent_title:
            sent_title = sent = True
            yield event("title", {"title": answer.title})
        if sent:
            continue
        if answer.closed:
            return
        await answer.wait()


def stream_entries(entries: list[tuple[str, dict[str, str]]]) -> Iterator[ServerSentEvent | None]:
    """The events of a batch of an answer's Redis Stream entries (``chat/redis_broker.py``),
    consecutive tokens joined into one (a late watcher gets the text so far in one piece); None
    at the end of the answer."""
    text: list[str] = []
    last_token = ""
    for entry_id, fields in entries:
        name = fields["e"]
        if name == "token":
            text.append(pydantic_core.from_json(fields["d"])["content"])
            last_token = entry_id
            continue
        if text:
            yield token_event("".join(text), last_token)
            text = []
        if name == "end":
            yield None
            return
        if name != "open":
            yield ServerSentEvent(data=fields["d"], event=name, id=entry_id, sep="\n")
    if text:
        yield token_event("".join(text), last_token)


async def finished_stream(
    first: ServerSentEvent, text: str, done: dict[str, Any]
) -> AsyncIterator[ServerSentEvent]:
    """The events of an answer no longer live: its saved text, then ``done``."""
    yield first
    if text:
        # The whole text: it replaces what a resuming client has (nothing to append it to).
        yield event("token", {"content": text, "replace": True})
    yield event("done", done)


async def no_events() -> AsyncIterator[ServerSentEvent]:
    """A stream that ends at once: what a HEAD of a stream gets (core/head.py)."""
    nothing: tuple[ServerSentEvent, ...] = ()
    for item in nothing:
        yield item


# When the server stops, a stream that reads the shared broker gets this long to tell its client
# to re-attach through another process (``reconnect``) before it is cut.
SHUTDOWN_GRACE = 3.0


def sse_response(
    events: AsyncIterator[ServerSentEvent],
    closing: anyio.Event | None = None,
    watch: Watch | None = None,
) -> EventSourceResponse:
    """The stream of ``events``; ``watch`` (a counted stream, ``chat/watchers.py``) ends with
    it: when the events end, fail or the client leaves, or, should the events never be read,
    once the response is over."""
    if watch is not None:
        events = counted(events, watch)
    return EventSourceResponse(
        events,
        ping=PING_INTERVAL,
        sep="\n",
        shutdown_event=closing,
        shutdown_grace_period=SHUTDOWN_GRACE if closing is not None else 0,
        background=BackgroundTask(watch.end) if watch is not None else None,
    )
