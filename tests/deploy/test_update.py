"""scripts/update.sh in a sandbox: a real git origin and checkout, `systemctl` replaced by a shim
that (re)starts a tiny /health server from the checkout for each instance (energyapp@<port>). A
good release is deployed one instance at a time, the others serving meanwhile; a release that does
not come up healthy is rolled back to the previous commit, which serves again."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.conftest import ENERGYAPP_BIN, SCRIPTS, free_port, need, run

pytestmark = [pytest.mark.deploy, pytest.mark.no_database]

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
# Test stand-in for systemctl: start/stop/restart the health server of the checkout for one
# instance (energyapp@<port>), and list the running ones. Each restart records whether every
# other instance was answering at that moment.
set -euo pipefail
state={state}
if [[ $1 == list-units ]]; then
  for pid_file in "$state"/pid-*; do
    [[ -e $pid_file ]] && echo "energyapp@${{pid_file##*-}}.service loaded active running EnergyApp"
  done
  exit 0
fi
port=${{2#energyapp@}}
case $1 in
  stop | restart)
    others=up
    for pid_file in "$state"/pid-*; do
      other=${{pid_file##*-}}
      [[ $other == "$port" ]] && continue
      curl -fsS --max-time 2 "http://127.0.0.1:$other/health" >/dev/null 2>&1 || others=down
    done
    echo "$1 $2 others-$others $(date +%s.%N)" >>"$state/calls"
    if [[ -f $state/pid-$port ]]; then
      kill "$(cat "$state/pid-$port")" 2>/dev/null || true
      rm -f "$state/pid-$port"
    fi
    sleep 0.2
    ;;&
  start | restart)
    setsid python3 {app}/serve_health.py "$port" >>"$state/server-$port.log" 2>&1 </dev/null &
    echo $! >"$state/pid-$port"
    ;;
esac
"""


def git(cwd: Path, *args: str) -> str:
    return run(["git", "-C", cwd, *args], check=True, timeout=30).stdout.strip()


def release(work: Path, version: str) -> str:
    (work / "serve_health.py").write_text(HEALTH_SERVER.format(version=version))
    (work / "VERSION").write_text(version + "\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", f"release {version}")
    git(work, "push", "-q", "origin", "HEAD:main")
    return git(work, "rev-parse", "HEAD")


Sandbox = dict[str, Any]


