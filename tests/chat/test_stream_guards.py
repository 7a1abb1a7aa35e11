"""The guard of an answer stream (``chat/revocation.py``) alone: a notice makes it check at
once, a failed check lets the stream go on, and the events are closed when it ends them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from energyapp.chat.revocation import StreamGuards

pytestmark = pytest.mark.no_database


async def test_a_failed_check_goes_on_and_a_check_that_fails_the_credential_ends_it() -> None:
    guards = StreamGuards()
    guards.recheck_seconds = 3600  # only the notices make it check
    user, other = uuid.uuid4(), uuid.uuid4()
    verdicts: list[BaseException | bool] = [RuntimeError("database away"), False]
    closed = asyncio.Event()

    async def holds() -> bool:
        verdict = verdicts.pop(0)
        if isinstance(verdict, BaseException):
            raise verdict
        return verdict

    async def events() -> AsyncIterator[str]:
        try:
            yield "primero"
            await asyncio.Event().wait()  # an answer that is slow to go on
            yield "nunca"
        finally:
            closed.set()

    stream = guards.guarded(events(), user, holds, "fin")
    assert await anext(stream) == "primero"
    following = asyncio.ensure_future(anext(stream))
    guards.wake(other)  # another person's notice: no check
    guards.wake(user)
    while len(verdicts) == 2:
        await asyncio.sleep(0.01)
    assert not following.done()  # the failed check let it go on
    guards.wake(user)
    assert await following == "fin"
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert closed.is_set() and not verdicts


async def test_events_always_ready_do_not_starve_the_check() -> None:
    # A fast answer read by a slow client (or one that reads slowly on purpose) always has its
    # next event waiting: the notice must still be heard before the next event is handed out.
    guards = StreamGuards()
    guards.recheck_seconds = 3600
    user = uuid.uuid4()
    valid = True

    async def holds() -> bool:
        return valid

    async def events() -> AsyncIterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    stream = guards.guarded(events(), user, holds, -1)
    for _ in range(3):
        assert await anext(stream) >= 0
    valid = False
    guards.wake(user)
    assert await anext(stream) == -1
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
