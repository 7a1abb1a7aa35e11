"""Seconds from ``energyapp serve`` to a healthy ``/health``: two checkouts, alternately.

    git worktree add /work/base HEAD~1
    .venv/bin/python -m bench.startup /work/base [.] [--runs 10]

Issue 5's goal is at most 2 s. One start-up is one sample, and on this VM two starts a minute
apart differ by as much as a second (docs/performance.md), so this starts the app of checkout A
and of checkout B in turns (``PYTHONPATH=<checkout>/src``, the same interpreter, on one
throwaway PostgreSQL database with the stand-in running), ``--runs`` times each, and prints
each one's times and their medians, and the median of the paired differences B - A.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
from pathlib import Path

from bench.stream import (
    BIN,
    app_env,
    bench_database,
    free_port,
    hardware,
    start_stand_in,
    stop_all,
    wait_http,
)


def start_once(checkout: Path, db_url: str, stand_in: int) -> float:
    """One start of ``checkout``'s app: seconds until ``/health`` answers 200."""
    port = free_port()
    app = subprocess.Popen(
        [str(BIN / "python"), "-m", "energyapp.cli", "serve", "--port", str(port)],
        env=app_env(db_url, stand_in, PYTHONPATH=str(checkout / "src")),
        cwd=checkout,
    )
    try:
        return wait_http(f"http://127.0.0.1:{port}/health", 30, app)
    finally:
        stop_all([app])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("a", type=Path, help="checkout A (the base)")
    parser.add_argument("b", type=Path, nargs="?", default=Path("."), help="checkout B")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    checkouts: list[Path] = [args.a.resolve(), args.b.resolve()]
    for checkout in checkouts:
        if not (checkout / "src" / "energyapp").is_dir():
            parser.error(f"{checkout} is not a checkout of this project (no src/energyapp)")
    times: dict[int, list[float]] = {0: [], 1: []}
    with bench_database("energyapp_startup") as db_url:
        stand_in_proc, stand_in = start_stand_in(64)
        try:
            start_once(checkouts[0], db_url, stand_in)  # a first start warms the disk cache
            for run in range(args.runs):
                for side in (0, 1) if run % 2 == 0 else (1, 0):
                    times[side].append(start_once(checkouts[side], db_url, stand_in))
        finally:
            stop_all([stand_in_proc])
    print(f"hardware: {hardware()}")
    for side, name in ((0, "A"), (1, "B")):
        values = ", ".join(f"{t:.2f}" for t in times[side])
        median = statistics.median(times[side])
        print(f"{name} = {checkouts[side]}: median {median:.2f} s ({values})")
    diffs = [b - a for a, b in zip(times[0], times[1], strict=True)]
    print(f"B - A, paired by run: median {statistics.median(diffs):+.2f} s")


if __name__ == "__main__":
    main()
