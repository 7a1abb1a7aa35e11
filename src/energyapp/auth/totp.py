"""TOTP (RFC 6238: 6 digits, 30 s step, ±1 step) and single-use recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
from datetime import UTC, datetime

import pyotp

ISSUER = "EnergyApp"
STEP_SECONDS = 30
VALID_WINDOW = 1  # steps accepted on either side of now (clock drift)
RECOVERY_CODE_COUNT = 10
# No 0/o, 1/l/i: codes are read off paper. 16 symbols of 31 ≈ 79 bits, so a plain SHA-256 is
# enough to store them (nobody can enumerate 2^79 guesses), and a lookup is one indexed query.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 16
_TOTP_RE = re.compile(r"\d{6}")


def new_secret() -> str:
    """A random base32 secret of 160 bits."""
    secret: str = pyotp.random_base32()
    return secret


def provisioning_uri(secret: str, email: str) -> str:
    uri: str = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
    return uri


def qr_svg(uri: str) -> str:
    """A standalone SVG document (usable as an ``<img>`` data URL, no script, no HTML)."""
    # Imported here: only enrolment draws a QR code, and segno with its XML writers would
    # otherwise sit in every process's memory (about 1 MB) from start-up on.
    import segno

    buffer = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(
        buffer, kind="svg", xmldecl=False, svgns=True, scale=5, border=2
    )
    return buffer.getvalue().decode()


def current_step(now: datetime | None = None) -> int:
    return int((now or datetime.now(UTC)).timestamp()) // STEP_SECONDS


def is_totp_format(code: str) -> bool:
    return _TOTP_RE.fullmatch(code) is not None


def matching_step(secret: str, code: str, *, now: datetime | None = None) -> int | None:
    """The time step whose code equals ``code`` within ±1 step of now, or None.

    The caller refuses a step at or below the last one accepted (replay)."""
    if not is_totp_format(code):
        return None
    totp = pyotp.TOTP(secret)
    step = current_step(now)
    for candidate in range(step - VALID_WINDOW, step + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes shaped ``abcd-efgh-jkmn-pqrs``."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
    return codes


def normalize_recovery_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


def hash_recovery_code(code: str) -> str:
    return hashlib.sha256(normalize_recovery_code(code).encode()).hexdigest()
