"""Chat broker benchmark: the app in-process, on the Redis broker, and on the Redis broker with
two processes, in one run, against the stand-in Ollama (64-token answers, as fast as it can).

    .venv/bin/python -m bench.broker
        [--seconds 10] [--rounds 3] [--concurrency 50] [--ttft-samples 200]
        [--redis-answers 200] [--redis-streams 1] [--redis-db 7] [--profile /tmp/broker.svg]

Set-ups, each with its own throwaway PostgreSQL database and its own Redis key prefix:

- ``a``: in-process broker (no Redis), one ``energyapp.cli serve`` process;
- ``b``: Redis broker, one process;
- ``c``: Redis broker, two processes on their own ports, the client spreading streams across
  them round-robin.

It measures time to first token at one stream (blocks of 20 requests, the stand-in called
directly and the set-ups taking turns), answers per second at ``--concurrency`` streams
(``--rounds`` phases per set-up, the order rotated every round), each app process's RSS idle
(after start and one warm-up answer) and under load (peak), the Redis commands per answer of
``b`` and ``c`` (``INFO commandstats`` around ``--redis-answers`` answers at ``--redis-streams``
streams, before the load; an idle window as long gives the background), and whether every
answer the client saw finish is stored ``complete``. It prints the bounds of issue 21
(met/missed); the report is kept in ``bench/results/``. The client, stand-in, databases and
users are bench/stream.py's.
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

import psutil
import redis.asyncio as aioredis
import uvloop

from bench.broker_report import print_report
from bench.stream import (
    BLOCK,
    ROOT,
    Direct,
    Load,
    Result,
    RssSampler,
    ThroughApp,
    answer_statuses,
    app_env,
    bench_database,
    checkout_env,
    concurrent_load,
    free_port,
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
    ``ports[i % len(ports)]``. A stream without ``done`` after ``timeout`` s fails (counted in
    ``stalled``) instead of holding the run up."""

    def __init__(self, ports: list[int], tokens: list[str], timeout: float) -> None:
        super().__init__(ports[0], tokens)
        self.ports, self.timeout, self.stalled = ports, timeout, 0

    async def once(self, i: int) -> Result:
        self.port = self.ports[i % len(self.ports)]
        try:
            return await asyncio.wait_for(super().once(i), self.timeout)
        except TimeoutError:
            self.stalled += 1
            return Result(False)


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
    client: RoundRobin | None = None
    idle: list[int] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    failed_one_stream: int = 0
    load: Load = field(default_factory=Load)
    seen: int = 0  # answers the client saw finish
    commands: Counter[str] = field(default_factory=Counter)
    command_answers: int = 0
    command_seconds: float = 0.0
    slots_left: int = 0  # generation slots still held in Redis once idle (should be 0)
    machine_seconds: float = 0.0  # CPU time of the whole machine during the load phases
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
        self.client = RoundRobin(self.ports, self.tokens, args.stream_timeout)

    def stop(self) -> None:
        stop_all(self.procs)
        self.procs = []

    def target(self) -> RoundRobin:
        assert self.client is not None, "the set-up is not running"
        return self.client

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


async def one_stream(setup: SetUp, samples: int) -> None:
    """``samples`` requests one at a time; the time to first token of those that finish."""
    target = setup.target()
    for i in range(samples):
        result = await target.once(i)
        setup.failed_one_stream += not result.ok
        setup.seen += result.ok
        if result.ok:
            setup.ttft.append(result.ttft)


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
            finished = await fixed_answers(setup.target(), args.redis_answers, args.redis_streams)
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
            await one_stream(setup, samples)
    # Before the load, which leaves answers waiting (and polling) when slots leak.
    run.background = await redis_commands(args, [s for s in setups if s.redis_prefix])
    for round_ in range(args.rounds):
        for setup in rotated(setups, round_):
            await asyncio.sleep(1.0)  # the previous phase's last saves and titles
            spy = None
            if args.profile and round_ == 0 and setup.name == "b":
                spy = start_py_spy(setup.procs[0].pid, args.profile, args.seconds, 100)
            cpu = sum(sampler.cpu_seconds() for sampler in setup.samplers)
            machine = machine_busy_seconds()
            samplers = [asyncio.create_task(sampler.run()) for sampler in setup.samplers]
            load = await concurrent_load(setup.target(), args.concurrency, args.seconds)
            for task in samplers:
                task.cancel()
            load.cpu_seconds = sum(s.cpu_seconds() for s in setup.samplers) - cpu
            setup.machine_seconds += machine_busy_seconds() - machine
            setup.load.add(load)
            setup.seen += load.completed
            if spy is not None:
                spy.wait(timeout=60)
    await asyncio.sleep(1.0)
    await asyncio.sleep(1.0)
    await count_slots_left(args.redis_db, setups)
    return run


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (all processes)."""
    times = psutil.cpu_times()
    busy = ("user", "nice", "system", "irq", "softirq")  # guest time is inside user
    return float(sum(getattr(times, name, 0.0) for name in busy))


async def count_slots_left(redis_db: int, setups: list[SetUp]) -> None:
    """The members of each Redis set-up's ``slots:<server>`` sets with nothing running: slots
    never given back (each one a generation fewer for that Ollama server)."""
    client = aioredis.Redis(host="127.0.0.1", port=6379, db=redis_db)
    try:
        for setup in setups:
            if setup.redis_prefix is not None:
                async for key in client.scan_iter(match=f"{setup.redis_prefix}slots:*"):
                    setup.slots_left += int(await client.scard(key))
    finally:
        await client.aclose()


async def drop_keys(redis_db: int, prefixes: list[str]) -> None:
    """Delete what the run left in Redis (answer streams expire, but not at once)."""
    client = aioredis.Redis(host="127.0.0.1", port=6379, db=redis_db)
    try:
        for prefix in prefixes:
            async for key in client.scan_iter(match=f"{prefix}*", count=1000):
                await client.delete(key)
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of a load phase")
    parser.add_argument("--rounds", type=int, default=3, help="load phases per set-up")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--ttft-samples", type=int, default=200)
    parser.add_argument("--redis-answers", type=int, default=200, help="for commands per answer")
    parser.add_argument("--answer-tokens", type=int, default=64)
    parser.add_argument(
        "--stream-timeout",
        type=float,
        default=30.0,
        help="seconds before a stream counts as stalled (an error)",
    )
    parser.add_argument(
        "--redis-streams", type=int, default=1, help="concurrent streams for commands per answer"
    )
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
