"""The stand-in's CPU mode as a discrete-event model, for bench/office_sim.py.

``llm/cpu_server.py`` without ``--batching``, step for step: slots keeping the text of their last
sequence, the idle slot with the longest common prefix chosen (ties to the least recently used),
the rest of the prompt read in batches of 512 tokens, then one token a step; every step lasts its
time alone times the slots busy when it starts; a cancel is seen between two steps; requests
beyond the idle slots wait first come, first served.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.office import _VOCABULARY

CHARS = 4
BATCH = 512
END = "<|im_end|>"
INF = math.inf


@dataclass(eq=False)
class Req:
    key: int | None  # the person (their one conversation); None: an excerpt title
    prompt: str
    tokens: int  # still to write
    miss: bool = False  # the app sent it to a slot without its conversation
    full: bool = True  # writes the whole answer (it then ends with the end-of-turn marker)
    on_first: Callable[[], None] | None = None
    on_end: Callable[[], None] | None = None
    cancelled: bool = False
    slot: Slot | None = None  # the app's line
    server_slot: Slot | None = None  # the stand-in's
    todo: int = 0
    total: int = 0
    answer: str = ""
    attempts: int = 0  # A's titles: tries left
    follow: str = ""  # A's titles: the follow-up prompt
    tag: tuple[int, int] | None = None  # (person, turn) of the answer or of the title's answer


@dataclass
class Slot:
    cache: str = ""
    busy: bool = False
    used_at: int = 0
    # the app's picture of it
    key: int | None = None
    app_busy: bool = False
    idle_since: float = -INF


@dataclass
class Result:
    ttft: list[float] = field(default_factory=list)
    sent: int = 0
    evaluated: int = 0
    requests: int = 0
    titles: int = 0
    answers: int = 0

    @property
    def share(self) -> float:
        return self.evaluated / max(1, self.sent)


def chatml(messages: list[tuple[str, str]]) -> str:
    text = "".join(f"<|im_start|>{role}\n{content}{END}\n" for role, content in messages)
    return text + "<|im_start|>assistant\n"


class StandIn:
    """The event loop and the model server; the app (``Sim``) lives on top of it."""

    def __init__(
        self, slots: int, seed: int, rates: tuple[float, float, float], *, warm: bool, steer: bool
    ) -> None:
        self.ptps, self.gtps, self.load_s = rates
        self.steer = steer
        self.rng = random.Random(seed + 1000)  # noqa: S311 - synthetic answers
        self.slots = [Slot() for _ in range(slots)]
        self.now = 0.0
        self.events: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = itertools.count()
        self.clock = itertools.count(1)
        self.ready: float | None = 0.0 if warm else None  # when the model is loaded
        self.server_queue: deque[Req] = deque()
        self.result = Result()

    def at(self, when: float, work: Callable[[], None]) -> None:
        heapq.heappush(self.events, (when, next(self.seq), work))

    def loop(self) -> Result:
        while self.events:
            self.now, _, work = heapq.heappop(self.events)
            work()
        return self.result

    def server_next(self) -> None:
        while self.server_queue and any(not s.busy for s in self.slots):
            req = self.server_queue.popleft()
            if req.cancelled:
                continue
            wanted = req.slot if self.steer and req.slot and not req.slot.busy else None
            slot = wanted or max(
                (s for s in self.slots if not s.busy),
                key=lambda s: (
                    len(os.path.commonprefix([s.cache, req.prompt])) // CHARS,
                    -s.used_at,
                ),
            )
            slot.busy, slot.used_at = True, next(self.clock)
            req.server_slot = slot
            req.total = math.ceil(len(req.prompt) / CHARS)
            shared = min(
                len(os.path.commonprefix([slot.cache, req.prompt])) // CHARS, req.total - 1
            )
            slot.cache = req.prompt[: shared * CHARS]
            req.todo = req.total - shared
            self.result.sent += req.total
            if self.ready is None:
                self.ready = self.now + self.load_s
            self.at(max(self.now, self.ready), lambda r=req: self.step(r))

    def step(self, req: Req) -> None:
        """One step of ``req`` on its slot: a prompt batch, a token, or the end."""
        slot = req.server_slot
        assert slot is not None
        busy = sum(s.busy for s in self.slots)
        if req.cancelled:
            self.free_slot(slot)
        elif req.todo > 0:
            batch = min(BATCH, req.todo)

            def read() -> None:
                req.todo -= batch
                self.result.evaluated += batch
                slot.cache = req.prompt[: (req.total - req.todo) * CHARS]
                self.step(req)

            self.at(self.now + batch / self.ptps * busy, read)
        elif req.tokens > 0:

            def write() -> None:
                if req.cancelled:
                    self.free_slot(slot)
                    return
                if not req.answer and req.on_first:
                    req.on_first()
                token = self.rng.choice(_VOCABULARY)[:CHARS].ljust(CHARS)
                req.answer += token
                slot.cache += token
                req.tokens -= 1
                self.step(req)

            self.at(self.now + 1 / self.gtps * busy, write)
        else:
            slot.cache = req.prompt + req.answer + (END if req.full else "")
            self.free_slot(slot)
            if req.on_end:
                req.on_end()

    def free_slot(self, slot: Slot) -> None:
        slot.busy, slot.used_at = False, next(self.clock)
        self.server_next()
