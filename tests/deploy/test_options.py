"""Command lines of the kit's scripts: a missing option value, an unknown option or a bad number
is a usage error (exit 2, the option named, the synopsis shown) before the script does anything;
--help prints the header and nothing of the code."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, SCRIPTS, run

pytestmark = [pytest.mark.deploy, pytest.mark.no_database]

WITH_OPTIONS = [
    SCRIPTS / "backup.sh",
    SCRIPTS / "deploy.sh",
    SCRIPTS / "update.sh",
    SCRIPTS / "restore.sh",
    SCRIPTS / "smoke_test.sh",
    DEPLOY / "ufw.sh",
]


def _value_options(script: Path) -> list[str]:
    """The options whose case arm reads the next argument ($2)."""
    return re.findall(r"^\s+(--[a-z-]+)\)[^\n]*\$2", script.read_text(), flags=re.MULTILINE)


VALUE_OPTIONS = [(script, option) for script in WITH_OPTIONS for option in _value_options(script)]


def _stubbed_path(tmp_path: Path, *tools: str) -> dict[str, str]:
    """PATH with TOOLS replaced by stand-ins that fail loudly: a script that got past its
    command line would stop at the first of them instead of changing this machine."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "STUB {tool} reached" >&2\nexit 97\n')
        (bin_dir / tool).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def _assert_usage_error(
    result: subprocess.CompletedProcess[str], message: str, script: Path
) -> None:
    assert result.returncode == 2, result
    stderr = result.stderr
    assert message in stderr, stderr
    assert "unbound variable" not in stderr, stderr
    assert "usage:" in stderr and f"/{script.name}" in stderr.split("usage:")[1], stderr
    assert "STUB" not in stderr, stderr


def test_every_value_option_is_found() -> None:
    found = {(script.name, option) for script, option in VALUE_OPTIONS}
    expected = {("deploy.sh", "--domain"), ("deploy.sh", "--ssh-port"), ("backup.sh", "--dir")}
    expected |= {("restore.sh", "--into"), ("update.sh", "--ref"), ("smoke_test.sh", "--timeout")}
    expected |= {("ufw.sh", "--ssh-port")}
    assert expected <= found, found


@pytest.mark.parametrize(
    ("script", "option"), VALUE_OPTIONS, ids=[f"{s.name} {o}" for s, o in VALUE_OPTIONS]
)
def test_an_option_without_its_value_is_named(script: Path, option: str, tmp_path: Path) -> None:
    env = _stubbed_path(tmp_path, "ufw", "apt-get", "dpkg-query", "systemctl", "git")
    last = run([script, option], env=env, timeout=30)
    _assert_usage_error(last, f"{option} needs a value", script)
    # Followed by another option instead of its value: not taken as the value.
    followed = run([script, option, "--help"], env=env, timeout=30)
    _assert_usage_error(followed, f"{option} needs a value", script)


@pytest.mark.parametrize("script", WITH_OPTIONS, ids=lambda p: p.name)
def test_an_unknown_option_is_a_usage_error(script: Path, tmp_path: Path) -> None:
    env = _stubbed_path(tmp_path, "ufw", "apt-get", "dpkg-query", "systemctl", "git")
    result = run([script, "--no-such-option"], env=env, timeout=30)
    _assert_usage_error(result, "unknown option: --no-such-option", script)


@pytest.mark.parametrize("script", WITH_OPTIONS, ids=lambda p: p.name)
def test_help_prints_the_header_only(script: Path) -> None:
    result = run([script, "--help"], timeout=30)
    assert result.returncode == 0, result.stderr
    first = script.read_text().splitlines()[1].lstrip("# ")
    assert result.stdout.startswith(first)
    assert "set -" not in result.stdout and "shellcheck" not in result.stdout, result.stdout


def test_bad_numbers_stop_before_anything_runs(tmp_path: Path) -> None:
    env = _stubbed_path(tmp_path, "ufw", "apt-get", "dpkg-query")
    for port in ("abc", "0", "65536", "022"):
        ufw = run([DEPLOY / "ufw.sh", "--ssh-port", port], env=env, timeout=30)
        _assert_usage_error(ufw, "--ssh-port must be a port number", DEPLOY / "ufw.sh")
    smoke = run([SCRIPTS / "smoke_test.sh", "--timeout", "3m", "http://x"], env=env, timeout=30)
    _assert_usage_error(smoke, "--timeout must be a whole number", SCRIPTS / "smoke_test.sh")
    dump = tmp_path / "energyapp.dump"
    dump.write_bytes(b"PGDMP")
    restore = run([SCRIPTS / "restore.sh", "--yes", dump], env={**env, "RESTORE_HEALTH_WAIT": "1m"})
    assert restore.returncode == 1
    assert 'RESTORE_HEALTH_WAIT must be a number of seconds, not "1m"' in restore.stderr
    assert "checking" not in restore.stderr, restore.stderr
    if os.geteuid() != 0:
        pytest.skip("deploy.sh checks its options after refusing a non-root user")
    # deploy.sh handed the SSH port to deploy/ufw.sh only at its very end, after installing
    # everything; the stubs stop it at its first step if the check let the port through.
    deploy = run([SCRIPTS / "deploy.sh", "--domain", "x.example.org", "--ssh-port", "2 2"], env=env)
    assert deploy.returncode == 1, deploy.stderr
    assert "--ssh-port must be a port number" in deploy.stderr
    assert "STUB" not in deploy.stderr and "==> " not in deploy.stderr, deploy.stderr
    # The address goes into the Caddyfile's global options: a line break there adds directives.
    for email in ("ops@x.example.org\n\tadmin 0.0.0.0:2019", "a b@x.org", "ops@x.org}"):
        deploy = run(
            [SCRIPTS / "deploy.sh", "--domain", "x.example.org", "--email", email], env=env
        )
        assert deploy.returncode == 1, deploy.stderr
        assert "--email must be a plain address" in deploy.stderr
        assert "STUB" not in deploy.stderr and "==> " not in deploy.stderr, deploy.stderr
