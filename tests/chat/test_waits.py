"""The wait told to a queued answer (``queue`` event's ``wait_seconds``, chat/waits.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from energyapp.chat.waits import QueuePlace, QueueTimes
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import LiveApp, named, open_chat, read_until
from tests.conftest import HeadersFactory, UserFactory

Events = list[tuple[str, dict[str, Any]]]
Chat = tuple[httpx.Response, AsyncIterator[tuple[str, dict[str, Any]]]]


@pytest.mark.no_database
def test_the_wait_is_the_place_times_the_median_time_first_in_line() -> None:
    times = QueueTimes()
    times.record(30.0)
    times.record(90.0)
    assert times.wait_seconds(1) is None  # two answers measured: too few to say
    times.record(60.0)
    times.record(600.0)  # one very long wait moves the median, not the mean, little
    assert times.wait_seconds(1) == 75
    assert times.wait_seconds(3) == 225
    assert times.wait_seconds(None) is None and times.wait_seconds(0) is None
    for _ in range(60):  # only the most recent answers count
        times.record(10.0)
    assert times.wait_seconds(2) == 20


@pytest.mark.no_database
def test_a_place_measures_only_its_time_first_in_line(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 105.0, 130.0])
    monkeypatch.setattr("energyapp.chat.waits.time.perf_counter", lambda: next(clock))
    times = QueueTimes()
    told: list[tuple[int | None, int | None]] = []
    place = QueuePlace(times, lambda position, wait: told.append((position, wait)))
    place.moved(2)
    place.moved(1)  # first in line at 100
    place.moved(2)  # moved back by a newcomer's turn (round-robin): that time does not count
    place.moved(1)  # first again at 105
    place.granted()  # at 130
    assert list(times._seconds) == [25.0]
    assert told == [(2, None), (1, None), (2, None), (1, None)]
    unqueued = QueuePlace(times, lambda position, wait: None)
    unqueued.granted()  # a slot at once: nothing measured
    assert list(times._seconds) == [25.0]


async def test_a_queued_answer_is_told_its_expected_wait(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    """One slot: no estimate before three answers waited first in line; then the first in the
    queue is told the median of those waits, the second twice that."""
    fake[1].config.tokens_per_second = 100
    fake[1].config.answer_tokens = 8
    alice = await auth_headers(await make_user())
    bob = await auth_headers(await make_user())
    async with live_app(ollama_max_parallel=1, max_active_per_user=3) as (base, app):
        times: QueueTimes = app.state.chat.queue_times
        first = await open_chat(http, base, alice, message="Primera")
        second = await open_chat(http, base, bob, message="Segunda")
        events: Events = []
        await read_until(second[1], events, "queue")
        assert named(events, "queue")[0] == {"position": 1, "wait_seconds": None}
        await _to_the_end(first, [])
        await _to_the_end(second, events)
        (waited,) = times._seconds  # Bob's answer, first in line while Alice's was written
        assert 0 < waited < 5
        for _ in range(3):  # as if three answers had waited 40 s since: the median is 40 s
            times.record(40.0)

        fake[1].config.tokens_per_second = 20  # slower: the next two wait behind this one
        running = await open_chat(http, base, alice, message="Tercera")
        waiting: list[tuple[Chat, Events]] = []
        for headers, text in ((bob, "Cuarta"), (alice, "Quinta")):
            chat = await open_chat(http, base, headers, message=text)
            got: Events = []
            await read_until(chat[1], got, "queue")
            waiting.append((chat, got))
        told = [named(got, "queue")[0] for _, got in waiting]
        assert told == [
            {"position": 1, "wait_seconds": 40},
            {"position": 2, "wait_seconds": 80},
        ]
        await _to_the_end(running, [])
        for chat, got in waiting:
            await _to_the_end(chat, got)


async def _to_the_end(chat: Chat, events: Events) -> None:
    await read_until(chat[1], events, "done")
    assert named(events, "done")[0]["status"] == "complete"
    await chat[0].aclose()
