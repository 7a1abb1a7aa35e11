"""The report of bench/broker.py: each set-up's figures, the Redis commands per answer and
the bounds of issue 21, met or missed."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections import Counter
from typing import TYPE_CHECKING

from bench.stream import BLOCK, MB, Load, answers_line, hardware, pct, pg_version

if TYPE_CHECKING:
    from bench.broker import Run, SetUp


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def rate(load: Load) -> float:
    return load.completed / load.seconds if load.seconds else 0.0


def machine_per_answer(setup: SetUp) -> float:
    """Seconds of CPU the whole machine spent per answer during the set-up's load phases."""
    return setup.machine_seconds / setup.load.completed if setup.load.completed else 0.0


def print_setups(args: argparse.Namespace, setups: list[SetUp], direct_p50: float) -> None:
    for s in setups:
        print(f"\n{s.name}: {s.label} ({s.processes} process{'es' if s.processes > 1 else ''})")
        print(
            f"  TTFT one stream p50/p95 {pct(s.ttft, 0.5):.2f}/{pct(s.ttft, 0.95):.2f} ms; "
            f"over the stand-in directly p50 {pct(s.ttft, 0.5) - direct_p50:.2f} ms"
        )
        print(f"  {args.concurrency} streams: {answers_line(s.load)}")
        print(
            f"  failed: {s.failed_one_stream} one-stream requests; streams without done within "
            f"{args.stream_timeout:g} s (all phases): {s.target().stalled}"
        )
        if s.load.completed:
            per_answer = s.load.cpu_seconds / s.load.completed * 1000
            machine = machine_per_answer(s) * 1000
            print(f"  app CPU per answer under load (all its processes): {per_answer:.2f} ms")
            print(
                f"  the machine's CPU per answer under load (app, client, stand-in, PostgreSQL, "
                f"Redis): {machine:.2f} ms, {machine - per_answer:.2f} ms of it outside the app"
            )
        idle = ", ".join(f"{rss / MB:.1f}" for rss in s.idle)
        peak = ", ".join(f"{rss / MB:.0f}" for rss in s.peaks)
        print(f"  RSS per process: idle {idle} MB; peak under load {peak} MB")
        complete = s.statuses.get("complete", 0)
        others = {status: n for status, n in s.statuses.items() if status != "complete"}
        print(
            f"  database: {complete} answers complete for {s.seen} the client saw finish: "
            f"{'OK' if complete >= s.seen else 'MISMATCH'}; not complete: {others or 'none'}"
        )
        if s.redis_prefix is not None:
            print(
                f"  generation slots still held in Redis once idle: {s.slots_left} "
                f"({'OK' if not s.slots_left else 'LEAKED'})"
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
    cores = os.cpu_count() or 1
    if machine_per_answer(c) and rate(b.load):
        # Every process shares the machine's cores: c cannot answer faster than they allow.
        ceiling = cores / machine_per_answer(c)
        print(
            f"    the machine's ceiling for c: {cores} cores / {machine_per_answer(c) * 1000:.2f} "
            f"ms of CPU per answer = {ceiling:.0f} answers/s, so c / b ≤ "
            f"{ceiling / rate(b.load):.2f} here"
        )
    broken = [s.name for s in (b, c) if s.target().stalled or s.slots_left]
    if broken:
        print(
            f"    (not a measure of the broker's cost: {' and '.join(broken)} stalled streams or "
            "leaked generation slots)"
        )
    print(
        f"  TTFT overhead with Redis ≤ 2 ms more than in-process (b − a, p50): "
        f"{extra_p50:.2f} ms (p95 {extra_p95:.2f} ms) → {verdict(extra_p50 <= 2.0)}"
    )
    print(
        f"  memory per process ≤ 120 MB idle: largest {idle_max:.1f} MB → "
        f"{verdict(idle_max <= 120)}"
    )
