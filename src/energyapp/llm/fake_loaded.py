"""Which models the stand-in Ollama holds in memory, for its ``GET /api/ps`` (Ollama's shape:
``{"models": [{name, model, size, digest, details, expires_at, size_vram, context_length}]}``).

A model is loaded by a generation (or a request that only loads it) and stays for the
request's ``keep_alive`` (Ollama's default 5 minutes; a negative one: forever; 0: unloaded at
once)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

DEFAULT_KEEP_ALIVE = 300.0
DEFAULT_NUM_CTX = 4096  # Ollama's default context length
_FOREVER = "2318-01-01T00:00:00Z"  # what Ollama reports for keep_alive -1
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_DURATION = re.compile(r"(-?\d+(?:\.\d+)?)(ms|h|m|s)")


def keep_alive_seconds(value: object) -> float | None:
    """Seconds a model stays loaded; None: forever. Numbers are seconds, strings Go durations."""
    if value is None:
        return DEFAULT_KEEP_ALIVE
    if isinstance(value, int | float):
        return None if value < 0 else float(value)
    parts = _DURATION.findall(str(value))
    if not parts:
        return DEFAULT_KEEP_ALIVE
    seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    return None if seconds < 0 else seconds


class LoadedModels:
    def __init__(self) -> None:
        self._until: dict[str, float | None] = {}  # model -> unix time it unloads (None: never)
        self._context: dict[str, int] = {}

    def touch(self, model: str, keep_alive: object, options: object) -> None:
        seconds = keep_alive_seconds(keep_alive)
        self._until[model] = None if seconds is None else time.time() + seconds
        num_ctx = options.get("num_ctx") if isinstance(options, dict) else None
        self._context[model] = num_ctx if isinstance(num_ctx, int) else DEFAULT_NUM_CTX

    def running(self, entry: dict[str, Any]) -> dict[str, Any]:
        """An entry of ``/api/ps`` for a model still loaded, from its ``/api/tags`` entry."""
        until = self._until[entry["name"]]
        expires = (
            _FOREVER
            if until is None
            else datetime.fromtimestamp(until, UTC).isoformat().replace("+00:00", "Z")
        )
        context = self._context[entry["name"]]
        return {**entry, "expires_at": expires, "size_vram": 0, "context_length": context}

    def names(self) -> list[str]:
        now = time.time()
        return [name for name, until in self._until.items() if until is None or until > now]
