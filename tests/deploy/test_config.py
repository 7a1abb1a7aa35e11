"""The deployment files are valid for the real tools that read them: caddy, systemd, logrotate,
fail2ban and shellcheck. (Behaviour through a running Caddy is in test_proxy.py.)"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
import yaml

from energyapp.core.middleware import CSP
from tests.deploy.conftest import DEPLOY, ENERGYAPP_BIN, REPO, SCRIPTS, need, run

FAIL2BAN_FILTERS = ("energyapp.conf", "energyapp-api.conf")  # filter.d, installed by deploy.sh

pytestmark = [pytest.mark.deploy, pytest.mark.no_database]

SHELL_SCRIPTS = sorted([*SCRIPTS.glob("*.sh"), *DEPLOY.glob("*.sh")])
UNITS = [
    "energyapp@.service",
    "energyapp.target",
    "energyapp-backup.service",
    "energyapp-backup.timer",
    "energyapp-retention.service",
    "energyapp-retention.timer",
]
INSTANCE = "energyapp@8001.service"  # what systemd-analyze checks of the template


def _adapted(domain: str = "energyapp.example.org", **env: str) -> dict[str, Any]:
    result = run(
        ["caddy", "adapt", "--adapter", "caddyfile", "--config", DEPLOY / "Caddyfile"],
        env={"ENERGYAPP_DOMAIN": domain, "PATH": "/usr/bin:/bin", **env},
        check=True,
    )
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _handlers(node: Any) -> list[dict[str, Any]]:
    """Every handler in the adapted JSON config, depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "handler" in node:
            found.append(node)
        for value in node.values():
            found.extend(_handlers(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_handlers(value))
    return found


def test_caddyfile_validates_and_is_formatted() -> None:
    need("caddy")
    result = run(["caddy", "validate", "--adapter", "caddyfile", "--config", DEPLOY / "Caddyfile"])
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr
    formatted = run(["caddy", "fmt", DEPLOY / "Caddyfile"], check=True).stdout
    assert formatted == (DEPLOY / "Caddyfile").read_text(), "run: caddy fmt --overwrite"


def test_caddyfile_adapts_to_the_intended_site() -> None:
    need("caddy")
    config = _adapted("chat.example.org")
    server = config["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == [":443"]
    assert server["routes"][0]["match"] == [{"host": ["chat.example.org"]}]
    assert server["logs"]["logger_names"] == {"chat.example.org": "log0"}

    writer = config["logging"]["logs"]["log0"]["writer"]
    assert writer == {
        "output": "file",
        "filename": "/var/log/caddy/energyapp-access.log",
        "roll_size_mb": 5,
        "roll_keep": 14,
        "roll_keep_days": 14,
    }
    # JSON (fail2ban reads it), a shared link's token written as [redactado] (test_proxy.py).
    encoder = config["logging"]["logs"]["log0"]["encoder"]
    assert (encoder["format"], encoder["wrap"]) == ("filter", {"format": "json"})
    assert encoder["fields"]["request>uri"]["regexp"] == "^/shared/[^/?]*"

    handlers = _handlers(server)
    proxy = next(h for h in handlers if h["handler"] == "reverse_proxy")
    # Without ENERGYAPP_UPSTREAMS: the two instances scripts/deploy.sh installs by default.
    assert proxy["upstreams"] == [{"dial": "127.0.0.1:8001"}, {"dial": "127.0.0.1:8002"}]
    assert proxy["flush_interval"] == -1

    encode = next(h for h in handlers if h["handler"] == "encode")
    assert list(encode["encodings"]) == ["gzip"]
    types = encode["match"]["headers"]["Content-Type"]
    assert "application/json*" in types
    assert not [t for t in types if t.startswith(("text/*", "text/event-stream"))], types

    # The security headers (the site's deferred one; /metrics has its own Content-Type).
    headers = next(
        h["response"]
        for h in handlers
        if h["handler"] == "headers" and h.get("response", {}).get("deferred")
    )
    assert headers["set"]["Content-Security-Policy"] == [CSP]
    assert headers["set"]["Strict-Transport-Security"][0].startswith("max-age=31536000")
    assert headers["set"]["X-Content-Type-Options"] == ["nosniff"]
    assert headers["set"]["Referrer-Policy"] == ["no-referrer"]

    # The app's own 404 (JSON), from Caddy: the header and the response are two routes.
    metrics = [
        handler
        for r in _routes(server)
        if r.get("match") and "/metrics" in r["match"][0].get("path", [])
        for handler in r["handle"]
    ]
    # Braces escaped from Caddy's placeholders; served unescaped (tests/deploy/test_proxy.py).
    body = '\\{"detail":"No se encontró el recurso solicitado.","code":"not_found"\\}'
    assert metrics == [
        {"handler": "headers", "response": {"set": {"Content-Type": ["application/json"]}}},
        {"handler": "static_response", "status_code": 404, "body": body},
    ]


def _routes(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "routes":
                found.extend(value)
            found.extend(_routes(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_routes(value))
    return found


def test_caddyfile_balances_every_instance_with_health_checks() -> None:
    need("caddy")
    upstreams = "127.0.0.1:8001 127.0.0.1:8002 127.0.0.1:8003"
    server = _adapted(ENERGYAPP_UPSTREAMS=upstreams)["apps"]["http"]["servers"]["srv0"]
    proxy = next(h for h in _handlers(server) if h["handler"] == "reverse_proxy")
    assert [u["dial"] for u in proxy["upstreams"]] == upstreams.split()
    active = proxy["health_checks"]["active"]
    assert active["uri"] == "/health"
    assert active["expect_status"] == 2  # any 2xx: "degraded" is 200, draining is 503
    assert active["interval"] <= 5_000_000_000 and active["timeout"] <= active["interval"]
    assert proxy["health_checks"]["passive"]["fail_duration"] > 0
    balancing = proxy["load_balancing"]
    assert balancing["selection_policy"] == {"policy": "least_conn"}
    assert balancing["try_duration"] >= 5_000_000_000
    assert 0 < balancing["try_interval"] < balancing["try_duration"]
    assert proxy["flush_interval"] == -1


def test_caddyfile_domain_defaults_to_production() -> None:
    need("caddy")
    result = run(
        ["caddy", "adapt", "--adapter", "caddyfile", "--config", DEPLOY / "Caddyfile"],
        env={"PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert '"host":["energyapp.alvaradomazzei.cl"]' in result.stdout


def test_shell_scripts_pass_shellcheck() -> None:
    need("shellcheck")
    assert len(SHELL_SCRIPTS) >= 7, SHELL_SCRIPTS
    result = run(["shellcheck", "--external-sources", *SHELL_SCRIPTS], cwd=REPO)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_are_strict_and_executable(script: Path) -> None:
    text = script.read_text()
    if script.name == "lib.sh":
        assert "shell=bash" in text
        return
    assert text.startswith("#!/usr/bin/env bash\n")
    assert re.search(r"\nset -E?euo pipefail\n", text)
    assert script.stat().st_mode & 0o111, f"chmod +x {script}"


def _units_with_paths(tmp_path: Path) -> Path:
    """The units with /opt/energyapp pointing at a tree where the binaries they start exist
    (systemd-analyze verify checks that ExecStart is executable)."""
    app = tmp_path / "app"
    (app / ".venv" / "bin").mkdir(parents=True)
    (app / ".venv" / "bin" / "energyapp").symlink_to(ENERGYAPP_BIN)
    (app / "scripts").mkdir()
    (app / "scripts" / "backup.sh").symlink_to(SCRIPTS / "backup.sh")
    units = tmp_path / "units"
    units.mkdir()
    for name in UNITS:
        text = (DEPLOY / name).read_text().replace("/opt/energyapp", str(app))
        (units / name).write_text(text)
    (units / INSTANCE).write_text((units / "energyapp@.service").read_text())
    return units


def test_systemd_units_verify(tmp_path: Path) -> None:
    need("systemd-analyze")
    units = _units_with_paths(tmp_path)
    checked = [INSTANCE, *(n for n in UNITS if n != "energyapp@.service")]
    result = run(["systemd-analyze", "verify", *(units / n for n in checked)], timeout=60)
    assert result.returncode == 0, result.stderr
    # Unknown keys and bad values are only warnings for systemd: none may appear.
    assert result.stderr.strip() == "", result.stderr


def test_systemd_service_is_hardened(tmp_path: Path) -> None:
    need("systemd-analyze")
    units = _units_with_paths(tmp_path)
    result = run(["systemd-analyze", "security", "--offline=true", units / INSTANCE], timeout=60)
    match = re.search(
        r"Overall exposure level for energyapp@8001\.service: ([\d.]+)", result.stdout
    )
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0, result.stdout  # systemd calls < 2 "OK"; default is 9.6


def _directives(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (DEPLOY / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


def test_service_runs_loopback_as_its_own_user_and_stops_gracefully() -> None:
    unit = _directives("energyapp@.service")
    exec_start = unit["ExecStart"][0]
    assert exec_start.startswith("/opt/energyapp/.venv/bin/energyapp serve ")
    assert "--host 127.0.0.1 --port %i" in exec_start  # energyapp@8001 listens on 8001
    assert unit["PartOf"] == ["energyapp.target"] and unit["WantedBy"] == ["energyapp.target"]
    assert unit["User"] == ["energyapp"]
    assert unit["EnvironmentFile"] == ["/opt/energyapp/.env"]
    assert unit["Restart"] == ["always"]
    assert unit["KillSignal"] == ["SIGTERM"]
    # Draining lets running answers finish for up to drain_timeout (120 s) before the exit.
    assert int(unit["TimeoutStopSec"][0]) >= 150
    # Each instance's own, emptied directory for its workers' metrics.
    assert unit["RuntimeDirectory"] == ["energyapp-%i"]
    assert "PROMETHEUS_MULTIPROC_DIR=/run/energyapp-%i/metrics" in unit["Environment"]
    assert _directives("energyapp.target")["WantedBy"] == ["multi-user.target"]
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["ReadWritePaths"] == ["/opt/energyapp/data /opt/energyapp/logs"]
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert unit[key] == ["yes"], key
    backup = _directives("energyapp-backup.service")
    assert backup["User"] == ["postgres"]
    assert backup["ReadWritePaths"] == ["/srv/backups/energyapp"]
    timer = _directives("energyapp-backup.timer")
    assert timer["Persistent"] == ["true"]
    assert timer["OnCalendar"][0].startswith("*-*-* ")


def test_the_backup_unit_backs_up_the_database_the_app_uses() -> None:
    """The unit pinned BACKUP_DB_URL=postgresql:///energyapp: on a host sharing another host's
    PostgreSQL it dumped the unused local database every night, and Requires=postgresql.service
    failed it where there is none. It hands backup.sh the app's .env instead (read by systemd,
    as the postgres user cannot), says so, so that backup.sh asks the app from a directory
    without that file (scripts/backup.sh), and only orders itself after a local PostgreSQL."""
    backup = _directives("energyapp-backup.service")
    assert backup["EnvironmentFile"] == ["-/opt/energyapp/.env"]
    assert not any("BACKUP_DB_URL" in value for value in backup["Environment"])
    assert "BACKUP_DOTENV_LOADED=yes" in " ".join(backup["Environment"]).split()
    assert "Requires" not in backup
    assert "postgresql.service" in backup["Wants"][0] and "postgresql.service" in backup["After"][0]


def test_retention_runs_every_hour_as_the_app_user() -> None:
    """Hourly: a temporary chat may live one hour (temporary_chat_hours), and a daily run
    kept it up to a day past that."""
    service = _directives("energyapp-retention.service")
    assert service["ExecStart"] == ["/opt/energyapp/.venv/bin/energyapp retention run"]
    assert service["Type"] == ["oneshot"]
    assert service["User"] == ["energyapp"]
    assert service["EnvironmentFile"] == ["/opt/energyapp/.env"]
    assert service["ProtectSystem"] == ["strict"]
    timer = _directives("energyapp-retention.timer")
    assert timer["Persistent"] == ["true"]
    assert re.fullmatch(r"\*-\*-\* \*:\d\d:00", timer["OnCalendar"][0]), timer["OnCalendar"]
    assert timer["RandomizedDelaySec"] == ["5m"]  # well within the hour
    deploy = (REPO / "scripts" / "deploy.sh").read_text()
    enabled = [line for line in deploy.splitlines() if "systemctl enable" in line]
    started = [line for line in deploy.splitlines() if "systemctl start" in line]
    assert any("energyapp-retention.timer" in line for line in enabled), enabled
    assert any("energyapp-retention.timer" in line for line in started), started


def test_retention_service_is_hardened(tmp_path: Path) -> None:
    need("systemd-analyze")
    units = _units_with_paths(tmp_path)
    result = run(
        ["systemd-analyze", "security", "--offline=true", units / "energyapp-retention.service"],
        timeout=60,
    )
    match = re.search(
        r"Overall exposure level for energyapp-retention\.service: ([\d.]+)", result.stdout
    )
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.5, result.stdout


def _logrotate_config(tmp_path: Path) -> tuple[Path, Path]:
    """deploy/logrotate with the log directory and owner of this machine."""
    logs = tmp_path / "logs"
    logs.mkdir()
    user = run(["id", "-un"], check=True).stdout.strip()
    group = run(["id", "-gn"], check=True).stdout.strip()
    text = (DEPLOY / "logrotate").read_text()
    assert "/opt/energyapp/logs/" in text
    text = text.replace("/opt/energyapp/logs", str(logs)).replace(
        "energyapp energyapp", f"{user} {group}"
    )
    config = tmp_path / "logrotate.conf"
    config.write_text(text)
    return config, logs


def test_logrotate_config_parses(tmp_path: Path) -> None:
    need("logrotate")
    config, logs = _logrotate_config(tmp_path)
    (logs / "energyapp.log").write_text("x\n")
    result = run(["logrotate", "-d", "-s", tmp_path / "state", config])
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower(), result.stderr
    assert f"considering log {logs}/energyapp.log" in result.stderr


def test_logrotate_rotates_while_the_app_keeps_writing(tmp_path: Path) -> None:
    """A forced rotation moves the file away and the app's WatchedFileHandler writes on in a new
    one: no line is lost and nothing is written into the rotated file."""
    need("logrotate")
    config, logs = _logrotate_config(tmp_path)
    path = logs / "energyapp.log"
    handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
    logger = logging.getLogger("deploy-logrotate-test")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("before rotation")
        run(["logrotate", "-f", "-s", tmp_path / "state", config], check=True)
        logger.warning("after rotation")
    finally:
        logger.removeHandler(handler)
        handler.close()
    rotated = [p for p in logs.iterdir() if p.name != "energyapp.log"]
    assert len(rotated) == 1, rotated
    assert rotated[0].read_text() == "before rotation\n"
    assert path.read_text() == "after rotation\n"


def test_fail2ban_jail_and_filter_load(tmp_path: Path) -> None:
    """fail2ban's own configuration test accepts the jail and filter as installed."""
    need("fail2ban-client")
    conf = tmp_path / "fail2ban"
    shutil.copytree("/etc/fail2ban", conf)
    for old in conf.glob("jail.d/*"):
        old.unlink()  # only our jail: the distribution's sshd jail needs a journal or auth.log
    log = tmp_path / "access.log"
    log.write_text("")
    for name in FAIL2BAN_FILTERS:
        shutil.copy(DEPLOY / "fail2ban" / "filter.d" / name, conf / "filter.d")
    jail = (DEPLOY / "fail2ban" / "jail.d" / "energyapp.local").read_text()
    assert "logpath  = /var/log/caddy/energyapp-access.log" in jail
    (conf / "jail.d" / "energyapp.local").write_text(
        jail.replace("/var/log/caddy/energyapp-access.log", str(log))
    )
    result = run(["fail2ban-client", "-c", conf, "-t"], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: configuration test is successful" in result.stdout + result.stderr
    dump = run(["fail2ban-client", "-c", conf, "-d"], timeout=60, check=True).stdout
    assert "['add', 'energyapp', 'auto']" in dump
    assert "['set', 'energyapp', 'maxretry', 10]" in dump
    assert "['add', 'energyapp-api', 'auto']" in dump
    assert "['set', 'energyapp-api', 'maxretry', 100]" in dump
    assert "'banaction'" not in dump or "ufw" in dump


def _caddy_line(
    ip: str, uri: str, status: int, user_agent: str = "curl/8", ts: float = 1764120000.25
) -> str:
    entry = {
        "level": "info",
        "ts": ts,
        "logger": "http.log.access.log0",
        "msg": "handled request",
        "request": {
            "remote_ip": ip,
            "remote_port": "50123",
            "client_ip": ip,
            "proto": "HTTP/2.0",
            "method": "POST",
            "host": "energyapp.alvaradomazzei.cl",
            "uri": uri,
            "headers": {"User-Agent": [user_agent]},
        },
        "bytes_read": 60,
        "user_id": "",
        "duration": 0.2,
        "size": 90,
        "status": status,
        "resp_headers": {"Content-Type": ["application/json"]},
    }
    return json.dumps(entry, separators=(",", ":"))


def test_fail2ban_filter_cannot_be_fooled_by_client_controlled_fields(tmp_path: Path) -> None:
    """Only the real address, path and status count: a forged header or query cannot frame
    another address or turn a success into a failure; IPv6 clients are caught too."""
    need("fail2ban-regex")
    lines = {
        _caddy_line("203.0.113.1", "/auth/login", 401): True,
        _caddy_line("203.0.113.2", "/auth/verify-2fa", 429): True,
        _caddy_line("2001:db8::7", "/chat", 429): True,
        _caddy_line("203.0.113.3", "/chat/0192/stream?x=1", 429): True,
        _caddy_line(
            "203.0.113.4", "/auth/login", 200, 'x","status":401,"remote_ip":"1.2.3.4'
        ): False,
        _caddy_line("203.0.113.5", "/health?u=/auth/x", 401): False,
        _caddy_line("203.0.113.6", "/chat", 401): False,
        _caddy_line("203.0.113.7", "/chatbot", 429): False,
        _caddy_line("203.0.113.8", "/conversations", 429): False,
        _caddy_line("203.0.113.9", "/auth/refresh", 204): False,
        # The API's invalid keys are the other filter's (below), not this one's.
        _caddy_line("203.0.113.10", "/v1/chat/completions", 401): False,
        _caddy_line("203.0.113.11", "/v1/chat/completions", 429): False,
        _caddy_line("203.0.113.12", "/v1/models", 200): False,
        _caddy_line("203.0.113.13", "/api-keys?x=/v1/", 401): False,
    }
    assert _matched(tmp_path, "energyapp.conf", lines) == lines
    api = {line: "/v1/chat/completions" in line and '"status":401' in line for line in lines}
    assert sum(api.values()) == 1
    assert _matched(tmp_path, "energyapp-api.conf", lines) == api


def _matched(tmp_path: Path, name: str, lines: Collection[str]) -> dict[str, bool]:
    """Whether the filter ``name`` counts each line as a failure (every line's time read)."""
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    result = run(
        ["fail2ban-regex", "--print-all-matched", log, DEPLOY / "fail2ban" / "filter.d" / name],
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f'[{len(lines)}] "ts":{{EPOCH}}' in result.stdout
    matched = result.stdout.split("Matched line(s):")[1].split("Missed line(s):")[0]
    return {line: line in matched for line in lines}


def test_fail2ban_bans_after_the_threshold_and_only_then(tmp_path: Path) -> None:
    """A real fail2ban server with the jail as shipped (only the log path, the action and the
    loopback exemption changed): 10 failures in the window ban the address, 9 do not, and any
    number of successes never do."""
    need("fail2ban-client", "fail2ban-server")
    conf = tmp_path / "fail2ban"
    shutil.copytree("/etc/fail2ban", conf)
    for old in conf.glob("jail.d/*"):
        old.unlink()
    for name in FAIL2BAN_FILTERS:
        shutil.copy(DEPLOY / "fail2ban" / "filter.d" / name, conf / "filter.d")
    log, bans, api_bans = tmp_path / "access.log", tmp_path / "bans", tmp_path / "api-bans"
    (conf / "fail2ban.local").write_text(
        f"[Definition]\nlogtarget = {tmp_path / 'fail2ban.log'}\ndbfile = :memory:\n"
        f"socket = {tmp_path / 'f2b.sock'}\npidfile = {tmp_path / 'f2b.pid'}\n"
    )
    jail = (DEPLOY / "fail2ban" / "jail.d" / "energyapp.local").read_text()
    jail = jail.replace("/var/log/caddy/energyapp-access.log", str(log))
    logins, _, keys = jail.partition("[energyapp-api]")
    logins = logins.replace("banaction = ufw", f"action = dummy[target={bans}]")
    keys = keys.replace("banaction = ufw", f"action = dummy[target={api_bans}]")
    jail = f"{logins}[energyapp-api]{keys}"
    assert "ignoreip = 127.0.0.1/8 ::1" in jail
    jail = jail.replace("ignoreip = 127.0.0.1/8 ::1", "ignoreip =")
    (conf / "jail.d" / "energyapp.local").write_text(jail)

    now = time.time()
    lines = []
    for i in range(10):
        lines.append(_caddy_line("198.51.100.10", "/auth/login", 401, ts=now - 60 + i))
    for i in range(9):
        lines.append(_caddy_line("198.51.100.11", "/auth/login", 401, ts=now - 60 + i))
    for i in range(30):
        lines.append(_caddy_line("198.51.100.12", "/auth/login", 200, ts=now - 60 + i))
    # Failures older than findtime (10 minutes) do not count.
    for i in range(10):
        lines.append(_caddy_line("198.51.100.13", "/auth/login", 401, ts=now - 3600 + i))
    # Invalid API keys: a script with a revoked key every minute (and 99 in all) bans nobody;
    # 100 ban that address, from the API's jail.
    for i in range(99):
        lines.append(_caddy_line("198.51.100.20", "/v1/chat/completions", 401, ts=now - 99 + i))
    for i in range(100):
        lines.append(_caddy_line("198.51.100.21", "/v1/models", 401, ts=now - 100 + i))
    log.write_text("\n".join(sorted(lines, key=lambda line: json.loads(line)["ts"])) + "\n")

    client = ["fail2ban-client", "-c", conf]
    server = subprocess.Popen(  # noqa: S603
        [*client, "-x", "-f", "start"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        status = ""
        while time.monotonic() < deadline:
            status = run([*client, "status", "energyapp"], timeout=10).stdout
            api_status = run([*client, "status", "energyapp-api"], timeout=10).stdout
            if "198.51.100.10" in status and "198.51.100.21" in api_status:
                break
            time.sleep(0.2)
        time.sleep(0.5)  # let the last lines be read before judging what was not banned
        status = run([*client, "status", "energyapp"], timeout=10, check=True).stdout
        api_status = run([*client, "status", "energyapp-api"], timeout=10, check=True).stdout
        actions = bans.read_text()  # the dummy action's record; it is removed on stop
        api_actions = api_bans.read_text()
    finally:
        run([*client, "stop"], timeout=20)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(5)
    banned = re.search(r"Banned IP list:\s*(.*)", status)
    assert banned, status
    assert banned.group(1).split() == ["198.51.100.10"], status
    assert [line for line in actions.splitlines() if line.startswith("+")] == ["+198.51.100.10"]
    api_banned = re.search(r"Banned IP list:\s*(.*)", api_status)
    assert api_banned and api_banned.group(1).split() == ["198.51.100.21"], api_status
    assert [line for line in api_actions.splitlines() if line.startswith("+")] == ["+198.51.100.21"]


def test_the_ollama_drop_in_matches_the_app_settings() -> None:
    """Ollama's slots, context and keep-alive are the app's: another num_ctx would reload the
    model at every request, and the app's queue hands out exactly OLLAMA_NUM_PARALLEL slots."""
    drop_in = (DEPLOY / "ollama-energyapp.conf").read_text(encoding="utf-8")
    ollama = dict(re.findall(r'^Environment="(OLLAMA_\w+)=([^"]*)"$', drop_in, re.MULTILINE))
    settings = yaml.safe_load((REPO / "config" / "settings.yaml").read_text(encoding="utf-8"))
    env_written = (SCRIPTS / "deploy.sh").read_text(encoding="utf-8")
    parallel = re.search(r"^ENERGYAPP_OLLAMA_MAX_PARALLEL=(\d+)$", env_written, re.MULTILINE)
    assert parallel is not None
    assert ollama["OLLAMA_NUM_PARALLEL"] == parallel.group(1)
    assert ollama["OLLAMA_CONTEXT_LENGTH"] == str(settings["num_ctx"])
    assert ollama["OLLAMA_KEEP_ALIVE"] == settings["keep_alive"]
    assert int(ollama["OLLAMA_MAX_QUEUE"]) >= int(parallel.group(1))
    assert "ollama.service.d/energyapp.conf" in env_written


def test_deploy_pulls_the_model_the_app_asks_for(tmp_path: Path) -> None:
    """deploy.sh read the model with a grep of config/settings.yaml: an ENERGYAPP_OLLAMA_MODEL in
    .env was ignored (the app then asked Ollama for a model never pulled), and a settings file
    without the line stopped the script without a word (pipefail). It asks the app instead."""
    if os.geteuid() != 0:
        pytest.skip("app_setting runs the app through runuser, as root (CI runs as root)")
    deploy = (SCRIPTS / "deploy.sh").read_text(encoding="utf-8")
    assert 'model=$(app_setting "$app_dir" "$app_user" ollama_model)' in deploy
    app = tmp_path / "app"
    app.mkdir()
    (app / ".venv").symlink_to(Path(sys.executable).parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")}

    def model(**extra: str) -> str:
        result = run(
            ["bash", "-c", 'source "$1"; app_setting "$2" root ollama_model']
            + ["_", SCRIPTS / "lib.sh", app],
            env=env | extra,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert model() == "qwen2.5:3b-instruct"  # config/settings.yaml's
    (app / ".env").write_text("ENERGYAPP_OLLAMA_MODEL=llama3.2:1b\n")
    assert model() == "llama3.2:1b"
    (app / ".env").unlink()
    bare = tmp_path / "settings.yaml"
    bare.write_text("max_queue: 5\n")
    assert model(ENERGYAPP_CONFIG_FILE=str(bare)) == "qwen2.5:3b-instruct"  # the default


def test_every_database_the_kit_creates_folds_accented_capitals() -> None:
    # A database created with the cluster's locale may be "C", where lower('Á') is 'Á': the
    # search that ignores accents and capitals would miss "GONZÁLEZ". (This machine's cluster is
    # C.UTF-8, so only the statements themselves can show it.)
    for script in ("deploy.sh", "restore.sh"):
        statements = re.findall(r"CREATE DATABASE [^\n]*", (SCRIPTS / script).read_text())
        assert statements, script
        for statement in statements:
            assert "ENCODING 'UTF8' LOCALE 'C.UTF-8' TEMPLATE template0" in statement, statement


@pytest.mark.parametrize(
    ("url", "libpq", "password"),
    [
        (
            "postgresql+asyncpg://app:p%40ss%3Aw%25rd@db:5432/energyapp",
            "postgresql://app@db:5432/energyapp",
            "p@ss:w%rd",
        ),
        ("postgres://app:back\\slash@db/energyapp", "postgresql://app@db/energyapp", "back\\slash"),
        ("postgresql://bob@db/energyapp", "postgresql://bob@db/energyapp", None),
        ("postgresql:///energyapp", "postgresql:///energyapp", None),
    ],
)
def test_backups_give_libpq_the_password_in_its_environment_not_its_command_line(
    url: str, libpq: str, password: str | None
) -> None:
    # pg_dump's and psql's command lines are visible to every user of the machine (ps).
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    result = run(
        [
            "bash",
            "-c",
            'source "$1"; libpq_connect "$2"; printf "%s\\n%s" "$LIBPQ_URL" "${PGPASSWORD-none}"',
        ]
        + ["_", SCRIPTS / "lib.sh", url],
        env=env,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n") == [libpq, password or "none"]
    for script in ("backup.sh", "restore.sh"):
        text = (SCRIPTS / script).read_text(encoding="utf-8")
        assert "libpq_connect" in text and "$(libpq_url" not in text, script
