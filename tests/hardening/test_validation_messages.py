"""A parameter the framework cannot parse is answered in Spanish: every part of a 422
``validation_error`` reads "<field>: <one of the app's own phrases>", never the parser's English
("input is too short", "invalid date separator, expected `-`")."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from energyapp.errors import VALIDATION_MESSAGES
from tests.hardening.conftest import Actor

PHRASES = {*VALIDATION_MESSAGES.values(), "no es válido"}
BAD_VALUES = (
    "abc",
    "",
    " ",
    "-1",
    "0",
    "1.5",
    "99999999999999999999",
    "2026-1-1",
    "2026-02-30",
    "2026-13-01",
    "10000-01-01",
    "2026-01-01T10:00:00",
    "x" * 600,
)


def _parameters(app: FastAPI) -> list[tuple[str, str, str, str]]:
    """(method, path, where, name) of every query and path parameter outside ``/v1``."""
    found = []
    for path, methods in app.openapi()["paths"].items():
        if path.startswith("/v1/"):
            continue  # OpenAI's error shape, tested with that API
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] in ("query", "path"):
                    found.append((method.upper(), path, parameter["in"], parameter["name"]))
    return found


def _url(path: str, where: str, name: str, value: str) -> tuple[str, dict[str, str]]:
    """The request's path (the other path parameters a valid, unknown id) and query."""
    if where == "path":
        path = path.replace("{" + name + "}", value or "%20")
    url = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
    return url, ({name: value} if where == "query" else {})


async def test_unparsable_parameters_are_described_in_spanish(
    client: httpx.AsyncClient, app: FastAPI, actors: dict[str, Actor]
) -> None:
    parameters = _parameters(app)
    dates = {("GET", "/admin/usage", "query", "from"), ("GET", "/admin/audit", "query", "to")}
    assert dates <= set(parameters)
    described = 0
    for method, path, where, name in parameters:
        for value in BAD_VALUES:
            url, params = _url(path, where, name, value)
            body = {} if method in ("POST", "PUT", "PATCH") else None
            response = await client.request(
                method, url, params=params, json=body, headers=actors["admin"].headers
            )
            context = f"{method} {path} {name}={value[:20]!r}"
            assert response.status_code < 500, context
            if response.status_code != 422 or response.json()["code"] != "validation_error":
                continue
            detail = response.json()["detail"]
            assert detail.startswith("Datos inválidos: ") and detail.endswith("."), context
            for part in detail.removeprefix("Datos inválidos: ").removesuffix(".").split("; "):
                field, _, phrase = part.partition(": ")
                if field == name:
                    described += 1
                    assert phrase in PHRASES, f"{context}: {detail}"
    assert described > 50


async def test_a_day_that_is_no_date_says_how_to_write_one(
    client: httpx.AsyncClient, actors: dict[str, Actor]
) -> None:
    headers = actors["admin"].headers
    for url in (
        "/admin/usage",
        "/admin/usage/export.csv",
        "/admin/audit",
        "/admin/audit/export.csv",
    ):
        for value in ("abc", "2026-1-1", "2026-02-30", "10000-01-01", "2026-01-01T10:00:00"):
            response = await client.get(url, params={"from": value}, headers=headers)
            assert response.status_code == 422, (url, value)
            assert response.json() == {
                "detail": "Datos inválidos: from: no es una fecha válida (use AAAA-MM-DD).",
                "code": "validation_error",
            }, (url, value)


async def test_a_body_that_is_no_json_is_named_as_such(
    client: httpx.AsyncClient, actors: dict[str, Actor]
) -> None:
    # The parser places a JSON error at a character position ("1"): not a field a person knows.
    response = await client.post(
        "/conversations",
        content=b'{"title": ',
        headers={**actors["trabajador"].headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Datos inválidos: el cuerpo de la solicitud no es JSON válido.",
        "code": "validation_error",
    }
