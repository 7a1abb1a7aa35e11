"""Real servers for the deployment kit: the app under uvicorn (`energyapp serve`), the stand-in
Ollama and Caddy started from a copy of deploy/Caddyfile. Every process runs in its own session
and is killed with its group; every wait is bounded."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
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


@pytest.fixture
def shared_base() -> Iterator[Path]:
    """A directory the postgres user can read (pytest's temporary ones are root's alone), with
    backups/ owned by postgres as deploy.sh makes /srv/backups/energyapp."""
    need("pg_dump", "pg_restore", "runuser")
    if os.geteuid() != 0:
        pytest.skip("the backup runs as postgres through runuser, as root (CI runs as root)")
    base = Path(tempfile.mkdtemp(prefix="energyapp-host2-"))
    try:
        base.chmod(0o755)
        (base / "backups").mkdir()
        shutil.chown(base / "backups", "postgres", "postgres")
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def app_copy(base: Path, env_text: str) -> Path:
    """scripts/backup.sh installed in BASE/app, next to an .env holding ENV_TEXT and the app
    (this run's virtualenv), which says what its settings are."""
    app = base / "app"
    (app / "scripts").mkdir(parents=True)
    for name in ("backup.sh", "lib.sh"):
        shutil.copy(SCRIPTS / name, app / "scripts" / name)
    (app / ".venv").symlink_to(ENERGYAPP_BIN.parents[1])
    (app / ".env").write_text(env_text)
    return app


def backup_env(base: Path) -> dict[str, str]:
    """The environment of a backup that finds the database through the app alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKUP_", "ENERGYAPP_"))}
    return {**env, "BACKUP_DIR": str(base / "backups")}


def backup_as_postgres(app: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """APP's backup.sh as the unit runs it: as postgres, over this host's socket (no PG*)."""
    return run(
        ["runuser", "-u", "postgres", "--", app / "scripts" / "backup.sh"],
        env={k: v for k, v in env.items() if not k.startswith("PG")},
        timeout=120,
    )


def dumped_database(dump: Path) -> str:
    """The name of the database DUMP was taken from."""
    listing = run(["pg_restore", "--list", dump], check=True).stdout
    assert " TABLE DATA public alembic_version " in listing
    match = re.search(r"^;\s+dbname: (\S+)$", listing, flags=re.MULTILINE)
    assert match, listing
    return match.group(1)


def app_runnable_by_postgres(app: Path) -> None:
    """Give APP (an ``app_copy``) an `energyapp` the postgres user can run, as the backup unit
    does: this run's, or, where postgres cannot reach this run's interpreter (a pyenv under
    /root), the system's python of the same version on this run's packages and sources."""
    if run(["runuser", "-u", "postgres", "--", ENERGYAPP_BIN, "--help"]).returncode == 0:
        return
    python = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not python.exists():
        pytest.skip(f"the postgres user cannot run {ENERGYAPP_BIN}, and there is no {python}")
    (app / ".venv").unlink()
    tool = app / ".venv" / "bin" / "energyapp"
    tool.parent.mkdir(parents=True)
    code = "import site, sys; site.addsitedir(sys.argv.pop(1)); import energyapp.cli as c; c.app()"
    tool.write_text(f"#!/bin/sh\nexec {python} -c '{code}' {site.getsitepackages()[0]} \"$@\"\n")
    tool.chmod(0o755)
    # This run's packages and sources must be the postgres user's to read: not in a checkout
    # under a private directory (a clone in `mktemp -d`, mode 0700), where nothing can be tried.
    if run(["runuser", "-u", "postgres", "--", tool, "--help"]).returncode != 0:
        pytest.skip(
            f"the postgres user cannot read this run's packages ({site.getsitepackages()[0]})"
        )
