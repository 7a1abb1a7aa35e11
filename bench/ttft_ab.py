"""Time to first token at one stream: two checkouts of the app, side by side, in one run.

    git worktree add /work/base HEAD~1
    .venv/bin/python -m bench.ttft_ab /work/base [.] [--rounds 400] [--answer-tokens 64]
    .venv/bin/python -m bench.ttft_ab . . --python-b /work/venv312/bin/python  # two interpreters
    .venv/bin/python -m bench.ttft_ab /work/base --rounds 60 --block 10  # one stream at a time
    .venv/bin/python -m bench.ttft_ab /work/base --rounds 100 --load-rounds 10  # and at 50 streams

On this 2-vCPU VM the same code gives a TTFT overhead of 2.6-4.9 ms from one ``bench/stream.py``
run to the next, minutes apart: the machine's speed drifts, by as much as any change is worth.
This script takes the drift out of a comparison. It starts one stand-in Ollama and two apps, A
and B, each with its own checkout's code (``PYTHONPATH=<checkout>/src``), on one throwaway
PostgreSQL database, and sends one request at a time in rounds: A, B and the stand-in directly,
the order of A and B swapped every round. The three requests of a round are milliseconds apart,
so they meet the same machine, and the median of the paired differences B - A (with a bootstrap
95 % interval) says whether B is faster, slower, or the two cannot be told apart. A and B may be
the same checkout: the interval then shows the noise floor. ``--python-a``/``--python-b`` run an
app with another interpreter (a virtual environment with this project's dependencies), to
compare Python versions on the same code.

Each request is a new connection that posts a new conversation's first message and reads until
``done``, as in ``bench/stream.py``, whose client and targets this reuses.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.stream import (
    BIN,
    Direct,
    RssSampler,
    Target,
    ThroughApp,
    app_env,
    bench_database,
    concurrent_load,
    free_port,
    hardware,
    make_users,
    start_stand_in,
    stop_all,
    wait_http,
)

WARM_UP_ROUNDS = 40
BOOTSTRAP_SAMPLES = 2000


def median_interval(diffs: list[float], seed: int = 1) -> tuple[float, float, float]:
    """The median of ``diffs`` and a bootstrap 95 % interval for it."""
    rng = random.Random(seed)  # noqa: S311 - resampling, not security
    medians = sorted(
        statistics.median(rng.choices(diffs, k=len(diffs))) for _ in range(BOOTSTRAP_SAMPLES)
    )
    low = medians[int(0.025 * BOOTSTRAP_SAMPLES)]
    high = medians[int(0.975 * BOOTSTRAP_SAMPLES) - 1]
    return statistics.median(diffs), low, high


async def rounds(
    a: Target, b: Target, direct: Target, count: int, block: int = 1
) -> dict[str, list[float]]:
    """TTFT in ms of ``count`` rounds (after a warm-up), per target.

    With ``block`` > 1 a round sends ``block`` requests in a row to each target, as
    ``bench/stream.py`` measures one stream (each request meets the one before it on the same
    app, not another app's); the round's figure is the median of its block without the first
    request, which follows another target."""
    values: dict[str, list[float]] = {"A": [], "B": [], "direct": []}
    warm_up = WARM_UP_ROUNDS if block == 1 else 2
    n = 0
    for i in range(warm_up + count):
        order = [("A", a), ("B", b)] if i % 2 == 0 else [("B", b), ("A", a)]
        for name, target in [*order, ("direct", direct)]:
            ttfts = []
            for _ in range(block):
                result = await target.once(n)
                n += 1
                if not result.ok:
                    raise RuntimeError(f"request failed ({name})")
                ttfts.append(result.ttft * 1000)
            if i >= warm_up:
                values[name].append(ttfts[0] if block == 1 else statistics.median(ttfts[1:]))
    return values


@dataclass
class LoadRounds:
    """Answers per second and the app's CPU ms per answer, one pair per burst, per app."""

    rate: dict[str, list[float]] = field(default_factory=lambda: {"A": [], "B": []})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {"A": [], "B": []})


async def load_rounds(
    apps: dict[str, tuple[Target, RssSampler]], count: int, concurrency: int, seconds: float
) -> LoadRounds:
    """``count`` rounds of a burst of ``concurrency`` streams on A then B (the order swapped
    every round), ``seconds`` each: throughput and CPU per answer, paired by round."""
    out = LoadRounds()
    for i in range(count + 1):  # the first round warms both up and is not counted
        for name in ("A", "B") if i % 2 == 0 else ("B", "A"):
            target, process = apps[name]
            before = process.cpu_seconds()
            load = await concurrent_load(target, concurrency, seconds)
            if load.errors:
                raise RuntimeError(f"{load.errors} failed requests ({name})")
            if i:
                out.rate[name].append(load.completed / load.seconds)
                out.cpu[name].append(1000 * (process.cpu_seconds() - before) / load.completed)
    return out


