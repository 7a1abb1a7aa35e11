"""Start-up helpers."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a block of imports.

    Importing FastAPI, SQLAlchemy, pydantic and aiohttp creates hundreds of thousands of
    objects that almost never become garbage, yet the collector keeps scanning them as they
    pile up: pausing it is a large share of the app's start-up time, which a rolling update
    waits for. The collector's previous state is restored afterwards, so a block of imports
    can never leave it off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