def _wait_answering(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    pytest.fail(f"the stand-in instance on {port} did not start")


@contextlib.contextmanager
def update_sandbox(base: Path) -> Iterator[Sandbox]:
    """A git origin, a checkout of it installed in BASE/app with two running instances, and the
    stand-in systemctl on BASE/bin."""
    need("git")
    if os.geteuid() != 0:
        pytest.skip("update.sh runs as root (CI runs as root)")
    origin, work, app, state, bin_dir = (
        base / n for n in ("origin.git", "work", "app", "state", "bin")
    )
    state.mkdir()
    bin_dir.mkdir()
    run(["git", "init", "-q", "--bare", "-b", "main", origin], check=True)
    run(["git", "clone", "-q", origin, work], check=True)
    git(work, "config", "user.email", "ci@example.com")
    git(work, "config", "user.name", "CI")
    (work / "scripts").mkdir()
    for name in ("update.sh", "backup.sh", "lib.sh"):
        shutil.copy(SCRIPTS / name, work / "scripts" / name)
    (work / ".gitignore").write_text(".venv/\n")
    release(work, "1.0")
    run(["git", "clone", "-q", origin, app], check=True)
    # The installed virtualenv: pip and the migrations succeed without doing anything here; the
    # app's settings (`energyapp settings get`, scripts/lib.sh's app_setting) are read by the
    # real app. `energyapp db upgrade` fails in a release that ships a file named break-migration.
    (app / ".venv" / "bin").mkdir(parents=True)
    energyapp = f'[ "$1" != settings ] || exec {ENERGYAPP_BIN} "$@"\n'
    energyapp += "[ ! -e break-migration ] || exit 3"
    for tool, script in (("python", "exit 0"), ("energyapp", energyapp)):
        (app / ".venv" / "bin" / tool).write_text(f"#!/bin/sh\n{script}\n")
        (app / ".venv" / "bin" / tool).chmod(0o755)
    ports = sorted([free_port(), free_port()])  # update.sh goes through them in order
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(SYSTEMCTL.format(state=state, app=app))
    systemctl.chmod(0o755)
    for port in ports:
        run([systemctl, "start", f"energyapp@{port}"], check=True)
    for port in ports:
        _wait_answering(port)
    try:
        yield {"work": work, "app": app, "state": state, "bin": bin_dir, "ports": ports}
    finally:
        for pid_file in state.glob("pid-*"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with update_sandbox(tmp_path) as box:
        yield box


def update(
    box: Sandbox, *args: str, backup: bool = False, **env_extra: str
) -> subprocess.CompletedProcess[str]:
    """scripts/update.sh of the sandbox (with --no-backup unless BACKUP), as root."""
    env = {
        # The app's settings come from the sandbox's .env alone, not from this test run.
        **{k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")},
        "PATH": f"{box['bin']}:{os.environ['PATH']}",
        "ENERGYAPP_USER": "root",
        # The stand-in instances answer within a second: a broken release is given 5 s,
        # asked every 0.2 s (the script's defaults are 60 s and 1 s).
        "UPDATE_HEALTH_WAIT": "5",
        "UPDATE_HEALTH_POLL_SECONDS": "0.2",
        "UPDATE_SETTLE_SECONDS": "0.5",
        **env_extra,
    }
    app = box["app"]
    assert isinstance(app, Path)
    no_backup = [] if backup else ["--no-backup"]
    return run([app / "scripts" / "update.sh", *no_backup, *args], env=env, timeout=90)


def _restarts(state: Path) -> list[tuple[str, str, float]]:
    """(unit, whether the other instances were up, when) of every restart, in order."""
    calls = [line.split() for line in (state / "calls").read_text().splitlines()]
    return [(unit, others, float(at)) for verb, unit, others, at in calls if verb == "restart"]


def test_update_restarts_instances_one_at_a_time_and_rolls_back_a_broken_one(
    sandbox: Sandbox,
) -> None:
    work, app, state, ports = sandbox["work"], sandbox["app"], sandbox["state"], sandbox["ports"]
    units = [f"energyapp@{port}" for port in ports]

    good = release(work, "1.1")
    result = update(sandbox)
    assert result.returncode == 0, result.stderr
    assert git(app, "rev-parse", "HEAD") == good
    # Each instance in turn, the next only once the previous answered healthy with the new
    # release, and every restart while the other instance was serving.
    restarts = _restarts(state)
    assert [unit for unit, _, _ in restarts] == units
    assert all(others == "others-up" for _, others, _ in restarts), restarts
    log = result.stderr
    assert log.index(f"restarting {units[0]}") < log.index(f"{units[0]} healthy")
    assert log.index(f"{units[0]} healthy") < log.index(f"restarting {units[1]}")
    assert log.count('"version":"1.1"') == 2  # the health answer of the new release, twice
    assert "updated to" in log

    again = update(sandbox)
    assert again.returncode == 0 and "already at" in again.stderr

    release(work, "broken")
    (state / "calls").unlink()
    failed = update(sandbox)
    assert failed.returncode == 1, failed.stderr
    assert "rolling the code back" in failed.stderr
    assert "the previous version is serving again" in failed.stderr
    assert git(app, "rev-parse", "HEAD") == good
    assert (app / "VERSION").read_text() == "1.1\n"
    assert git(app, "status", "--porcelain") == ""
    # The broken release stopped at the first instance (the second kept serving the old one);
    # the rollback restarted both, one at a time, and the old release answers again.
    assert [unit for unit, _, _ in _restarts(state)] == [units[0], *units]
    assert all(others == "others-up" for _, others, _ in _restarts(state))
    assert failed.stderr.split("rolling the code back")[1].count('"version":"1.1"') == 2

    fixed = release(work, "1.2")
    final = update(sandbox)
    assert final.returncode == 0, final.stderr
    assert git(app, "rev-parse", "HEAD") == fixed

    # A failing migration (inside a function of the script, in a subshell) rolls back too, once:
    # the instances, which never stopped, are restarted on the previous code one time each.
    (work / "break-migration").write_text("")
    release(work, "1.3")
    (state / "calls").unlink()
    migration = update(sandbox)
    assert migration.returncode == 1, migration.stderr
    assert migration.stderr.count("rolling the code back") == 1, migration.stderr
    assert [unit for unit, _, _ in _restarts(state)] == units
    assert git(app, "rev-parse", "HEAD") == fixed
    assert not (app / "break-migration").exists()


def test_update_refuses_local_changes(sandbox: Sandbox) -> None:
    app = sandbox["app"]
    assert isinstance(app, Path)
    (app / "VERSION").write_text("edited on the server\n")
    result = update(sandbox)
    assert result.returncode == 1
    assert "local changes" in result.stderr


def test_update_refuses_to_back_up_a_database_that_is_not_postgresql(sandbox: Sandbox) -> None:
    """The backup took the local `energyapp` database whatever the app used. Where the app's
    database (here its .env's) is not PostgreSQL, this host has none to back up: said so, and
    nothing is changed."""
    work, app = sandbox["work"], sandbox["app"]
    (app / ".env").write_text("ENERGYAPP_DB_URL=sqlite:///data/energyapp.db\n")
    before = git(app, "rev-parse", "HEAD")
    release(work, "1.1")
    result = update(sandbox, backup=True)
    assert result.returncode == 1
    assert "the app's database is sqlite:..., not PostgreSQL" in result.stderr, result.stderr
    assert "--no-backup" in result.stderr
    assert git(app, "rev-parse", "HEAD") == before
    assert not (sandbox["state"] / "calls").exists()


@pytest.mark.parametrize(
    ("setting", "value", "refusal"),
    [
        ("UPDATE_HEALTH_WAIT", "1m", 'UPDATE_HEALTH_WAIT must be a number of seconds, not "1m"'),
        ("UPDATE_SETTLE_SECONDS", "3s", "UPDATE_SETTLE_SECONDS must be a number of seconds"),
        ("ENERGYAPP_INSTANCE_PORTS", "{0},{1}", '"{0},{1}" is not a port'),
    ],
)
def test_update_refuses_bad_settings_before_changing_anything(
    sandbox: Sandbox, setting: str, value: str, refusal: str
) -> None:
    """A number of seconds bash cannot count with ("1m") stopped the update between the new code
    and the restarts, with bash's own error; ports joined by commas restarted a unit named
    energyapp@8001,8002. Both now stop it before anything changes, saying which setting."""
    work, app, state = sandbox["work"], sandbox["app"], sandbox["state"]
    first, second = sandbox["ports"]
    before = git(app, "rev-parse", "HEAD")
    release(work, "1.1")
    result = update(sandbox, **{setting: value.format(first, second)})
    assert result.returncode == 1
    assert refusal.format(first, second) in result.stderr, result.stderr
    assert git(app, "rev-parse", "HEAD") == before
    assert not (state / "calls").exists()
