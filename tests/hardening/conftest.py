"""Fixtures for the hardening suite: one user per role with a valid token, and the app's routes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from energyapp.auth.deps import get_current_user
from energyapp.auth.models import User
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import make_conversation as make_conversation

ROLES = ("admin", "supervisor", "trabajador")
# The dependency that checks a caller's credentials, on every authenticated route.
AUTHENTICATING = (get_current_user,)


@dataclass
class Actor:
    user: User
    headers: dict[str, str]


@pytest.fixture
async def actors(make_user: UserFactory, auth_headers: HeadersFactory) -> dict[str, Actor]:
    """One active user per role, each with a valid ``Authorization`` header."""
    result: dict[str, Actor] = {}
    for role in ROLES:
        user = await make_user(role=role, full_name=f"Persona {role}")
        result[role] = Actor(user=user, headers=await auth_headers(user))
    return result


def depends_on(dependant: Dependant, calls: tuple[object, ...]) -> bool:
    """Whether one of ``calls`` is among the dependencies of ``dependant``, at any depth."""
    pending = list(dependant.dependencies)
    while pending:
        dep = pending.pop()
        if dep.call in calls:
            return True
        pending.extend(dep.dependencies)
    return False


def _needs_user(dependant: Dependant) -> bool:
    return depends_on(dependant, AUTHENTICATING)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # the template, e.g. /conversations/{conversation_id}
    needs_user: bool

    def url(self, value: str | None = None) -> str:
        """The path with every parameter filled (a random UUID unless ``value`` is given)."""
        route_path = self.path
        while "{" in route_path:
            start = route_path.index("{")
            end = route_path.index("}", start)
            route_path = route_path[:start] + (value or str(uuid.uuid4())) + route_path[end + 1 :]
        return route_path

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every HTTP operation of the app (documented or not), HEAD/OPTIONS aside."""
    found: list[Endpoint] = []
    # FastAPI >= 0.160 keeps included routers as branches; iter_route_contexts flattens them
    # with the prefixes and router-level dependencies applied.
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        dependant = context.dependant
        assert isinstance(dependant, Dependant)
        for method in sorted(context.methods or ()):
            if method in ("HEAD", "OPTIONS"):
                continue
            found.append(Endpoint(method, str(context.path), _needs_user(dependant)))
    return found


def list_operations(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every operation whose 200 answer is a page (``items``, ``next_cursor``)."""
    spec = app.openapi()
    schemas = spec["components"]["schemas"]
    found = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            content = operation["responses"].get("200", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
            properties = schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
            if {"items", "next_cursor"} <= set(properties):
                found.append((method.upper(), path))
    return found
