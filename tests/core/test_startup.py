"""The collector pause around start-up imports."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from energyapp.core.startup import collector_paused

pytestmark = pytest.mark.no_database


def test_the_collector_is_off_inside_and_back_on_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_turns_it_back_on() -> None:
    with pytest.raises(ImportError), collector_paused():
        raise ImportError("no such module")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_nested_pauses_restore_the_outer_state() -> None:
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_importing_the_command_line_leaves_the_collector_on() -> None:
    check = "import gc, energyapp.cli; assert gc.isenabled()"
    subprocess.run([sys.executable, "-c", check], check=True, timeout=60)


def test_an_app_without_redis_loads_neither_redis_nor_the_qr_code_writer(tmp_path: Path) -> None:
    """What only some processes use stays out of an idle one's memory (issue 20): redis-py
    unless redis_url is set, segno until an enrolment draws a QR code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")}
    env["ENERGYAPP_DB_URL"] = f"sqlite:///{tmp_path}/app.db"
    check = (
        "import sys, energyapp.cli, energyapp.main\n"
        "from energyapp.chat import lifecycle\n"
        "from energyapp.config import get_settings\n"
        "energyapp.main.create_app()\n"
        "lifecycle.make_broker(get_settings())\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in {'redis', 'segno'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check],
        env=env,
        cwd=tmp_path,  # no stray .env from the checkout
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]"
