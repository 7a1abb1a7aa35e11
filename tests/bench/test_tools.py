"""The benchmark tools still run: each once, tiny, against the real stand-in and PostgreSQL.

They measure nothing here (their figures come from full runs, docs/performance.md); these runs
catch a tool broken by a change in the app it drives, such as the floor relay, which reuses
the app's own statements and functions.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres_only  # the tools make throwaway PostgreSQL databases


def run_tool(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_floor_measures_the_app_the_relay_and_the_stand_in() -> None:
    out = run_tool(
        "bench.floor", "--rounds", "3", "--ttft-samples", "3", "--seconds", "0.5",
        "--concurrency", "4",
    )  # fmt: skip
    assert "rounds: 3; stand-in directly: TTFT p50" in out
    assert "app (POST /chat): TTFT p50" in out and "floor relay: TTFT p50" in out
    assert "app - floor, paired by round: median" in out
    for name in ("stand-in alone", "app", "floor relay"):
        line = next(ln for ln in out.splitlines() if f"concurrent streams, {name}:" in ln)
        assert " 0 errors; CPU per answer: " in line, line


def test_ttft_ab_compares_two_checkouts() -> None:
    out = run_tool("bench.ttft_ab", ".", ".", "--rounds", "3")
    assert "rounds: 3;" in out and "B - A, paired by round: median" in out


def test_ttft_ab_in_blocks_and_under_load() -> None:
    out = run_tool(
        "bench.ttft_ab", ".", ".", "--rounds", "2", "--block", "3", "--load-rounds", "2",
        "--concurrency", "4", "--load-seconds", "0.3",
    )  # fmt: skip
    assert "rounds: 2 of 3 requests in a row per target" in out
    assert "2 bursts of 4 streams" in out
    assert "B - A, CPU per answer, paired by burst: median" in out


def test_startup_times_two_checkouts() -> None:
    out = run_tool("bench.startup", ".", ".", "--runs", "1")
    assert "B - A, paired by run: median" in out
    assert out.count(": median ") == 3
