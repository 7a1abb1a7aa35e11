"""The log scan that runs over the whole test suite (tests/log_scan.py) finds what it looks for."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pyotp
import pytest

from energyapp.logging import JsonFormatter
from tests import log_scan
from tests.conftest import UserFactory

ROOT = Path(__file__).resolve().parents[2]


def test_the_scan_finds_passwords_tokens_and_totp_secrets() -> None:
    token = (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    )
    secret = pyotp.random_base32()
    assert secret in log_scan.TOTP_SECRETS  # recorded as it was made
    opaque = secrets.token_urlsafe(32)  # a refresh, challenge or password-reset token
    assert opaque in log_scan.TOKENS
    lines = [
        '{"msg": "login ok", "email": "a@alvaradomazzei.cl"}',
        f'{{"msg": "debug {token}"}}',
        '{"msg": "tried admin123 for admin@example.com"}',
        f'{{"msg": "secret {secret}"}}',
        f'{{"msg": "POST /auth/password-reset", "body": "{opaque}"}}',
    ]
    found = log_scan.leaks(lines, log_scan.PASSWORDS, log_scan.TOTP_SECRETS, log_scan.TOKENS)
    assert [leak.split(":", 1)[0] for leak in found] == [
        "a JWT",
        "a password",
        "a TOTP secret",
        "an opaque token",
    ]
    # A password of one repeated letter is no evidence in a line of hostile input.
    repeated = ['{"msg": "GET /conversations/' + "x" * 600 + '"}']
    assert log_scan.leaks(repeated, {"x" * 12, "admin123"}, ()) == []
    assert log_scan.leaks(['{"msg": "tried xyzw1234"}'], {"xyzw1234"}, ()) != []


def test_every_formatted_line_is_kept() -> None:
    record = logging.makeLogRecord({"msg": "una línea de prueba", "levelno": logging.INFO})
    line = JsonFormatter().format(record)
    assert log_scan.LINES[-1] == line


async def test_a_login_is_logged_without_its_password(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    """A login writes lines (the access line at least) and the password checked is recorded."""
    password = "Una-clave-del-escaneo-77"
    user = await make_user(password=password)
    before = len(log_scan.LINES)
    response = await client.post("/auth/login", json={"email": user.email, "password": password})
    assert response.status_code == 200
    assert password in log_scan.PASSWORDS
    written = log_scan.LINES[before:]
    assert any("/auth/login" in line for line in written)
    assert not log_scan.leaks(written, {password}, ())


@pytest.mark.no_database
@pytest.mark.parametrize("workers", [0, 2], ids=["one process", "two xdist workers"])
def test_a_leak_logged_in_any_worker_fails_the_whole_run(tmp_path: Path, workers: int) -> None:
    """``make test`` runs each pass on several xdist workers: a leak in any of them must fail
    the run, reported by the controller (a worker's own exit status would be lost)."""
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_sessionfinish, pytest_testnodedown  # noqa: F401\n"
    )
    (tmp_path / "test_leak.py").write_text(
        "import pytest\n"
        "from tests import log_scan\n\n"
        "@pytest.mark.parametrize('n', range(6))\n"
        "def test_logs(n):\n"
        "    line = 'tried admin123' if n == 5 else 'ok'\n"
        "    log_scan.LINES.append('{\"msg\": \"' + line + '\"}')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ENERGYAPP_TEST_DB": "sqlite"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    run = subprocess.run(
        [*command, "-n", str(workers), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "6 passed" in run.stdout, run.stdout + run.stderr
    processes = "2 process(es)" if workers else "1 process(es)"
    assert "log scan: 6 log lines, " in run.stdout
    assert f"checked in {processes}; 1 leaks" in run.stdout
    assert "LEAK: a password" in run.stdout
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout
