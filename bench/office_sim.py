"""The office hour, simulated: bench/office.py's workload on the stand-in's CPU mode, in memory.

    .venv/bin/python -m bench.office_frontier           # A, B and the policies swept
    .venv/bin/python -m bench.office_frontier --seeds 20 --slots 4 --only ORACLE

A deterministic discrete-event simulation, without the app, HTTP or sleeping: a run of the
6-person office takes milliseconds, so scheduling policies can be compared over many seeds
(the real benchmark takes ten minutes a run and its p95 rests on 30 samples).

What it models, mirroring the code it stands for:

- **the people** (``bench.office.workload``, same seeds): a question of 15-60 words, the answer
  read to its end, an exponential pause, the next question; one answer at a time per person;
- **the prompts** as the app builds them (``chat/prompt.py``: the system prompt, the whole
  history, the question) rendered with Qwen's ChatML (``llm/cpu_server.chatml``), 4 characters a
  token; answers of ``answer_tokens`` tokens of synthetic Spanish;
- **the stand-in** (``bench/office_standin.py``: ``llm/cpu_server.py`` without ``--batching``):
  ``caches`` slots keeping the text of their last sequence, the longest common prefix chosen, the
  CPU shared by the busy slots;
- **the app's queue** (``chat/queue.py``, ``chat/slots.py``): at most ``slots`` requests at once,
  round-robin by person, the app's own picture of which conversation each slot holds, and a
  :class:`Policy` deciding which waiting answer goes when (A: none; B: today's rule);
- **titles**, simply: A's (before issue 25) an excerpt request after the first answer, only when
  nobody waits, preempted by a waiting answer and retried up to 5 times; B's one follow-up turn on
  the conversation's slot, only when it is idle and nobody waits, never retried.

Limits: no app or network latency; the model's load only for A (B warms up at start-up); A's
title retries are fewer than measured (10 at 4 slots against 23), so A's share comes out 7-9
points high; only the stand-in's equal CPU sharing, not Ollama's batches; the wake-up order of
the stand-in's waiting requests only approximately. The oracle policies know each person's next
question time, which no server can, and "steered" ones choose Ollama's slot, which Ollama does
not allow: they bound what scheduling can do (docs/office-simulation.md has the results).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

from bench.office import workload
from bench.office_standin import CHARS, INF, Req, Result, Slot, StandIn, chatml

SYSTEM = (
    "Eres el asistente de EnergyApp, una plataforma privada de la empresa. "
    "Responde en español de Chile, de forma clara, breve y correcta."
)
TITLE_SYSTEM = (
    "Genera un título breve, de como máximo 6 palabras y en español, que resuma la "
    "conversación. Responde solo con el título: sin comillas, sin punto final y sin "
    "explicaciones."
)
TITLE_INSTRUCTION = (
    "Escribe un título breve para esta conversación: como máximo 6 palabras y en español. "
    "Responde solo con el título: sin comillas, sin punto final y sin explicaciones."
)


@dataclass(frozen=True)
class Policy:
    """How the app's queue chooses (defaults: B, today's ``main``)."""

    name: str = "B"
    hold: float = 60.0  # a held idle slot is not given to a miss for this long (0: no affinity)
    patience: float | None = None  # the bound: after this wait, plain round-robin (None: hold)
    keep_all: bool = False  # hold every idle slot of a busy server, not only a single one
    hits_first: bool = True  # an answer whose conversation sits in an idle slot goes first
    order: str = "fair"  # "fair", "spf" (fewest prompt tokens to read first)
    miss_after: float = INF  # a miss waiting this long goes before the hits
    miss_cap: int = 0  # a miss starts only while fewer requests run (0: slots)
    gate: str = ""  # while a miss reads its prompt: "miss" no other miss starts, "all" nothing
    oracle: bool = False  # holds and victims by the people's next question times
    horizon: float = 0.0  # oracle: keep a slot whose person returns within this many seconds
    steer: bool = False  # oracle: the server takes the slot the app chose (Ollama cannot)
    titles: str = "B"  # "A", "B" or "none"
    prefill: bool = False  # the warm-up leaves the system prompt in every slot (see Sim)
    warm: bool = True  # a warm-up at start-up (A: the first request loads the model)


A = Policy("A", hold=0.0, titles="A", warm=False)
B = Policy()


class Sim(StandIn):
    """The people and the app's queue under a :class:`Policy`."""

    def __init__(
        self,
        policy: Policy,
        slots: int,
        seed: int,
        users: int = 6,
        turns: int = 5,
        think: float = 20.0,
        answer_tokens: int = 120,
        prompt_tps: float = 60.0,
        gen_tps: float = 10.0,
        load_s: float = 4.0,
        caches: int = 0,
    ) -> None:
        """``slots``: the app's ``ollama_max_parallel``; ``caches``: the server's slots, each a
        prompt cache (``--ollama-parallel``; 0: as many)."""
        self.p, self.n = policy, slots
        self.patience = policy.hold if policy.patience is None else policy.patience
        self.people = workload(users, turns, think, seed)
        super().__init__(
            caches or slots,
            seed,
            (prompt_tps, gen_tps, load_s),
            warm=policy.warm,
            steer=policy.steer,
        )
        self.answer_tokens = answer_tokens
        if policy.prefill:  # else a used slot's system prompt beats an empty slot's nothing
            for slot in self.slots:
                slot.cache = chatml([("system", SYSTEM), ("user", "")])[
                    : -len("<|im_end|>\n<|im_start|>assistant\n")
                ]
        self.by_user: OrderedDict[int, deque[tuple[float, int, Req]]] = OrderedDict()
        self.background: deque[Req] = deque()  # A's titles waiting for a quiet moment
        self.last_sent: tuple[int, int] | None = None
        self.alarms: set[float] = set()
        self.history: list[list[tuple[str, str]]] = [[] for _ in self.people]
        self.returns = [INF] * users  # when each person asks next (the oracle's knowledge)
        self.turn = [0] * users
        self.reading = 0  # answers started on a slot without their conversation, no token yet
        self.preemptible: list[Req] = []

    def run(self) -> Result:
        for user, person in enumerate(self.people):
            self.returns[user] = person.pauses[0]
            self.at(person.pauses[0], lambda u=user: self.ask(u))
        return self.loop()

    # --- the people ---------------------------------------------------------------------------
    def ask(self, user: int) -> None:
        turn = self.turn[user]
        question = self.people[user].questions[turn]
        messages = [("system", SYSTEM), *self.history[user], ("user", question)]
        started = self.now
        self.returns[user] = self.now
        req = Req(user, chatml(messages), self.answer_tokens, tag=(user, turn))

        def first() -> None:
            self.result.ttft.append(self.now - started)
            if req.miss:
                self.reading -= 1
                if self.p.gate:  # what the gate kept waiting may go now
                    self.dispatch()

        req.on_first = first

        def end() -> None:
            self.result.answers += 1
            self.history[user] += [("user", question), ("assistant", req.answer)]
            self.release(req)
            self.turn[user] += 1
            if self.turn[user] < len(self.people[user].questions):
                back = self.now + self.people[user].pauses[self.turn[user]]
                self.returns[user] = back
                self.at(back, lambda: self.ask(user))
            else:
                self.returns[user] = INF
            if turn == 0:
                self.title(user, messages, req.answer)

        req.on_end = end
        self.by_user.setdefault(user, deque()).append((started, user, req))
        self.dispatch()
        if req.slot is None and self.free() <= 0 and self.preemptible:
            self.preempt(self.preemptible[0])

    def preempt(self, req: Req) -> None:
        """A waiting answer takes a title's slot: the app stops the title and gives it back."""
        req.cancelled = True
        self.release(req)
        if req.attempts > 1:  # A: tried again at the next quiet moment
            again = Req(
                None,
                req.prompt,
                24,
                full=False,
                attempts=req.attempts - 1,
                follow=req.follow,
                tag=req.tag,
            )
            self.background.append(again)
            self.dispatch()

    def title(self, user: int, asked: list[tuple[str, str]], answer: str) -> None:
        follow = chatml([*asked, ("assistant", answer), ("user", TITLE_INSTRUCTION)])
        if self.p.titles == "B":
            line = self.holding(user)
            if self.waiting() or self.free() <= 0 or line is None:
                return  # the first words; no request
            req = Req(user, follow, 24, full=False)
            self.start(req, line)
            self.preemptible.append(req)
        elif self.p.titles == "A":
            excerpt = f"Pregunta: {asked[-1][1][:1200]}\n\nRespuesta: {answer[:1200]}"
            own = chatml([("system", TITLE_SYSTEM), ("user", excerpt)])
            self.background.append(
                Req(None, own, 24, full=False, attempts=5, follow=follow, tag=(user, 0))
            )
            self.dispatch()

    # --- the app's queue ----------------------------------------------------------------------
    def free(self) -> int:
        return self.n - sum(s.app_busy for s in self.slots)

    def waiting(self) -> int:
        return sum(len(q) for q in self.by_user.values())

    def holding(self, key: int | None) -> Slot | None:
        if key is None:
            return None
        return next((s for s in self.slots if not s.app_busy and s.key == key), None)

    def victim(self) -> Slot | None:
        idle = [s for s in self.slots if not s.app_busy]
        if not idle:
            return None
        if self.p.oracle:
            return max(
                idle, key=lambda s: (INF if s.key is None else self.returns[s.key], -s.idle_since)
            )
        return min(idle, key=lambda s: s.idle_since)

    def evictable(self, now: float) -> bool:
        line = self.victim()
        if line is None:
            return False
        if not any(s.app_busy for s in self.slots):
            return True  # never leave the server idle
        if line.key is None:
            return True
        if self.p.oracle:
            return self.returns[line.key] - now > self.p.horizon
        if now - line.idle_since >= self.p.hold:
            return True
        return self.p.keep_all is False and sum(not s.app_busy for s in self.slots) > 1

    def cost(self, key: int) -> int:
        """Tokens the model would read for ``key``'s waiting answer."""
        if self.holding(key) is not None:
            return len(self.people[key].questions[self.turn[key]]) // CHARS + 20
        return sum(len(c) for _, c in self.history[key]) // CHARS + 60

    def order(self) -> list[tuple[float, int, Req]]:
        queues = [list(q) for q in self.by_user.values()]
        fair = [q[d] for d in range(max(map(len, queues), default=0)) for q in queues if d < len(q)]
        if self.p.order == "spf":
            fair.sort(key=lambda t: self.cost(t[1]))
        return fair

    def choose(self) -> tuple[tuple[float, int, Req], Slot] | None:
        if self.free() <= 0:
            return None
        order = self.order()
        if not order:
            return None
        if self.reading and self.p.gate == "all":
            return None
        now = self.now
        overdue = any(now - since >= self.patience for since, _, _ in order)
        if not overdue:
            late = [t for t in order if now - t[0] >= self.p.miss_after and not self.holding(t[1])]
            if self.p.hits_first and not late:
                for ticket in order:
                    if (line := self.holding(ticket[1])) is not None:
                        return ticket, line
            order = late + [t for t in order if t not in late]
        head = order[0]
        if (line := self.holding(head[1])) is not None:
            return head, line
        if self.reading and self.p.gate == "miss":
            return None
        if not overdue:
            cap = self.p.miss_cap or self.n
            if self.n - self.free() >= cap or not self.evictable(now):
                return None
        line = self.victim()
        return (head, line) if line is not None else None

    def dispatch(self) -> None:
        while (choice := self.choose()) is not None:
            (_, user, req), line = choice
            queue = self.by_user[user]
            queue.popleft()
            if not queue:
                del self.by_user[user]
            self.start(req, line)
        if not self.by_user and self.background and self.free() > 0:
            req = self.background.popleft()
            if self.last_sent is not None and self.last_sent == req.tag:
                req.prompt = req.follow  # the server last read this answer: a follow-up
            self.start(
                req, min((s for s in self.slots if not s.app_busy), key=lambda s: s.idle_since)
            )
            self.preemptible.append(req)
        self.schedule()

    def schedule(self) -> None:
        """Dispatch again when a hold or a waiting answer's patience runs out."""
        if not self.by_user or self.free() <= 0:
            return
        times = [since + self.patience for since, _, _ in self.order()]
        if self.p.miss_after < INF:
            times += [since + self.p.miss_after for since, _, _ in self.order()]
        times += [s.idle_since + self.p.hold for s in self.slots if not s.app_busy]
        if self.p.oracle:
            times += [
                self.returns[s.key] - self.p.horizon
                for s in self.slots
                if not s.app_busy and s.key is not None
            ]
        later = [t for t in times if t > self.now]
        if later and (when := min(later) + 1e-6) not in self.alarms:
            self.alarms.add(when)
            self.at(when, self.dispatch)

    def start(self, req: Req, line: Slot) -> None:
        req.miss = req.full and line.key != req.key
        self.reading += req.miss
        line.app_busy, line.key = True, req.key
        req.slot = line
        self.result.requests += 1
        self.result.titles += not req.full
        self.last_sent = req.tag if req.full else None
        if not req.on_end:
            req.on_end = lambda: self.release(req)
        self.server_queue.append(req)
        self.server_next()

    def release(self, req: Req) -> None:
        line = req.slot
        if line is None or not line.app_busy:
            return
        line.app_busy, line.idle_since = False, self.now
        if req in self.preemptible:
            self.preemptible.remove(req)
        self.dispatch()


def simulate(policy: Policy, slots: int = 4, seed: int = 1, **workload_options: float) -> Result:
    """One office hour under ``policy`` (workload options: ``Sim``'s keywords)."""
    return Sim(policy, slots, seed, **workload_options).run()  # type: ignore[arg-type]
