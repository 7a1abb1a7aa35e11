"""The SSE loop that follows a live answer: coalescing, positions, pings, title after done."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

from energyapp.chat import sse
from energyapp.chat.live import LiveAnswer


def _parse(chunk: bytes) -> list[tuple[str, object]]:
    events = []
    for block in chunk.decode().split("\n\n"):
        if block.startswith(": ping"):
            events.append(("ping", None))
        elif block:
            name, data = block.split("\n")
            events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


META = sse.meta_event("a", "c", "q")


class _Client:
    """The client's side of one response: what was sent to it, and a ``receive`` that reports
    its disconnect after ``leaves_after`` seconds (never, when None)."""

    def __init__(self, leaves_after: float | None = None) -> None:
        self.sent: list[dict[str, object]] = []
        self.leaves_after = leaves_after

    async def receive(self) -> dict[str, object]:
        if self.leaves_after is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(self.leaves_after)
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, object]) -> None:
        self.sent.append(message)

    async def serve(self, stream: AsyncIterator[bytes]) -> None:
        await sse.EventStreamResponse(stream)({"type": "http"}, self.receive, self.send)


async def test_follow_coalesces_and_pings() -> None:
    answer = LiveAnswer(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    answer.set_position(2)
    stream = sse.follow(answer, b"", ping_interval=0.05)
    assert _parse(await anext(stream)) == [("queue", {"position": 2})]
    assert _parse(await anext(stream)) == [("ping", None)]  # nothing for 50 ms
    answer.set_position(1)
    assert _parse(await anext(stream)) == [("queue", {"position": 1})]
    answer.set_position(None)
    for piece in ("Hola", ",", " mundo"):
        answer.publish(piece)
    assert _parse(await anext(stream)) == [("token", {"content": "Hola, mundo"})]
    late = sse.follow(answer, b"first")
    assert await anext(late) == b"first" + sse.event("token", {"content": "Hola, mundo"})
    answer.finish([("done", {"status": "complete"})])
    assert _parse(await anext(stream)) == [("done", {"status": "complete"})]
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # the stream stays open for the title
    answer.set_title("Saludo al mundo")
    assert _parse(await waiting) == [("title", {"title": "Saludo al mundo"})]
    answer.close()
    assert [chunk async for chunk in stream] == []
    rest = b"".join([chunk async for chunk in late])
    assert [name for name, _ in _parse(rest)] == ["done", "title"]


async def test_held_tokens_leave_with_the_end_at_once() -> None:
    """Tokens held back to leave together are not held past the end of the answer: the last
    ones and ``done`` go out as soon as it finishes, not when the hold would have ended."""
    answer = LiveAnswer(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    stream = sse.follow(answer, b"", coalesce=60)
    answer.publish("Hola")
    assert _parse(await anext(stream)) == [("token", {"content": "Hola"})]
    answer.publish(",")
    answer.publish(" mundo")
    held = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)
    assert not held.done()  # within the hold, more tokens wait for company
    answer.publish(".")
    await asyncio.sleep(0.05)
    assert not held.done()  # a new token does not end the hold
    answer.finish([("done", {"status": "complete"})])
    assert _parse(await asyncio.wait_for(held, 1)) == [
        ("token", {"content": ", mundo."}),
        ("done", {"status": "complete"}),
    ]
    assert await answer.wait_for_end(60) is True  # already finished: no wait


async def test_a_watcher_that_goes_away_cancels_nothing_shared() -> None:
    answer = LiveAnswer(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    first = asyncio.ensure_future(answer.wait(5))
    second = asyncio.ensure_future(answer.wait(5))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    answer.publish("x")
    assert await second is True


async def test_waits_that_time_out_leave_nothing_behind() -> None:
    """A watcher waiting in a long queue times out every ping interval: its waits must not pile
    up on the answer, and a wake after them still wakes the next one."""
    answer = LiveAnswer(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    for _ in range(3):
        assert await answer.wait(0.01) is False
        assert await answer.wait_for_end(0.01) is False
    assert answer._waiters == [] and answer._end_waiters == []
    waiting = asyncio.ensure_future(answer.wait(5))
    await asyncio.sleep(0)
    answer.publish("x")
    assert await asyncio.wait_for(waiting, 1) is True


async def test_event_stream_stops_when_the_client_leaves() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b": ping\n\n"
                await asyncio.sleep(0.01)
        finally:
            closed.set()

    client = _Client(leaves_after=0.05)
    await asyncio.wait_for(client.serve(endless()), timeout=2)
    sent = client.sent
    assert closed.is_set()
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in sent[0]["headers"]  # type: ignore[operator]
    assert len(sent) > 2  # some pings went out before the client left


async def test_event_stream_ends_with_its_events() -> None:
    async def two() -> AsyncIterator[bytes]:
        yield b"event: a\ndata: {}\n\n"
        yield b"event: b\ndata: {}\n\n"

    client = _Client()
    await client.serve(two())
    sent = client.sent
    bodies = [m.get("body") for m in sent[1:]]
    assert bodies == [b"event: a\ndata: {}\n\n", b"event: b\ndata: {}\n\n", b""]
    assert sent[-1]["more_body"] is False


async def test_the_ids_wait_briefly_for_the_first_token() -> None:
    """A new answer's ids leave with its first token when that comes within ``first_wait``,
    alone when it does not, and at once with a queue position or an end."""
    quick = LiveAnswer(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    head = asyncio.ensure_future(anext(sse.follow(quick, META, first_wait=5)))
    await asyncio.sleep(0.05)
    assert not head.done()  # holding the ids for the first token
    quick.publish("Hola")
    assert await asyncio.wait_for(head, 1) == META + sse.event("token", {"content": "Hola"})

    slow = LiveAnswer(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    stream = sse.follow(slow, META, first_wait=0.05)
    assert await asyncio.wait_for(anext(stream), 1) == META  # not a moment longer
    slow.publish("Hola")
    assert _parse(await anext(stream)) == [("token", {"content": "Hola"})]

    queued = LiveAnswer(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    head = asyncio.ensure_future(anext(sse.follow(queued, META, first_wait=5)))
    await asyncio.sleep(0.05)
    queued.set_position(2)
    assert await asyncio.wait_for(head, 1) == META + sse.event("queue", {"position": 2})

    failed = LiveAnswer(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    head = asyncio.ensure_future(anext(sse.follow(failed, META, first_wait=5)))
    await asyncio.sleep(0.05)
    failed.finish([("error", {"code": "llm_unavailable"}), ("done", {"status": "error"})])
    events = _parse(await asyncio.wait_for(head, 1))
    assert [name for name, _ in events] == ["meta", "error", "done"]

    # A re-attach to an answer already under way sends its text with the ids, without waiting.
    going = LiveAnswer(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    going.publish("Ya")
    chunk = await asyncio.wait_for(anext(sse.follow(going, META, first_wait=5)), 1)
    assert chunk == META + sse.event("token", {"content": "Ya"})


async def test_event_stream_sends_its_headers_with_the_first_chunk() -> None:
    ready = asyncio.Event()

    async def late() -> AsyncIterator[bytes]:
        await ready.wait()
        yield b"event: a\ndata: {}\n\n"

    client = _Client()
    sent = client.sent
    responding = asyncio.ensure_future(client.serve(late()))
    await asyncio.sleep(0.05)
    assert sent == []  # nothing, not even the status line, before the first chunk
    ready.set()
    await asyncio.wait_for(responding, 1)
    assert [m["type"] for m in sent] == ["http.response.start", *["http.response.body"] * 2]
    assert sent[1]["body"] == b"event: a\ndata: {}\n\n" and sent[2]["body"] == b""


async def test_a_client_that_leaves_before_the_first_chunk_is_logged_as_served() -> None:
    async def late() -> AsyncIterator[bytes]:
        await asyncio.sleep(5)
        yield b"event: a\ndata: {}\n\n"

    client = _Client(leaves_after=0.05)
    await asyncio.wait_for(client.serve(late()), timeout=2)
    assert [(m["type"], m.get("status")) for m in client.sent] == [("http.response.start", 200)]
