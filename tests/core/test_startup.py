"""The collector pause around start-up imports."""

from __future__ import annotations

import gc
import subprocess
import sys

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
