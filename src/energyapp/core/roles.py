"""The three roles, defined once: settings, schemas, the ``users`` table and its constraint
all take them from here."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    TRABAJADOR = "trabajador"


# How a person reads each role (the same words as the UI's ROLE_LABELS).
ROLE_LABELS: dict[str, str] = {
    Role.ADMIN: "Administrador",
    Role.SUPERVISOR: "Supervisor",
    Role.TRABAJADOR: "Trabajador",
}

ROLE_VALUES: tuple[str, ...] = tuple(role.value for role in Role)


def role_check(column: str = "role") -> str:
    """The SQL condition of the ``users.role`` check constraint."""
    return f"{column} IN ({', '.join(repr(value) for value in ROLE_VALUES)})"
