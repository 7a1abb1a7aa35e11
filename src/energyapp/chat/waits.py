"""How long a waiting answer will wait for a slot: an estimate for the ``queue`` event.

On the CPU server an answer holds a slot for a minute or more, so "En cola: posición 3" alone
leaves a person guessing whether to wait. The estimate is ``position`` times the median time
recent answers spent first in line (from reaching position 1 to getting a slot): what the
queue really took to serve the one ahead, whatever made it so (answers' length, the slots, the
slots kept for a conversation's cache, ``chat/slots.py``). A first estimate from the answers'
time on a slot (``position`` x median / slots) missed that: on 4 slots for 6 people it told a
median of 20 s where people waited 78 (bench/office.py, docs/performance.md).

Each process measures the answers it queued itself. With several processes (the Redis broker)
the positions are the shared queue's, so each samples the same line: nothing here has to be
shared. No estimate (None) until ``MIN_SAMPLES`` answers were measured.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable

SAMPLES = 50  # the most recent answers the median is taken over
MIN_SAMPLES = 3


class QueueTimes:
    """Recent answers' time first in line, and the wait they let one expect."""

    def __init__(self) -> None:
        self._seconds: deque[float] = deque(maxlen=SAMPLES)

    def record(self, seconds: float) -> None:
        """An answer was first in line ``seconds`` before it got a slot."""
        if seconds >= 0:
            self._seconds.append(seconds)

    def wait_seconds(self, position: int | None) -> int | None:
        """The expected wait, in whole seconds, of the answer at ``position`` (1: next) in the
        queue; None while running (no position) or before enough answers were measured."""
        if position is None or position < 1 or len(self._seconds) < MIN_SAMPLES:
            return None
        return round(position * statistics.median(self._seconds))


class QueuePlace:
    """One answer's place in the queue: passes each new position on with the wait expected
    there (``tell``), and measures its time first in line for :class:`QueueTimes`."""

    def __init__(self, times: QueueTimes, tell: Callable[[int | None, int | None], None]) -> None:
        self._times = times
        self._tell = tell
        self._first_since: float | None = None

    def moved(self, position: int | None) -> None:
        """The queue's callback: a new position (round-robin may move an answer back)."""
        if position == 1:
            if self._first_since is None:
                self._first_since = time.perf_counter()
        else:
            self._first_since = None
        self._tell(position, self._times.wait_seconds(position))

    def granted(self) -> None:
        """The answer got a slot: its time first in line, if it waited there, is measured."""
        if self._first_since is not None:
            self._times.record(time.perf_counter() - self._first_since)
            self._first_since = None
