"""scripts/update.sh in a sandbox: a real git origin and checkout, `systemctl` replaced by a shim
that (re)starts a tiny /health server from the checkout. A good release is deployed; a release
that does not come up healthy is rolled back to the previous commit, which serves again."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.conftest import SCRIPTS, free_port, need, run

pytestmark = pytest.mark.deploy

HEALTH_SERVER = """\
import http.server, sys
VERSION = {version!r}
if VERSION == "broken":
    sys.exit("this release crashes at start-up")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ('{{"status":"ok","version":"%s"}}' % VERSION).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

SYSTEMCTL = """\
#!/usr/bin/env bash
# Test stand-in for systemctl: restart/start/stop the health server of the checkout.
set -euo pipefail
state={state}
case $1 in
  stop | restart)
    if [[ -f $state/pid ]]; then
      kill "$(cat "$state/pid")" 2>/dev/null || true
      rm -f "$state/pid"
    fi
    sleep 0.2
    ;;&
  start | restart)
    echo "$1 $2" >>"$state/calls"
    setsid python3 {app}/serve_health.py {port} >>"$state/server.log" 2>&1 </dev/null &
    echo $! >"$state/pid"
    ;;
esac
"""


def _git(cwd: Path, *args: str) -> str:
    return run(["git", "-C", cwd, *args], check=True, timeout=30).stdout.strip()


def _commit(work: Path, version: str) -> str:
    (work / "serve_health.py").write_text(HEALTH_SERVER.format(version=version))
    (work / "VERSION").write_text(version + "\n")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", f"release {version}")
    _git(work, "push", "-q", "origin", "HEAD:main")
    return _git(work, "rev-parse", "HEAD")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[dict[str, Path | int]]:
    need("git")
    if os.geteuid() != 0:
        pytest.skip("update.sh runs as root (CI runs as root)")
    origin, work, app, state, bin_dir = (
        tmp_path / n for n in ("origin.git", "work", "app", "state", "bin")
    )
    state.mkdir()
    bin_dir.mkdir()
    run(["git", "init", "-q", "--bare", "-b", "main", origin], check=True)
    run(["git", "clone", "-q", origin, work], check=True)
    _git(work, "config", "user.email", "ci@example.com")
    _git(work, "config", "user.name", "CI")
    (work / "scripts").mkdir()
    for name in ("update.sh", "lib.sh"):
        shutil.copy(SCRIPTS / name, work / "scripts" / name)
    (work / ".gitignore").write_text(".venv/\n")
    _commit(work, "1.0")
    run(["git", "clone", "-q", origin, app], check=True)
    # The installed virtualenv: pip and the migrations succeed without doing anything here.
    (app / ".venv" / "bin").mkdir(parents=True)
    # `energyapp db upgrade` fails in a release that ships a file named break-migration.
    for tool, script in (("python", "exit 0"), ("energyapp", "[ ! -e break-migration ] || exit 3")):
        (app / ".venv" / "bin" / tool).write_text(f"#!/bin/sh\n{script}\n")
        (app / ".venv" / "bin" / tool).chmod(0o755)
    port = free_port()
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(SYSTEMCTL.format(state=state, app=app, port=port))
    systemctl.chmod(0o755)
    run([systemctl, "start", "energyapp"], check=True)
    try:
        yield {"work": work, "app": app, "state": state, "bin": bin_dir, "port": port}
    finally:
        pid_file = state / "pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)


def _update(box: dict[str, Path | int], *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{box['bin']}:{os.environ['PATH']}",
        "ENERGYAPP_USER": "root",
        "ENERGYAPP_HEALTH_URL": f"http://127.0.0.1:{box['port']}/health",
        "UPDATE_HEALTH_WAIT": "10",
    }
    app = box["app"]
    assert isinstance(app, Path)
    return run([app / "scripts" / "update.sh", "--no-backup", *args], env=env, timeout=90)


def test_update_deploys_a_healthy_release_and_rolls_back_a_broken_one(
    sandbox: dict[str, Path | int],
) -> None:
    work, app, state = sandbox["work"], sandbox["app"], sandbox["state"]
    assert isinstance(work, Path) and isinstance(app, Path) and isinstance(state, Path)

    good = _commit(work, "1.1")
    result = _update(sandbox)
    assert result.returncode == 0, result.stderr
    assert _git(app, "rev-parse", "HEAD") == good
    assert '"version":"1.1"' in result.stderr  # the health answer of the new release
    assert "updated to" in result.stderr

    again = _update(sandbox)
    assert again.returncode == 0 and "already at" in again.stderr

    _commit(work, "broken")
    failed = _update(sandbox)
    assert failed.returncode == 1, failed.stderr
    assert "rolling the code back" in failed.stderr
    assert "the previous version is serving again" in failed.stderr
    assert _git(app, "rev-parse", "HEAD") == good
    assert (app / "VERSION").read_text() == "1.1\n"
    assert _git(app, "status", "--porcelain") == ""
    # The old release answers again after the rollback restart.
    assert '"version":"1.1"' in failed.stderr.split("rolling the code back")[1]
    assert (state / "calls").read_text().splitlines()[-2:] == [
        "restart energyapp",
        "restart energyapp",
    ]

    fixed = _commit(work, "1.2")
    final = _update(sandbox)
    assert final.returncode == 0, final.stderr
    assert _git(app, "rev-parse", "HEAD") == fixed

    # A failing migration (inside a function of the script) rolls back too.
    (work / "break-migration").write_text("")
    _commit(work, "1.3")
    migration = _update(sandbox)
    assert migration.returncode == 1, migration.stderr
    assert "rolling the code back" in migration.stderr
    assert _git(app, "rev-parse", "HEAD") == fixed
    assert not (app / "break-migration").exists()


def test_update_refuses_local_changes(sandbox: dict[str, Path | int]) -> None:
    app = sandbox["app"]
    assert isinstance(app, Path)
    (app / "VERSION").write_text("edited on the server\n")
    result = _update(sandbox)
    assert result.returncode == 1
    assert "local changes" in result.stderr
