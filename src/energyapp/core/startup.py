"""Start-up helpers."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a block of imports.

    Importing FastAPI, SQLAlchemy, pydantic and aiohttp creates hundreds of thousands of
    objects (modules, classes, functions, schemas) and almost none of them become garbage, yet
    the collector keeps scanning them all as they pile up: on this project's 2-vCPU VM the
    imports of ``energyapp serve`` took 1.47-1.65 s with it paused against 1.80-1.93 s without
    (docs/performance.md). The collector's previous state is restored afterwards, so a block of
    imports can never leave it off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
