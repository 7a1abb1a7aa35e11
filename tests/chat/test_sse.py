"""The SSE loop that follows a live answer (positions, text so far in one event, title after
done) and the response that carries it (sse-starlette: headers, pings, a client that leaves)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sse_starlette import ServerSentEvent

from energyapp.chat import sse
from energyapp.chat.live import LiveAnswer

pytestmark = pytest.mark.no_database

META = sse.meta_event("a", "c", "q")


def _new() -> LiveAnswer:
    return LiveAnswer(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())


def _named(event: ServerSentEvent) -> tuple[str | None, Any]:
    return event.event, json.loads(str(event.data))


async def test_follow_sends_positions_text_end_and_title() -> None:
    answer = _new()
    answer.set_position(2, 95)
    stream = sse.follow(answer, META)
    assert await anext(stream) is META
    assert _named(await anext(stream)) == ("queue", {"position": 2, "wait_seconds": 95})
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # nothing new: the loop waits (sse-starlette sends the pings)
    answer.set_position(1)
    assert _named(await waiting) == ("queue", {"position": 1, "wait_seconds": None})
    answer.set_position(None)
    for piece in ("Hola", ",", " mundo"):
        answer.publish(piece)
    # Everything that arrived while the client was away from the loop leaves as one event.
    assert _named(await anext(stream)) == ("token", {"content": "Hola, mundo"})
    late = sse.follow(answer)
    assert _named(await anext(late)) == ("token", {"content": "Hola, mundo"})
    answer.finish([("done", {"status": "complete"})])
    assert _named(await anext(stream)) == ("done", {"status": "complete"})
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # the stream stays open for the title
    answer.set_title("Saludo al mundo")
    assert _named(await waiting) == ("title", {"title": "Saludo al mundo"})
    answer.close()
    assert [event async for event in stream] == []
    assert [event.event async for event in late] == ["done", "title"]


async def test_an_error_is_followed_by_done() -> None:
    answer = _new()
    stream = sse.follow(answer)
    answer.finish([("error", {"code": "llm_unavailable"}), ("done", {"status": "error"})])
    answer.close()
    assert [event.event async for event in stream] == ["error", "done"]
    assert answer.status == "error"


async def test_a_watcher_that_goes_away_cancels_nothing_shared() -> None:
    answer = _new()
    first = asyncio.ensure_future(answer.wait())
    second = asyncio.ensure_future(answer.wait())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    answer.publish("x")
    await asyncio.wait_for(second, 1)


class _Client:
    """The client's side of one response: what was sent to it, and a ``receive`` that reports
    its disconnect after ``leaves_after`` seconds (never, when None)."""

    def __init__(self, leaves_after: float | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.leaves_after = leaves_after

    async def receive(self) -> dict[str, object]:
        if self.leaves_after is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(self.leaves_after)
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def serve(self, events: AsyncIterator[ServerSentEvent]) -> None:
        scope = {"type": "http", "method": "GET", "headers": []}
        await sse.sse_response(events)(scope, self.receive, self.send)


async def test_the_response_stops_following_when_the_client_leaves() -> None:
    answer = _new()
    closed = asyncio.Event()

    async def watched() -> AsyncIterator[ServerSentEvent]:
        try:
            async for event in sse.follow(answer, META):
                yield event
        finally:
            closed.set()

    client = _Client(leaves_after=0.05)
    await asyncio.wait_for(client.serve(watched()), timeout=2)
    assert closed.is_set() and not answer.closed  # only the watcher stopped
    start = client.sent[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert headers[b"cache-control"] == b"no-store"
    assert headers[b"x-accel-buffering"] == b"no"
    assert client.sent[1]["body"].startswith(b"event: meta\ndata: ")


async def test_the_response_ends_with_its_events() -> None:
    answer = _new()
    answer.publish("Hola")
    answer.finish([("done", {"status": "complete"})])
    answer.close()
    client = _Client()
    await asyncio.wait_for(client.serve(sse.follow(answer, META)), timeout=2)
    body = b"".join(m.get("body", b"") for m in client.sent[1:]).decode()
    assert [line for line in body.split("\n") if line.startswith("event: ")] == [
        "event: meta",
        "event: token",
        "event: done",
    ]
    assert client.sent[-1]["more_body"] is False


async def test_a_quiet_stream_is_pinged() -> None:
    answer = _new()
    client = _Client(leaves_after=1.3)
    response = sse.sse_response(sse.follow(answer, META))
    response.ping_interval = 0.5
    scope = {"type": "http", "method": "GET", "headers": []}
    await asyncio.wait_for(response(scope, client.receive, client.send), timeout=3)
    pings = [m for m in client.sent if m.get("body", b"").startswith(b": ping")]
    assert len(pings) >= 2
    assert sse.PING_INTERVAL == 15
