"""How long a waiting answer will wait for a slot: an estimate for the ``queue`` event.

On the CPU server an answer holds a slot for a minute or more, so "En cola: posición 3" alone
leaves a person guessing whether to wait. The estimate is the usual one for a queue served by
``slots`` servers: the answer at ``position`` gets a slot after about ``position`` slots were
given back, and slots are given back about ``slots / typical`` times a second, where
``typical`` is the median time recent complete answers held their slot (from the slot's grant
to the end: prompt reading and writing, not the wait before).

Each process measures the answers it ran itself. With several processes (the Redis broker)
each sees a sample of the same Ollama servers' answers, so each estimates the same figure:
nothing here has to be shared. No estimate (None) until ``MIN_SAMPLES`` answers ended.
"""

from __future__ import annotations

import statistics
from collections import deque

SAMPLES = 50  # the most recent answers the median is taken over
MIN_SAMPLES = 3


class SlotTimes:
    """Recent complete answers' time on their slot, and the wait they let one expect."""

    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self._seconds: deque[float] = deque(maxlen=SAMPLES)

    def record(self, seconds: float) -> None:
        """A complete answer held its slot ``seconds``."""
        if seconds >= 0:
            self._seconds.append(seconds)

    def wait_seconds(self, position: int | None) -> int | None:
        """The expected wait, in whole seconds, of the answer at ``position`` (1: next) in the
        queue; None while running (no position) or before enough answers were measured."""
        if position is None or position < 1 or len(self._seconds) < MIN_SAMPLES:
            return None
        typical = statistics.median(self._seconds)
        return round(position * typical / self.slots)
