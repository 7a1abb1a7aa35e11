"""Stopping without dropping a request: a pause between SIGTERM and the shutdown.

When several instances sit behind Caddy, an instance that stopped listening the moment it got
SIGTERM would close connections Caddy may be sending a request on (a 502). Instead, for
``shutdown_delay`` seconds it goes on serving while ``/health`` answers 503, so Caddy's active
health checks take it out of the pool first; then uvicorn's own graceful shutdown runs (streams
are told to re-attach elsewhere, running answers drain: ``chat/engine.py``).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import uvicorn

_stopping = threading.Event()


def stopping() -> bool:
    """This process has been told to stop (``/health`` then answers 503)."""
    return _stopping.is_set()


class GracefulServer(uvicorn.Server):
    """uvicorn's server with the pause above on SIGTERM (SIGINT, Ctrl+C, stops at once)."""

    def __init__(self, config: uvicorn.Config, shutdown_delay: float) -> None:
        super().__init__(config)
        self.shutdown_delay = shutdown_delay

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.shutdown_delay <= 0 or _stopping.is_set():
            super().handle_exit(sig, frame)
            return
        _stopping.set()
        timer = threading.Timer(self.shutdown_delay, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()
