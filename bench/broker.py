"""Chat broker benchmark: the app in-process, on the Redis broker, and on the Redis broker with
two processes, in one run, against the stand-in Ollama (64-token answers, as fast as it can).

    .venv/bin/python -m bench.broker
        [--seconds 10] [--rounds 3] [--concurrency 50] [--ttft-samples 200]
        [--redis-answers 200] [--redis-db 7] [--profile /tmp/broker.svg]

Set-ups, each with its own throwaway PostgreSQL database and its own Redis key prefix:

- ``a``: in-process broker (no Redis), one ``energyapp.cli serve`` process;
- ``b``: Redis broker, one process;
- ``c``: Redis broker, two processes on their own ports, the client spreading streams across
  them round-robin.

It measures time to first token at one stream (blocks of 20 requests, the stand-in called
directly and the set-ups taking turns), answers per second at ``--concurrency`` streams
(``--rounds`` phases per set-up, the order rotated every round), each app process's RSS idle
(after start and one warm-up answer) and under load (peak), the Redis commands per answer of
``b`` and ``c`` (``INFO commandstats`` around ``--redis-answers`` answers; an idle window as
long gives the background), and whether every answer the client saw finish is stored
``complete``. Then it prints the bounds of issue 21 (met/missed) and keeps the report in
``bench/results/``. The helpers (client, stand-in, database, users) are bench/stream.py's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import redis.asyncio as aioredis
import uvloop

from bench.stream import (
    BLOCK,
    MB,
    ROOT,
    Direct,
    Load,
    Result,
    RssSampler,
    ThroughApp,
    answer_statuses,
    answers_line,
    app_env,
    bench_database,
    checkout_env,
    concurrent_load,
    free_port,
    hardware,
    pct,
    pg_version,
    recorded,
    sequential_ttft,
    start_py_spy,
    start_stand_in,
    stop_all,
    wait_http,
)

RUN_ID = secrets.token_hex(4)


class RoundRobin(ThroughApp):
    """``POST /chat`` spread across the ports of a set-up's processes: request ``i`` goes to
    ``ports[i % len(ports)]``."""

    def __init__(self, ports: list[int], tokens: list[str]) -> None:
        super().__init__(ports[0], tokens)
        self.ports = ports

    async def once(self, i: int) -> Result:
        self.port = self.ports[i % len(self.ports)]
        return await super().once(i)


@dataclass
class SetUp:
    """One way of running the app and what was measured of it."""

    name: str
    label: str
    processes: int
    redis_prefix: str | None
    db_url: str
    tokens: list[str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    samplers: list[RssSampler] = field(default_factory=list)
    idle: list[int] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    load: Load = field(default_factory=Load)
    seen: int = 0  # answers the client saw finish
    commands: Counter[str] = field(default_factory=Counter)
    command_answers: int = 0
    command_seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)

    def start(self, args: argparse.Namespace, stand_in_port: int) -> None:
        extra = {
            "ENERGYAPP_DB_POOL_SIZE": str(args.db_pool_size),
            "ENERGYAPP_DB_MAX_OVERFLOW": str(args.db_max_overflow),
        }
        if self.redis_prefix is not None:
            extra["ENERGYAPP_REDIS_URL"] = f"redis://127.0.0.1:6379/{args.redis_db}"
            extra["ENERGYAPP_REDIS_PREFIX"] = self.redis_prefix
        env = checkout_env(ROOT, **app_env(self.db_url, stand_in_port, **extra))
        for _ in range(self.processes):
            port = free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "energyapp.cli", "serve", "--port", str(port)],
                env=env,
                cwd=ROOT,
            )
            self.procs.append(proc)
            wait_http(f"http://127.0.0.1:{port}/health", 30, proc)
            self.ports.append(port)
            self.samplers.append(RssSampler(proc.pid))

    def stop(self) -> None:
        stop_all(self.procs)
        self.procs = []

    def target(self) -> RoundRobin:
        return RoundRobin(self.ports, self.tokens)

    @property
    def peaks(self) -> list[int]:
        return [sampler.peak for sampler in self.samplers]


def make_users(db_url: str, count: int) -> list[str]:
    """Migrate ``db_url`` and make ``count`` users with sessions (bench/stream.py's
    ``--prepare``, in its own process); their access tokens."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.stream", "--prepare", db_url, str(count)],
        env=checkout_env(ROOT),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        check=True,
    )
    tokens: list[str] = json.loads(done.stdout)
    return tokens


def rotated(setups: list[SetUp], turn: int) -> list[SetUp]:
    """The set-ups in this turn's order: each goes first in turn."""
    shift = turn % len(setups)
    return setups[shift:] + setups[:shift]


# --- measuring -------------------------------------------------------------------------------


async def fixed_answers(target: ThroughApp, answers: int, concurrency: int) -> int:
    """``answers`` requests over ``concurrency`` streams; how many finished."""
    queue = iter(range(answers))
    finished = 0

    async def worker() -> None:
        nonlocal finished
        for i in queue:
            result = await target.once(i)  # awaited before ``finished`` is read
            finished += result.ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return finished


