"""The password policy for new passwords (registration, password change).

``common_passwords.txt`` holds the passwords of 8+ characters among the 10,000 most common ones
of the zxcvbn 4.5.0 frequency list (MIT licence), lower-cased, plus common Spanish and
site-specific ones (``contraseña123``, ``energyapp1``, ``inacap2025``...).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from energyapp.errors import Unprocessable

MIN_LENGTH = 8
MAX_LENGTH = 128


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = files("energyapp.auth").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def password_problem(password: str, *, email: str) -> str | None:
    """The Spanish reason a new password is refused, or None when it is acceptable.

    Length counts characters (code points), not bytes; the whole password is always hashed.
    """
    if len(password) < MIN_LENGTH:
        return f"La contraseña debe tener al menos {MIN_LENGTH} caracteres."
    if len(password) > MAX_LENGTH:
        return f"La contraseña puede tener como máximo {MAX_LENGTH} caracteres."
    lowered = password.strip().lower()
    email = email.strip().lower()
    if lowered in (email, email.split("@", 1)[0]):
        return "La contraseña no puede ser igual a su correo."
    if lowered in common_passwords():
        return "Esa contraseña es demasiado común. Elija una más difícil de adivinar."
    return None


def check_new_password(password: str, *, email: str) -> None:
    """Raise 422 ``weak_password`` when the policy refuses ``password``."""
    problem = password_problem(password, email=email)
    if problem is not None:
        raise Unprocessable(problem, code="weak_password")
