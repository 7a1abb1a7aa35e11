"""The benchmark tools still run: each once, tiny, against the real stand-in and PostgreSQL.

They measure nothing here (their figures come from full runs, docs/performance.md); these runs
catch a tool broken by a change in the app it drives.
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