async def commandstats(client: aioredis.Redis) -> Counter[str]:
    stats = await client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})


async def redis_commands(args: argparse.Namespace, setups: list[SetUp]) -> Counter[str]:
    """Commands around a fixed number of answers per Redis set-up; the background (other
    clients of this Redis, the idle apps' heartbeats) of an idle window as long."""
    client = aioredis.Redis(host="127.0.0.1", port=6379, db=args.redis_db)
    try:
        seconds = 0.0
        for setup in setups:
            before = await commandstats(client)
            started = time.perf_counter()
            finished = await fixed_answers(setup.target(), args.redis_answers, args.concurrency)
            await asyncio.sleep(0.5)  # the last saves and titles
            setup.command_seconds = time.perf_counter() - started
            setup.commands = await commandstats(client) - before
            setup.command_answers = finished
            setup.seen += finished
            seconds = max(seconds, setup.command_seconds)
        before = await commandstats(client)
        await asyncio.sleep(seconds)
        return await commandstats(client) - before
    finally:
        await client.aclose()


@dataclass
class Run:
    direct_ttft: list[float] = field(default_factory=list)
    background: Counter[str] = field(default_factory=Counter)


async def measure(args: argparse.Namespace, setups: list[SetUp], stand_in_port: int) -> Run:
    run = Run()
    direct = Direct(stand_in_port)
    await sequential_ttft(direct, BLOCK)
    for setup in setups:
        target = setup.target()
        for port_index in range(setup.processes):  # one warm-up answer per process
            if not (await target.once(port_index)).ok:
                raise RuntimeError(f"the warm-up answer of {setup.name} failed")
        setup.seen += setup.processes
        await asyncio.sleep(0.5)  # its title
        setup.idle = [sampler.now() for sampler in setup.samplers]
    for block in range(-(-args.ttft_samples // BLOCK)):
        samples = min(BLOCK, args.ttft_samples - block * BLOCK)
        run.direct_ttft += await sequential_ttft(direct, samples)
        for setup in rotated(setups, block):
            setup.ttft += await sequential_ttft(setup.target(), samples)
            setup.seen += samples
    for round_ in range(args.rounds):
        for setup in rotated(setups, round_):
            await asyncio.sleep(1.0)  # the previous phase's last saves and titles
            spy = None
            if args.profile and round_ == 0 and setup.name == "b":
                spy = start_py_spy(setup.procs[0].pid, args.profile, args.seconds, 100)
            cpu = sum(sampler.cpu_seconds() for sampler in setup.samplers)
            samplers = [asyncio.create_task(sampler.run()) for sampler in setup.samplers]
            load = await concurrent_load(setup.target(), args.concurrency, args.seconds)
            for task in samplers:
                task.cancel()
            load.cpu_seconds = sum(s.cpu_seconds() for s in setup.samplers) - cpu
            setup.load.add(load)
            setup.seen += load.completed
            if spy is not None:
                spy.wait(timeout=60)
    await asyncio.sleep(1.0)
    run.background = await redis_commands(args, [s for s in setups if s.redis_prefix])
    return run


async def drop_keys(redis_db: int, prefixes: list[str]) -> None:
    """Delete what the run left in Redis (answer streams expire, but not at once)."""
    client = aioredis.Redis(host="127.0.0.1", port=6379, db=redis_db)
    try:
        for prefix in prefixes:
            async for key in client.scan_iter(match=f"{prefix}*", count=1000):
                await client.delete(key)
    finally:
        await client.aclose()


# --- the report ------------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def rate(load: Load) -> float:
    return load.completed / load.seconds if load.seconds else 0.0


def print_setups(args: argparse.Namespace, setups: list[SetUp], direct_p50: float) -> None:
    for s in setups:
        print(f"\n{s.name}: {s.label} ({s.processes} process{'es' if s.processes > 1 else ''})")
        print(
            f"  TTFT one stream p50/p95 {pct(s.ttft, 0.5):.2f}/{pct(s.ttft, 0.95):.2f} ms; "
            f"over the stand-in directly p50 {pct(s.ttft, 0.5) - direct_p50:.2f} ms"
        )
        print(f"  {args.concurrency} streams: {answers_line(s.load)}")
        if s.load.completed:
            per_answer = s.load.cpu_seconds / s.load.completed * 1000
            print(f"  app CPU per answer under load (all its processes): {per_answer:.2f} ms")
        idle = ", ".join(f"{rss / MB:.1f}" for rss in s.idle)
        peak = ", ".join(f"{rss / MB:.0f}" for rss in s.peaks)
        print(f"  RSS per process: idle {idle} MB; peak under load {peak} MB")
        complete = s.statuses.get("complete", 0)
        ok = complete >= s.seen and set(s.statuses) == {"complete"}
        print(
            f"  database: {s.statuses}; the client saw {s.seen} answers finish: "
            f"{'OK' if ok else 'MISMATCH'}"
        )


def print_commands(setups: list[SetUp], background: Counter[str]) -> None:
    if not setups:
        return
    longest = max(s.command_seconds for s in setups)
    noise = sum(background.values())
    print(
        f"\nRedis commands (INFO commandstats, whole server; commands run inside Lua scripts "
        f"count too). Background in an idle window of {longest:.1f} s: {noise} commands "
        f"({', '.join(f'{n} {c}' for n, c in background.most_common(5)) or 'none'})"
    )
    for s in setups:
        total = sum(s.commands.values())
        answers = max(1, s.command_answers)
        top = ", ".join(
            f"{name} {calls / answers:.1f}" for name, calls in s.commands.most_common(8)
        )
        net = (total - noise * s.command_seconds / longest) / answers if longest else 0.0
        print(
            f"  {s.name}: {total / answers:.1f} commands per answer ({total} for "
            f"{s.command_answers} answers in {s.command_seconds:.1f} s; {net:.1f} without the "
            f"background); top per answer: {top}"
        )


def print_report(
    args: argparse.Namespace, setups: list[SetUp], run: Run, load_before: tuple[float, ...]
) -> None:
    a, b, c = setups
    direct_p50 = pct(run.direct_ttft, 0.5)
    print(
        f"hardware: {hardware()}; PostgreSQL {asyncio.run(pg_version())}; Redis db {args.redis_db}"
    )
    print(f"load on the machine (1/5/15 min): before {load_before}, after {os.getloadavg()}")
    print(
        f"answers: {args.answer_tokens} tokens, stand-in as fast as it can; one stream: "
        f"{args.ttft_samples} answers per target in blocks of {BLOCK}; {args.concurrency} "
        f"streams: {args.rounds} phases of {args.seconds:g} s per set-up; database pool "
        f"{args.db_pool_size} + {args.db_max_overflow} per process"
    )
    print(f"stand-in directly: TTFT p50/p95 {direct_p50:.2f}/{pct(run.direct_ttft, 0.95):.2f} ms")
    print_setups(args, setups, direct_p50)
    print_commands([b, c], run.background)

    scale = rate(c.load) / rate(b.load) if rate(b.load) else 0.0
    extra_p50 = pct(b.ttft, 0.5) - pct(a.ttft, 0.5)
    extra_p95 = pct(b.ttft, 0.95) - pct(a.ttft, 0.95)
    idle_max = max(rss for s in setups for rss in s.idle) / MB
    print("\nbounds (issue 21):")
    print(
        f"  answers/s at {args.concurrency} streams, 2 processes ≥ 1.5 × 1 process (c / b): "
        f"{rate(c.load):.0f} / {rate(b.load):.0f} = {scale:.2f} × → {verdict(scale >= 1.5)}"
    )
    print(
        f"  TTFT overhead with Redis ≤ 2 ms more than in-process (b − a, p50): "
        f"{extra_p50:.2f} ms (p95 {extra_p95:.2f} ms) → {verdict(extra_p50 <= 2.0)}"
    )
    print(
        f"  memory per process ≤ 120 MB idle: largest {idle_max:.1f} MB → "
        f"{verdict(idle_max <= 120)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of a load phase")
    parser.add_argument("--rounds", type=int, default=3, help="load phases per set-up")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--ttft-samples", type=int, default=200)
    parser.add_argument("--redis-answers", type=int, default=200, help="for commands per answer")
    parser.add_argument("--answer-tokens", type=int, default=64)
    parser.add_argument("--redis-db", type=int, default=7, help="Redis database number")
    parser.add_argument(
        "--db-pool-size",
        type=int,
        default=8,
        help="ENERGYAPP_DB_POOL_SIZE per process: four processes stay within PostgreSQL's "
        "default of 100 connections",
    )
    parser.add_argument("--db-max-overflow", type=int, default=12)
    parser.add_argument("--profile", metavar="SVG", help="py-spy of b during its first phase")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        layouts = [
            ("a", "in-process broker, no Redis", 1, None),
            ("b", "Redis broker", 1, f"bench-{RUN_ID}-b:"),
            ("c", "Redis broker", 2, f"bench-{RUN_ID}-c:"),
        ]
        setups = []
        for name, label, processes, prefix in layouts:
            db_url = stack.enter_context(bench_database(f"energyapp_bench_broker_{name}"))
            tokens = make_users(db_url, args.concurrency)
            setups.append(SetUp(name, label, processes, prefix, db_url, tokens))
        prefixes = [s.redis_prefix for s in setups if s.redis_prefix]
        stack.callback(lambda: asyncio.run(drop_keys(args.redis_db, prefixes)))
        stand_in_proc, stand_in_port = start_stand_in(args.answer_tokens)
        stack.callback(stop_all, [stand_in_proc])
        load_before = os.getloadavg()
        for setup in setups:
            stack.callback(setup.stop)
            setup.start(args, stand_in_port)
        run = uvloop.run(measure(args, setups, stand_in_port))
        time.sleep(1.0)  # the last answers' final saves
        for setup in setups:
            setup.stop()
            setup.statuses = asyncio.run(answer_statuses(setup.db_url))
        with recorded("broker"):
            print_report(args, setups, run, load_before)


if __name__ == "__main__":
    main()