def report_load(out: LoadRounds, concurrency: int, seconds: float) -> None:
    print(f"{len(out.rate['A'])} bursts of {concurrency} streams, {seconds:g} s each, per app:")
    for name in ("A", "B"):
        rate, cpu = statistics.median(out.rate[name]), statistics.median(out.cpu[name])
        print(f"{name}: {rate:.0f} answers/s, app CPU {cpu:.2f} ms per answer (medians)")
    for label, values, unit in (("answers/s", out.rate, ""), ("CPU per answer", out.cpu, " ms")):
        diffs = [vb - va for va, vb in zip(values["A"], values["B"], strict=True)]
        mid, low, high = median_interval(diffs)
        print(
            f"B - A, {label}, paired by burst: median {mid:+.2f}{unit} "
            f"(95 % interval {low:+.2f} to {high:+.2f})"
        )


def version(python: Path) -> str:
    """What ``python --version`` prints."""
    done = subprocess.run([str(python), "--version"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def report(values: dict[str, list[float]], a: str, b: str, block: int = 1) -> None:
    blocks = f" of {block} requests in a row per target (their median)" if block > 1 else ""
    direct = statistics.median(values["direct"])
    print(f"hardware: {hardware()}")
    print(f"load on the machine now (1/5/15 min): {os.getloadavg()}")
    print(f"A = {a}\nB = {b}")
    print(f"rounds: {len(values['A'])}{blocks}; stand-in directly: TTFT p50 {direct:.2f} ms")
    for name in ("A", "B"):
        ttft = values[name]
        p50, p90 = statistics.median(ttft), sorted(ttft)[int(0.9 * len(ttft))]
        print(
            f"{name}: TTFT p50/p90 {p50:.2f}/{p90:.2f} ms, mean {statistics.mean(ttft):.2f}; "
            f"overhead p50 {p50 - direct:.2f} ms"
        )
    diffs = [vb - va for va, vb in zip(values["A"], values["B"], strict=True)]
    mid, low, high = median_interval(diffs)
    print(f"B - A, paired by round: median {mid:+.2f} ms (95 % interval {low:+.2f} to {high:+.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("a", type=Path, help="checkout A (the base)")
    parser.add_argument("b", type=Path, nargs="?", default=Path("."), help="checkout B")
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--answer-tokens", type=int, default=64)
    parser.add_argument(
        "--block",
        type=int,
        default=1,
        help="requests in a row to each target per round (default 1: interleaved)",
    )
    parser.add_argument(
        "--load-rounds",
        type=int,
        default=0,
        help="also this many rounds of concurrent bursts on A and B: throughput, CPU per answer",
    )
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--load-seconds", type=float, default=3.0, help="of each burst")
    for side in ("a", "b"):
        parser.add_argument(
            f"--python-{side}",
            type=Path,
            default=BIN / "python",
            help=f"the interpreter of app {side.upper()} (default: this one)",
        )
    args = parser.parse_args()
    checkouts: list[Path] = [args.a.resolve(), args.b.resolve()]
    pythons: list[Path] = [args.python_a, args.python_b]
    for checkout in checkouts:
        if not (checkout / "src" / "energyapp").is_dir():
            parser.error(f"{checkout} is not a checkout of this project (no src/energyapp)")

    procs: list[subprocess.Popen[bytes]] = []
    with bench_database("energyapp_ab") as db_url:  # both checkouts share this schema
        try:
            tokens = asyncio.run(make_users(db_url, 4))
            stand_in_proc, stand_in = start_stand_in(args.answer_tokens)
            procs.append(stand_in_proc)
            targets: list[Target] = []
            samplers: list[RssSampler] = []
            for checkout, python in zip(checkouts, pythons, strict=True):
                port = free_port()
                app = subprocess.Popen(
                    [str(python), "-m", "energyapp.cli", "serve", "--port", str(port)],
                    env=app_env(db_url, stand_in, PYTHONPATH=str(checkout / "src")),
                    cwd=checkout,
                )
                procs.append(app)
                wait_http(f"http://127.0.0.1:{port}/health", 30, app)
                targets.append(ThroughApp(port, tokens))
                samplers.append(RssSampler(app.pid))
            values = asyncio.run(
                rounds(targets[0], targets[1], Direct(stand_in), args.rounds, args.block)
            )
            names = [f"{c} ({version(p)})" for c, p in zip(checkouts, pythons, strict=True)]
            report(values, *names, block=args.block)
            if args.load_rounds:
                apps = {"A": (targets[0], samplers[0]), "B": (targets[1], samplers[1])}
                out = asyncio.run(
                    load_rounds(apps, args.load_rounds, args.concurrency, args.load_seconds)
                )
                report_load(out, args.concurrency, args.load_seconds)
        finally:
            stop_all(procs)


if __name__ == "__main__":
    main()
