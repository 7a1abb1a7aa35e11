"""JSON bodies are read only as BOM-less UTF-8: a body in another encoding that ``json.loads``
would still decode (UTF-8 with a BOM, UTF-16, UTF-32) is refused before any route sees it, so a
NUL or a deep nesting cannot slip past the text guard that way. Nothing is stored."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.core.middleware import MAX_JSON_DEPTH
from energyapp.models import Base
from tests.hardening.conftest import Actor, endpoints

# Every encoding json.loads(bytes) accepts besides plain UTF-8 (it tells UTF-16 and UTF-32 from
# UTF-8 by the NUL bytes of the first characters, and strips the BOMs).
OTHER_ENCODINGS = (
    "utf-8-sig",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "utf-32-le",
    "utf-32-be",
)
DEEP = "[" * 5000 + "]" * 5000
JSON_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def documents(email: str) -> dict[tuple[str, str], str]:
    """(method, path) -> a body each route would otherwise accept, with a NUL in every field."""
    return {
        ("POST", "/auth/login"): f'{{"email": "{email}\\u0000", "password": "x\\u0000y"}}',
        ("PATCH", "/auth/me"): '{"full_name": "Nombre\\u0000Nulo"}',
        ("POST", "/conversations"): '{"title": "T\\u00edtulo\\u0000nulo"}',
        ("POST", "/chat"): '{"message": "Hola\\u0000nulo"}',
        ("POST", "/auth/register"): (
            '{"email": "nuevo@alvaradomazzei.cl", "password": "Clave-muy-segura-2026", '
            '"full_name": "Nuevo\\u0000Nulo"}'
        ),
    }


async def row_counts(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessionmaker() as session:
        return {
            table.name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


def assert_refused(response: httpx.Response, code: str, context: str) -> None:
    assert response.status_code == 400, f"{context}: {response.status_code} {response.text[:200]}"
    body = response.json()
    if response.url.path.startswith("/v1/"):  # the OpenAI-compatible API: OpenAI's shape
        error = body["error"]
        assert error["code"] == code and error["message"], context
        return
    assert set(body) == {"detail", "code"} and body["code"] == code and body["detail"], context


@pytest.mark.parametrize("encoding", OTHER_ENCODINGS)
async def test_other_encodings_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
    actors: dict[str, Actor],
    sessionmaker: async_sessionmaker[AsyncSession],
    encoding: str,
) -> None:
    actor = actors["trabajador"]
    before = await row_counts(sessionmaker)
    headers = {**actor.headers, "Content-Type": "application/json"}
    for (method, path), document in documents(actor.user.email).items():
        for name, text in (("nul", document), ("deep", DEEP), ("deep object", f'{{"a": {DEEP}}}')):
            response = await client.request(
                method, path, content=text.encode(encoding), headers=headers
            )
            assert_refused(response, "invalid_encoding", f"{method} {path} {encoding} {name}")
    assert await row_counts(sessionmaker) == before
    me = await client.get("/auth/me", headers=actor.headers)
    assert me.json()["full_name"] == actor.user.full_name


async def test_deep_nesting_is_json_too_deep_on_every_route(
    client: httpx.AsyncClient, app: FastAPI, actors: dict[str, Actor]
) -> None:
    """Whatever the route (and before authentication), a body nested past MAX_JSON_DEPTH is a
    400 ``json_too_deep`` and a body in another encoding a 400 ``invalid_encoding``."""
    headers = {**actors["admin"].headers, "Content-Type": "application/json"}
    just_too_deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    bodies = {
        "deep utf-8": (DEEP.encode(), "json_too_deep"),
        "just too deep": (just_too_deep.encode(), "json_too_deep"),
        "deep inside an object": (f'{{"title": {DEEP}}}'.encode(), "json_too_deep"),
        "deep utf-16": (DEEP.encode("utf-16-le"), "invalid_encoding"),
        "deep with a bom": (DEEP.encode("utf-8-sig"), "invalid_encoding"),
        "nul utf-32": ('{"title": "a\\u0000b"}'.encode("utf-32-be"), "invalid_encoding"),
    }
    routes = [e for e in endpoints(app) if e.method in JSON_METHODS]
    assert len(routes) >= 15
    for endpoint in routes:
        for name, (body, code) in bodies.items():
            for auth in (headers, {"Content-Type": "application/json"}):
                response = await client.request(
                    endpoint.method, endpoint.url(), content=body, headers=auth
                )
                assert_refused(response, code, f"{endpoint} {name}")


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json; charset=utf-16", 400),
        ("application/json; charset=ISO-8859-1", 400),
        ('application/json; charset="latin1"', 400),
        ("application/json; charset=utf-8", 201),
        ("application/json; charset=UTF8", 201),
        ("application/json", 201),
    ],
)
async def test_only_a_utf8_charset_may_be_declared(
    client: httpx.AsyncClient, actors: dict[str, Actor], content_type: str, status: int
) -> None:
    """A client that declares another charset means other text than the bytes read as UTF-8."""
    headers = {**actors["trabajador"].headers, "Content-Type": content_type}
    body = '{"title": "Canción"}'.encode()
    response = await client.post("/conversations", content=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["code"] == "invalid_encoding"
    else:
        assert response.json()["title"] == "Canción"


async def test_plain_utf8_still_reaches_the_routes(
    client: httpx.AsyncClient, actors: dict[str, Actor]
) -> None:
    """The refusals above are about the encoding: the same fields in UTF-8, escapes included,
    are served as before (and a NUL escape is the usual 422)."""
    headers = {**actors["trabajador"].headers, "Content-Type": "application/json"}
    renamed = await client.patch(
        "/auth/me", content=b'{"full_name": "Mar\\u00eda \\ud83d\\ude00"}', headers=headers
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["full_name"] == "María \U0001f600"
    nul = await client.patch("/auth/me", content=b'{"full_name": "a\\u0000b"}', headers=headers)
    assert nul.status_code == 422 and nul.json()["code"] == "invalid_characters"
