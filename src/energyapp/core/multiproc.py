"""The directory where several worker processes keep their Prometheus values.

Kept apart from core/metrics.py on purpose: prometheus-client decides between in-memory and
file-backed values when it is first imported, so ``energyapp serve`` must set the directory up
before anything imports it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir() -> tuple[Path, bool]:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory for this server's workers, and say
    whether it was created here (and so is to be removed at exit).

    A directory given in the environment (the systemd template sets one under ``/run``) is
    emptied: values a previous run left would otherwise be added to this run's. Otherwise a
    fresh temporary directory is used.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for leftover in path.glob("*.db"):
            leftover.unlink()
        return path, False
    path = Path(tempfile.mkdtemp(prefix="energyapp-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    return path, True


@contextlib.contextmanager
def multiprocess_metrics() -> Iterator[None]:
    """For the time of a server: the metrics directory set up (``prepare_metrics_dir``) and, when
    created here, removed at the end, including when uvicorn ends its graceful shutdown by
    re-raising SIGTERM (which would otherwise kill the process before any ``finally``)."""
    path, created = prepare_metrics_dir()
    if not created:
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def _remove_then_carry_on(signum: int, _frame: FrameType | None) -> None:
        shutil.rmtree(path, ignore_errors=True)
        signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        signal.raise_signal(signum)

    signal.signal(signal.SIGTERM, _remove_then_carry_on)
    try:
        yield
    finally:
        shutil.rmtree(path, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
