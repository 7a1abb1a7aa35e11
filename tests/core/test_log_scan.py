"""The log scan that runs over the whole test suite (tests/log_scan.py) finds what it looks for."""

from __future__ import annotations

import logging

import httpx
import pyotp

from energyapp.logging import JsonFormatter
from tests import log_scan
from tests.conftest import UserFactory


def test_the_scan_finds_passwords_tokens_and_totp_secrets() -> None:
    token = (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    )
    secret = pyotp.random_base32()
    assert secret in log_scan.TOTP_SECRETS  # recorded as it was made
    lines = [
        '{"msg": "login ok", "email": "a@alvaradomazzei.cl"}',
        f'{{"msg": "debug {token}"}}',
        '{"msg": "tried admin123 for admin@example.com"}',
        f'{{"msg": "secret {secret}"}}',
    ]
    found = log_scan.leaks(lines, log_scan.PASSWORDS, log_scan.TOTP_SECRETS)
    assert [leak.split(":", 1)[0] for leak in found] == ["a JWT", "a password", "a TOTP secret"]


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
