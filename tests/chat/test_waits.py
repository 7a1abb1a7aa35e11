"""The wait told to a queued answer (``queue`` event's ``wait_seconds``, chat/waits.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from energyapp.chat.waits import SlotTimes
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import LiveApp, ask, named, open_chat, read_until
from tests.conftest import HeadersFactory, UserFactory

Events = list[tuple[str, dict[str, Any]]]
Chat = tuple[httpx.Response, AsyncIterator[tuple[str, dict[str, Any]]]]


@pytest.mark.no_database
def test_the_wait_is_the_place_times_the_median_answer_over_the_slots() -> None:
    times = SlotTimes(slots=2)
    times.record(30.0)
    times.record(90.0)
    assert times.wait_seconds(1) is None  # two answers measured: too few to say
    times.record(60.0)
    times.record(600.0)  # one very long answer moves the median, not the mean, little
    assert times.wait_seconds(1) == 38  # 1 x median 75 s / 2 slots
    assert times.wait_seconds(4) == 150
    assert times.wait_seconds(None) is None and times.wait_seconds(0) is None
    for _ in range(60):  # only the most recent answers count
        times.record(10.0)
    assert times.wait_seconds(2) == 10


async def test_a_queued_answer_is_told_its_expected_wait(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    """One slot: no estimate before three answers ended; then the first in the queue is told
    the median time an answer held the slot, the second twice that."""
    fake[1].config.tokens_per_second = 200
    fake[1].config.answer_tokens = 8
    alice = await auth_headers(await make_user())
    bob = await auth_headers(await make_user())
    async with live_app(ollama_max_parallel=1, max_active_per_user=3) as (base, app):
        times: SlotTimes = app.state.chat.slot_times
        first = await open_chat(http, base, alice, message="Primera")
        second = await open_chat(http, base, bob, message="Segunda")
        events: Events = []
        await read_until(second[1], events, "queue")
        assert named(events, "queue")[0] == {"position": 1, "wait_seconds": None}
        await _to_the_end(first, [])
        await _to_the_end(second, events)
        await ask(http, base, alice, message="Tercera")
        assert len(times._seconds) == 3  # each complete answer's time on the slot
        assert all(0 < held < 5 for held in times._seconds)
        for _ in range(4):  # as if four answers of 40 s had ended since: the median is 40 s
            times.record(40.0)

        fake[1].config.tokens_per_second = 20  # slower: the next two wait behind this one
        running = await open_chat(http, base, alice, message="Cuarta")
        waiting: list[tuple[Chat, Events]] = []
        for headers, text in ((bob, "Quinta"), (alice, "Sexta")):
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
