"""The `energyapp` command line run as a real subprocess, in an environment of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "energyapp.cli"]


def run_cli(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        CLI + args,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=env.get("_CWD", str(ROOT)),
        check=False,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The CLI's environment with a SQLite file of its own: for commands that stop before they
    reach the database, and for ``dev`` (what `make run` runs, on SQLite by design)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")}
    env["ENERGYAPP_DB_URL"] = f"sqlite:///{tmp_path}/cli.db"
    env["ENERGYAPP_LOG_LEVEL"] = "WARNING"
    env["_CWD"] = str(tmp_path)  # no stray .env from the checkout
    env["ENERGYAPP_CONFIG_FILE"] = str(ROOT / "config" / "settings.yaml")
    return env


@pytest.fixture
def cli_db_env(cli_env: dict[str, str], scratch_db_url: str) -> dict[str, str]:
    """The CLI's environment with an empty database of the kind under test: the PostgreSQL
    pass runs the administration commands against PostgreSQL, as production does."""
    return cli_env | {"ENERGYAPP_DB_URL": scratch_db_url}


@dataclass
class DevRun:
    health: dict[str, Any] | None = None  # the first /health answer; None if none came
    output: str = ""  # everything it printed, once stopped


@contextmanager
def running_dev(env: dict[str, str], timeout: float = 60) -> Iterator[DevRun]:
    """`energyapp dev` (what `make run` runs) on ENERGYAPP_PORT until its /health answers or
    ``timeout`` passes; stopped (SIGTERM) on exit."""
    dev = DevRun()
    proc = subprocess.Popen(
        [*CLI, "dev"],
        env=env,
        cwd=env["_CWD"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while dev.health is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                url = f"http://127.0.0.1:{env['ENERGYAPP_PORT']}/health"
                dev.health = httpx.get(url, timeout=2).json()
            except httpx.HTTPError:
                time.sleep(0.3)
        yield dev
    finally:
        proc.terminate()
        dev.output, _ = proc.communicate(timeout=60)
