"""Server-Sent Events: the wire format and the loop that follows one live answer.

Hand-rolled on Starlette's ``StreamingResponse`` rather than sse-starlette: the events are
simple, and the loop below coalesces everything that arrived since the last write into one
chunk (one ``token`` event for many tokens), which matters at hundreds of streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pydantic_core
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from energyapp.chat.live import LiveAnswer

PING_INTERVAL = 15.0
# After a token write, the next one waits this long so that tokens arriving in a burst leave in
# one write: every write is a system call (the profile showed sends dominating the CPU), and
# 30 ms batches still read as a smooth stream. The first token and the end are never delayed
# (the hold ends when the answer does); a real Ollama on CPU (tokens 50-300 ms apart) never
# waits.
COALESCE_SECONDS = 0.03
# A new answer's ids (``meta``) wait this long for its first token, so that with a quick model
# the headers, the ids and the first token leave together and the client wakes once for
# them (bench/ttft_ab.py: -0.35 ms of time to first token on this VM). Any CPU Ollama is
# slower than this: the ids then leave alone, 10 ms later, long before a person could act on
# them. A queue position, an error or the end of the answer stops the wait at once.
FIRST_WAIT = 0.01
PING = b": ping\n\n"
SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx-style proxies: do not buffer
    "Connection": "keep-alive",
}


def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + pydantic_core.to_json(data) + b"\n\n"


def meta_event(answer_id: str, conversation_id: str, user_message_id: str) -> bytes:
    return event(
        "meta",
        {
            "conversation_id": conversation_id,
            "user_message_id": user_message_id,
            "assistant_message_id": answer_id,
        },
    )


async def follow(
    answer: LiveAnswer,
    first: bytes = b"",
    ping_interval: float = PING_INTERVAL,
    coalesce: float = COALESCE_SECONDS,
    first_wait: float = FIRST_WAIT,
) -> AsyncIterator[bytes]:
    """Events of ``answer`` from the start: its text so far as one ``token`` event, then live,
    until it is closed. The title (if one comes) follows ``done``. ``first`` (the ids) waits
    up to ``first_wait`` for the first news of an answer that has none yet."""
    cursor = 0
    sent_position: int | None = None
    sent_final = False
    sent_title = False
    pending = first
    loop = asyncio.get_running_loop()
    next_token_write = 0.0
    if first and not answer.parts and answer.position is None and not answer.finished:
        await answer.wait(first_wait)
    while True:
        chunks = [pending] if pending else []
        pending = b""
        position = answer.position
        if not answer.finished and position is not None and position != sent_position:
            sent_position = answer.position
            chunks.append(event("queue", {"position": sent_position}))
        parts = answer.parts
        if cursor < len(parts) and not answer.finished:
            delay = next_token_write - loop.time()
            if delay > 0:
                # Hold the tokens back, but not past the end of the answer: ``done`` and the
                # last tokens then leave at once.
                await answer.wait_for_end(delay)
                parts = answer.parts
        if cursor < len(parts):
            next_token_write = loop.time() + coalesce
            text = parts[cursor] if len(parts) == cursor + 1 else "".join(parts[cursor:])
            cursor = len(parts)
            chunks.append(event("token", {"content": text}))
        if answer.final is not None and not sent_final:
            sent_final = True
            chunks.extend(event(name, data) for name, data in answer.final)
        if answer.title is not None and not sent_title:
            sent_title = True
            chunks.append(event("title", {"title": answer.title}))
        if chunks:
            yield chunks[0] if len(chunks) == 1 else b"".join(chunks)
            continue
        if answer.closed:
            return
        if not await answer.wait(ping_interval):
            yield PING


def finished_stream(first: bytes, text: str, done: dict[str, Any]) -> AsyncIterator[bytes]:
    """A stream for an answer no longer live: its saved text, then ``done``."""

    async def _gen() -> AsyncIterator[bytes]:
        body = first
        if text:
            body += event("token", {"content": text})
        yield body + event("done", done)

    return _gen()


class EventStreamResponse(StreamingResponse):
    """``text/event-stream`` that stops following as soon as the client goes away.

    The status line and the headers are sent with the first chunk, back to back, as Go's
    ``net/http`` (Ollama's server) sends them; so the stream's first chunk must come promptly
    (:func:`follow` yields the ids within ``FIRST_WAIT``).

    Starlette's ``StreamingResponse`` watches for the disconnect with an anyio task group (two
    tasks and a cancel scope per response), which was 6 % of the app's CPU at one stream at a
    time; here one plain asyncio task waits for ``http.disconnect`` and cancels the writer.
    Only the watcher goes: the answer itself is generated and saved whatever the client does.
    """

    def __init__(self, stream: AsyncIterator[bytes]) -> None:
        super().__init__(stream, media_type="text/event-stream", headers=SSE_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        writer = asyncio.current_task()
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            if writer is not None:
                writer.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        stream = cast(AsyncIterator[bytes], self.body_iterator)  # built from one, in __init__
        start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
        started = False
        try:
            try:
                try:
                    head = await anext(stream)
                except StopAsyncIteration:
                    head = b""
                started = True
                await send(start)
                if head:
                    await send({"type": "http.response.body", "body": head, "more_body": True})
                async for chunk in stream:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                watcher.cancel()
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()
        except asyncio.CancelledError:
            if not gone or writer is None:
                raise  # a shutdown, not the client leaving
            writer.uncancel()
            if not started:
                # It left before the first chunk; its question was taken and its answer goes
                # on, so the access log and the metrics record a 200 (the server sends nothing).
                await send(start)


def sse_response(stream: AsyncIterator[bytes]) -> EventStreamResponse:
    return EventStreamResponse(stream)
