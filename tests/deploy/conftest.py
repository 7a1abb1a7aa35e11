"""Real servers for the deployment kit: the app under uvicorn (`energyapp serve`), the stand-in
Ollama and Caddy started from a copy of deploy/Caddyfile. Every process runs in its own session
and is killed with its group; every wait is bounded."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.multiproc import (
    Server,
    free_port,
    running_fake_ollama,
    start,
    stop,
    wait_until_up,
)

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SCRIPTS = REPO / "scripts"
ENERGYAPP_BIN = Path(sys.executable).parent / "energyapp"
PROD_SECRET = "deploy-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
METRICS_TOKEN = "deploy-test-metrics-token-0123456789-abcdef"
CHAT_RATE_LIMIT = 4  # per user and minute, low so that the fail2ban test can reach a 429 on /chat


def need(*tools: str) -> None:
    """Skip (with the reason) when a system tool is missing; .ci/run installs them all."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (.ci/run installs the deploy tools)")


def run(
    args: list[str | Path], *, timeout: float = 60, check: bool = False, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 - fixed tools and our own scripts
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def socket_db_url(db_url: str) -> str:
    """The URL form scripts/deploy.sh writes: local socket, no password (peer in production)."""
    url = make_url(db_url)
    return f"postgresql://{url.username}@/{url.database}?host=/var/run/postgresql"


@contextmanager
def running_app(db_url: str, ollama: Server, workdir: Path) -> Iterator[Server]:
    """`energyapp serve` as the systemd unit runs it, in production mode, on the test database
    reached over the local socket (the URL form scripts/deploy.sh writes)."""
    log = workdir / "server.log"
    port = free_port()
    env = {
        **os.environ,
        "ENERGYAPP_ENV": "production",
        "ENERGYAPP_SECRET_KEY": PROD_SECRET,
        "ENERGYAPP_METRICS_TOKEN": METRICS_TOKEN,
        "ENERGYAPP_DB_URL": socket_db_url(db_url),
        "ENERGYAPP_OLLAMA_URL": ollama.url,
        "ENERGYAPP_FAKE_OLLAMA_AUTOSTART": "false",
        "ENERGYAPP_CHAT_RATE_LIMIT_PER_MINUTE": str(CHAT_RATE_LIMIT),
        "ENERGYAPP_LOG_LEVEL": "WARNING",
    }
    args: list[str | Path] = [ENERGYAPP_BIN, "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = start(args, log, cwd=workdir, env=env)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", proc, log)
        yield Server(proc, port, log)
    finally:
        # SIGINT: the graceful shutdown without SIGTERM's 5 s pause for Caddy, which a test
        # about stopping sends itself.
        stop(proc, sig=signal.SIGINT)


@pytest.fixture(scope="module")
def fake_ollama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_fake_ollama(tmp_path_factory.mktemp("ollama")) as server:
        yield server


@pytest.fixture(scope="module")
def app_server(
    db_url: str, fake_ollama: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with running_app(db_url, fake_ollama, tmp_path_factory.mktemp("app")) as server:
        yield server


def derived_caddyfile(access_log: Path) -> str:
    """deploy/Caddyfile with only what a test must change: the log path (the site address and the
    upstreams come from ENERGYAPP_DOMAIN and ENERGYAPP_UPSTREAMS, as in production), plus global
    options that keep this Caddy from touching the machine's own (no admin endpoint; its state
    goes to a temporary XDG_CONFIG_HOME)."""
    text = (DEPLOY / "Caddyfile").read_text()
    old = "/var/log/caddy/energyapp-access.log"
    assert old in text, f"deploy/Caddyfile no longer contains {old!r}"
    return "{\n\tadmin off\n}\n\n" + text.replace(old, str(access_log))


@dataclass
class Proxy(Server):
    access_log: Path


@contextmanager
def running_caddy(
    upstream_ports: list[int], workdir: Path, ready_path: str | None = "/health"
) -> Iterator[Proxy]:
    """A real Caddy from deploy/Caddyfile on a free port, in front of ``upstream_ports``; ready
    once ``ready_path`` answers through it (``None``: once it accepts connections, for a Caddy
    with no upstream up, which holds every request for lb_try_duration)."""
    need("caddy")
    access_log = workdir / "access.log"
    config = workdir / "Caddyfile"
    config.write_text(derived_caddyfile(access_log))
    port = free_port()
    env = {
        **os.environ,
        "ENERGYAPP_DOMAIN": f"http://127.0.0.1:{port}",
        "ENERGYAPP_UPSTREAMS": " ".join(f"127.0.0.1:{p}" for p in upstream_ports),
        "HOME": str(workdir),
        "XDG_CONFIG_HOME": str(workdir / "config"),
        "XDG_DATA_HOME": str(workdir / "data"),
    }
    log = workdir / "caddy.log"
    proc = start(["caddy", "run", "--adapter", "caddyfile", "--config", config], log, env=env)
    try:
        if ready_path is None:
            _wait_listening(port, proc, log)
        else:
            wait_until_up(f"http://127.0.0.1:{port}{ready_path}", proc, log)
        yield Proxy(proc, port, log, access_log)
    finally:
        stop(proc)


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"caddy exited {proc.returncode}\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    pytest.fail(f"caddy did not listen on {port} within 30 s\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def caddy(app_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    with running_caddy([app_server.port], tmp_path_factory.mktemp("caddy")) as proxy:
        yield proxy
