"""Every log line the app writes during the test run, kept and scanned at the end for the
secrets the run handled: passwords, access tokens (JWTs), opaque tokens (refresh, 2FA
challenge and password-reset tokens) and TOTP secrets.

``install()`` wraps the app's JSON formatter (every line the app writes goes through it, after
the redaction it applies), the password hasher (every password the app hashes or checks),
``secrets.token_urlsafe`` (every opaque token the app makes) and pyotp's secret generator.
``tests/conftest.py`` installs it for the whole session and fails the run if :func:`leaks` finds
anything; the UI server's log file is added to the lines.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any

import pyotp
from pwdlib import PasswordHash

from energyapp.auth.demo import DEMO_ACCOUNTS
from energyapp.logging import JsonFormatter

LINES: list[str] = []
PASSWORDS: set[str] = {password for _email, password, _name, _role in DEMO_ACCOUNTS}
TOTP_SECRETS: set[str] = set()
# Opaque tokens of 32 random bytes or more (43+ characters): shorter ones are ids, not secrets.
TOKENS: set[str] = set()
MIN_TOKEN_LENGTH = 43
# A password shorter than this, or of fewer different characters (hostile-input tests send
# "x" * 12 as a password and "x" * 600 as an id), is no evidence of anything found in a line.
MIN_PASSWORD_LENGTH = 8
MIN_PASSWORD_CHARACTERS = 4
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")

_installed = False


def _recording(method: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self: PasswordHash, password: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if isinstance(password, str) and len(password) >= MIN_PASSWORD_LENGTH:
            PASSWORDS.add(password)
        return method(self, password, *args, **kwargs)

    return wrapper


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    original_format = JsonFormatter.format

    def format_and_keep(self: JsonFormatter, record: Any) -> str:
        line = original_format(self, record)
        LINES.append(line)
        return line

    JsonFormatter.format = format_and_keep  # type: ignore[method-assign]
    for name in ("hash", "verify", "verify_and_update"):
        setattr(PasswordHash, name, _recording(getattr(PasswordHash, name)))
    original_secret = pyotp.random_base32

    def secret_and_keep(*args: Any, **kwargs: Any) -> str:
        secret: str = original_secret(*args, **kwargs)
        TOTP_SECRETS.add(secret)
        return secret

    pyotp.random_base32 = secret_and_keep
    original_token = secrets.token_urlsafe

    def token_and_keep(nbytes: int | None = None) -> str:
        token = original_token(nbytes)
        if len(token) >= MIN_TOKEN_LENGTH:
            TOKENS.add(token)
        return token

    secrets.token_urlsafe = token_and_keep


def leaks(
    lines: Iterable[str],
    passwords: Iterable[str],
    totp_secrets: Iterable[str],
    tokens: Iterable[str] = (),
) -> list[str]:
    """The lines that contain a password, a JWT, a TOTP secret or an opaque token, each with
    what it holds."""
    passwords = [
        p
        for p in passwords
        if len(p) >= MIN_PASSWORD_LENGTH and len(set(p)) >= MIN_PASSWORD_CHARACTERS
    ]
    totp_secrets = list(totp_secrets)
    tokens = [t for t in tokens if len(t) >= MIN_TOKEN_LENGTH]
    found = []
    for line in lines:
        if JWT.search(line):
            found.append(f"a JWT: {line[:300]}")
        elif any(password in line for password in passwords):
            found.append(f"a password: {line[:300]}")
        elif any(secret in line for secret in totp_secrets):
            found.append(f"a TOTP secret: {line[:300]}")
        elif any(token in line for token in tokens):
            found.append(f"an opaque token: {line[:300]}")
    return found
