"""Open WebUI in the office-hour benchmark: ``bench/office.py --openwebui VENV``.

Open WebUI is not part of this project and nothing of it is committed: install it in a venv
of its own, outside the repository, and give its path with ``--openwebui`` or
``ENERGYAPP_BENCH_OPENWEBUI``::

    python3.11 -m venv /work/owui-venv
    /work/owui-venv/bin/pip install torch==2.13.0       # the CPU build on this machine's disk
    /work/owui-venv/bin/pip install open-webui==0.12.4

Without it, ``bench/office.py`` says so and measures the app alone.

For each slot count Open WebUI is started (``open-webui serve``, one process, its default
SQLite database in a throwaway ``DATA_DIR``) against the same stand-in as the app, with
``OFFLINE_MODE=true``, the Ollama API only (``OLLAMA_BASE_URL`` = the stand-in, OpenAI's off),
embeddings set to the Ollama engine so that no sentence-transformers model is loaded (nothing
here uses them), and ``BYPASS_MODEL_ACCESS_CONTROL=true`` so that plain users may use the
stand-in's model without an admin sharing it first. Everything else is its default: title, tag
and follow-up generation on, the chat model as the task model, and no limit of its own on
requests to Ollama (``AIOHTTP_POOL_CONNECTIONS`` and ``_PER_HOST`` unset: an unlimited aiohttp
pool; ``AIOHTTP_CLIENT_TIMEOUT`` unset: no timeout), so the stand-in's ``--parallel`` slots and
its queue are the only limit. The people are driven the way its browser drives it, by
``bench/openwebui_client.py`` under Open WebUI's own Python (the docstring there lists the
requests).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.stream import free_port, stop_all, wait_http

VENV_VARIABLE = "ENERGYAPP_BENCH_OPENWEBUI"
CLIENT = Path(__file__).with_name("openwebui_client.py")
SECRET = "office-bench-open-webui-not-a-production-secret"  # noqa: S105


def find(option: str | None) -> tuple[Path | None, str]:
    """The venv to use (``--openwebui``, else ``$ENERGYAPP_BENCH_OPENWEBUI``) and, when there
    is none or it has no Open WebUI, why Open WebUI is skipped."""
    given = option or os.environ.get(VENV_VARIABLE)
    if not given:
        return None, f"Open WebUI skipped: no --openwebui VENV nor ${VENV_VARIABLE}"
    venv = Path(given).resolve()
    if not (venv / "bin" / "open-webui").is_file():
        return None, f"Open WebUI skipped: {venv / 'bin' / 'open-webui'} does not exist"
    return venv, ""


def version(venv: Path) -> str:
    done = subprocess.run(
        [
            venv / "bin" / "python",
            "-c",
            "import importlib.metadata as m; print(m.version('open-webui'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@contextlib.contextmanager
def serving(venv: Path, stand_in_port: int, model: str) -> Iterator[str]:
    """Open WebUI on a free port with a throwaway data dir, for as long as the block runs;
    its base URL."""
    with tempfile.TemporaryDirectory(prefix="office-open-webui-") as data_dir:
        port = free_port()
        env = dict(
            os.environ,
            OFFLINE_MODE="true",
            DATA_DIR=data_dir,
            WEBUI_SECRET_KEY=SECRET,
            ENABLE_OLLAMA_API="true",
            OLLAMA_BASE_URL=f"http://127.0.0.1:{stand_in_port}",
            ENABLE_OPENAI_API="false",
            RAG_EMBEDDING_ENGINE="ollama",
            RAG_EMBEDDING_MODEL=model,
            BYPASS_MODEL_ACCESS_CONTROL="true",
            GLOBAL_LOG_LEVEL="WARNING",
        )
        log_path = Path(data_dir) / "open-webui.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [venv / "bin" / "open-webui", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=data_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_http(f"http://127.0.0.1:{port}/health", 240, proc)
                yield f"http://127.0.0.1:{port}"
            except BaseException:
                print(log_path.read_text(errors="replace")[-3000:])
                raise
            finally:
                stop_all([proc])


@dataclass
class Driven:
    """What the people saw through Open WebUI (times in wall seconds)."""

    ttft: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    answers: int = 0
    failed: int = 0
    events: dict[str, int] = field(default_factory=dict)  # titles, tags, follow-ups received
    wall: float = 0.0


def drive(venv: Path, base: str, model: str, people: list[dict[str, Any]], speed: float) -> Driven:
    """The people's conversations through ``base`` (see ``openwebui_client.py``)."""
    job = {"base": base, "model": model, "people": people, "speed": speed}
    done = subprocess.run(
        [venv / "bin" / "python", CLIENT],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the Open WebUI client failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout)
    driven = Driven(wall=result["wall"])
    for person in result["people"]:
        driven.ttft += person["ttft"]
        driven.total += person["total"]
        driven.answers += person["answers"]
        driven.failed += person["failed"]
        for key in ("titles", "tags", "follow_ups"):
            driven.events[key] = driven.events.get(key, 0) + person[key]
    return driven


def first_model(stand_in_port: int) -> str:
    tags = httpx.get(f"http://127.0.0.1:{stand_in_port}/api/tags", timeout=10).json()
    name: str = tags["models"][0]["name"]
    return name
