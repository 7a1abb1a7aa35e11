"""``POST /chat`` runs on :class:`DirectChatRoute`, which resolves the endpoint's dependencies
with plain calls instead of FastAPI's solver. Every request below, good or bad, gets the same
answer from it as from the solver (which the route falls back to when ``dependency_overrides``
is set), except malformed JSON from a refused caller: 401 first, as for every other body."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import AuthSession
from energyapp.chat import router as chat_router
from energyapp.chat.deps import get_chat_caller
from tests.chat.conftest import LiveApp, sse_events
from tests.conftest import HeadersFactory, UserFactory

JSON = "application/json"
HOLA = b'{"message": "Hola"}'
# (headers kind, body, content type): every kind of caller with a few bodies, then every kind
# of body from a valid caller.
CASES: list[tuple[str, bytes, str | None]] = [
    *(
        (kind, body, JSON)
        for kind in ("none", "garbage", "basic", "revoked")
        for body in (HOLA, b"", b'{"message": ')
    ),
    ("valid", HOLA, JSON),
    ("valid", HOLA, "application/json; charset=utf-8"),
    ("valid", HOLA, "application/merge-patch+json"),
    ("valid", HOLA, "text/plain"),
    ("valid", HOLA, None),
    ("valid", b"", JSON),
    ("valid", b'{"message": ', JSON),
    ("valid", b"[]", JSON),
    ("valid", b"null", JSON),
    ("valid", b'{"message": 5}', JSON),
    ("valid", b'{"message": "Hola", "extra": 1}', JSON),
    ("valid", b'{"message": "   "}', JSON),
    ("valid", b'{"message": "' + b"a" * 9000 + b'"}', JSON),
    ("valid", b'{"message": "Hola", "conversation_id": "no-es-uuid"}', JSON),
    ("valid", b'{"message": "Hola", "conversation_id": "FOREIGN"}', JSON),
    ("valid", b'{"message": "Hola", "conversation_id": "%s"}' % str(uuid.uuid4()).encode(), JSON),
    ("valid", b'{"message": "Hola", "model": "no-existe:1b"}', JSON),
]


async def _answer(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], body: bytes, ctype: str | None
) -> tuple[int, str | None, str]:
    """(status, error code, error detail) or, for a stream, (200, None, first and last event)."""
    if ctype is not None:
        headers = {**headers, "Content-Type": ctype}
    async with http.stream("POST", url, content=body, headers=headers) as response:
        if response.status_code == 200:
            names = [name async for name, _data in sse_events(response)]
            return 200, None, f"{names[0]}..{names[-1]}" if "done" in names else ",".join(names)
        error = json.loads(await response.aread())
        return response.status_code, error["code"], error["detail"]


async def test_the_direct_route_answers_as_fastapis_solver(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    direct_calls = 0
    handle = chat_router._handle_chat

    async def counted(request: Request) -> Response:
        nonlocal direct_calls
        direct_calls += 1
        return await handle(request)

    monkeypatch.setattr(chat_router, "_handle_chat", counted)

    async def headers_for(kind: str) -> dict[str, str]:
        if kind == "none":
            return {}
        if kind == "garbage":
            return {"Authorization": "Bearer not-a-token"}
        if kind == "basic":
            return {"Authorization": "Basic dXNlcjpwYXNz"}
        user = await make_user()  # a fresh user each time: no rate limit or answer in progress
        headers = await auth_headers(user)
        if kind == "revoked":
            async with sessionmaker() as session:
                await session.execute(
                    update(AuthSession)
                    .where(AuthSession.user_id == user.id)
                    .values(revoked_at=datetime.now(UTC), revoked_reason="logout")
                )
                await session.commit()
        return headers

    async def run(app: FastAPI, url: str, foreign: str) -> list[tuple[int, str | None, str]]:
        return [
            await _answer(
                http, url, await headers_for(kind), body.replace(b"FOREIGN", foreign.encode()), ct
            )
            for kind, body, ct in CASES
        ]

    async with live_app() as (base, app):
        url = f"{base}/chat"
        other = await headers_for("valid")
        async with http.stream("POST", url, json={"message": "Mía"}, headers=other) as response:
            metas = [data async for name, data in sse_events(response) if name == "meta"]
        foreign = metas[0]["conversation_id"]
        before = direct_calls
        direct = await run(app, url, foreign)
        assert direct_calls - before == len(CASES)
        app.dependency_overrides[get_chat_caller] = get_chat_caller  # the same dependency
        solver = await run(app, url, foreign)
        assert direct_calls - before == len(CASES)  # none more: these went through FastAPI's solver

    for case, mine, fastapi_s in zip(CASES, direct, solver, strict=True):
        kind, body, _ctype = case
        if kind != "valid" and body == b'{"message": ':
            # The one difference, on purpose: FastAPI parses the JSON before it runs any
            # dependency, so malformed JSON got its 422 before the credentials were looked at.
            assert (mine[0], fastapi_s[0]) == (401, 422), case
            continue
        assert mine == fastapi_s, (kind, body[:60], case[2])
    statuses = {status for status, _code, _detail in direct}
    assert statuses == {200, 401, 404, 413, 422}, statuses  # the cases cover every outcome
    codes = {code for _status, code, _detail in direct}
    assert {"not_authenticated", "invalid_token", "session_revoked"} <= codes
    assert {"validation_error", "message_empty", "message_too_long", "unknown_model"} <= codes


def test_the_chat_route_keeps_its_documented_signature(app: FastAPI) -> None:
    """OpenAPI, the security scheme and the route checks read the endpoint's signature."""
    route = next(r for r in chat_router.router.routes if getattr(r, "path", None) == "/chat")
    assert isinstance(route, chat_router.DirectChatRoute)
    assert route.methods == {"POST"}
    calls = [dependency.call for dependency in route.dependant.dependencies]
    assert get_chat_caller in calls
    operation = app.openapi()["paths"]["/chat"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ChatRequest"
    )
    assert operation["security"] == [{"HTTPBearer": []}]
