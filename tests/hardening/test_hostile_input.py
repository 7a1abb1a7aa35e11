"""Hostile text in every text field: stored exactly (composed to NFC, ``core.text.nfc``) or
refused with a clean 4xx, never a 500."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.config import Settings
from energyapp.conversations.models import Message
from energyapp.core.middleware import MAX_JSON_DEPTH
from energyapp.core.text import nfc
from tests.conftest import make_settings
from tests.conversations.conftest import ConversationFactory
from tests.hardening.conftest import Actor
from tests.hardening.corpus import REFUSED, STORABLE, long_text
from tests.llm.stand_in import stand_in

ALL = {**STORABLE, **REFUSED}
# Fields behind a password hash (argon2 is slow on purpose): a representative subset, the same
# validators are exercised with the whole corpus through PATCH /auth/me.
HASHED_SUBSET = {
    name: ALL[name]
    for name in (
        "script tag",
        "svg onload",
        "rtl override",
        "zero width",
        "homoglyph",
        "astral",
        "nul",
        "lone high surrogate",
    )
}


@pytest.fixture
async def ollama_url() -> AsyncIterator[str]:
    async with stand_in() as (url, _fake):
        yield url


@pytest.fixture
def settings(db_url: str, ollama_url: str) -> Settings:
    # Throttles raised: this module sends many requests on purpose (the throttles have tests of
    # their own); everything else as in production.
    return make_settings(
        db_url,
        ollama_url=ollama_url,
        chat_rate_limit_per_minute=100_000,
        login_max_failures_per_ip=100_000,
        login_max_failures_per_account=100_000,
        conversation_exports_per_minute=100_000,
    )


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    document: Any,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """JSON with ``\\u`` escapes (httpx writes raw UTF-8, which cannot carry a lone surrogate)."""
    return await client.request(
        method,
        url,
        content=json.dumps(document).encode(),
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def assert_clean(response: httpx.Response, context: str) -> None:
    """Below 500, and an error is the app's JSON ``{"detail", "code"}``."""
    assert response.status_code < 500, f"{context}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"detail", "code"}, context
        assert body["detail"] and body["code"], context
    assert response.headers.get("x-content-type-options") == "nosniff"


def assert_refused_characters(response: httpx.Response, context: str) -> None:
    assert response.status_code == 422, f"{context}: {response.status_code} {response.text[:200]}"
    assert response.json()["code"] == "invalid_characters", context


async def test_conversation_titles(client: httpx.AsyncClient, actors: dict[str, Actor]) -> None:
    headers = actors["trabajador"].headers
    created = await send(client, "POST", "/conversations", {"title": "inicial"}, headers)
    conversation_id = created.json()["id"]
    cases = {**ALL, "201 chars": long_text(201), "200 chars": long_text(200)}
    accepted = 0
    for name, payload in cases.items():
        for method, url in (
            ("POST", "/conversations"),
            ("PATCH", f"/conversations/{conversation_id}"),
        ):
            response = await send(client, method, url, {"title": payload}, headers)
            context = f"{method} title {name}"
            assert_clean(response, context)
            if name in REFUSED:
                assert_refused_characters(response, context)
            elif response.is_success:
                accepted += 1
                stored = await client.get(
                    f"/conversations/{response.json()['id']}", headers=headers
                )
                assert stored.json()["title"] == nfc(payload.strip()), context
            else:
                assert response.status_code == 422, context
    # Markup, scripts and look-alikes are a person's text: accepted and kept as typed.
    for name in ("script tag", "img onerror", "markdown js link", "homoglyph", "astral"):
        response = await send(client, "POST", "/conversations", {"title": STORABLE[name]}, headers)
        assert response.status_code == 201, name
    assert accepted >= 40


async def test_export_of_hostile_titles_is_an_attachment(
    client: httpx.AsyncClient, actors: dict[str, Actor]
) -> None:
    headers = actors["trabajador"].headers
    for name, payload in STORABLE.items():
        created = await send(client, "POST", "/conversations", {"title": payload}, headers)
        if created.status_code != 201:
            continue
        conversation_id = created.json()["id"]
        for fmt in ("md", "json"):
            response = await client.get(
                f"/conversations/{conversation_id}/export", params={"format": fmt}, headers=headers
            )
            assert response.status_code == 200, f"{name} {fmt}"
            disposition = response.headers["content-disposition"]
            assert disposition.startswith("attachment;"), name
            assert disposition.isascii() and "\r" not in disposition and "\n" not in disposition
            assert not response.headers["content-type"].startswith("text/html")
            if fmt == "json":
                assert response.json()["conversation"]["title"] == nfc(payload.strip())


async def test_full_names(client: httpx.AsyncClient, actors: dict[str, Actor]) -> None:
    headers = actors["trabajador"].headers
    cases = {**ALL, "201 chars": long_text(201), "200 chars": long_text(200)}
    for name, payload in cases.items():
        response = await send(client, "PATCH", "/auth/me", {"full_name": payload}, headers)
        context = f"full_name {name}"
        assert_clean(response, context)
        if name in REFUSED:
            assert_refused_characters(response, context)
        elif response.is_success:
            me = await client.get("/auth/me", headers=headers)
            assert me.json()["full_name"] == nfc(" ".join(payload.split())), context
        else:
            assert response.status_code == 422, context
    response = await send(
        client, "PATCH", "/auth/me", {"full_name": STORABLE["script tag"]}, headers
    )
    assert response.status_code == 200


async def test_registration_fields(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    password = "Clave-muy-segura-2026"
    for name, payload in {**HASHED_SUBSET, "long": long_text(5000)}.items():
        email = f"hostil-{uuid.uuid4().hex[:8]}@alvaradomazzei.cl"
        document = {"email": email, "password": password, "full_name": payload}
        response = await send(client, "POST", "/auth/register", document)
        assert_clean(response, f"register full_name {name}")
        if name in REFUSED:
            assert_refused_characters(response, name)
        elif response.status_code == 201:
            async with sessionmaker() as session:
                user = await session.scalar(select(User).where(User.email == email))
            assert user is not None and user.full_name == nfc(" ".join(payload.split())), name
        # Passwords are secrets, never displayed: any text is hashed or refused, never a 500.
        document = {
            "email": f"clave-{uuid.uuid4().hex[:8]}@alvaradomazzei.cl",
            "password": (payload * 4)[:128],
            "full_name": "Nombre",
        }
        response = await send(client, "POST", "/auth/register", document)
        assert_clean(response, f"register password {name}")
        if name in REFUSED:
            assert_refused_characters(response, name)


async def test_registration_emails(client: httpx.AsyncClient) -> None:
    """A hostile address is refused (422 malformed, 403 foreign domain) before any hashing."""
    for name, payload in {**ALL, "long": long_text(5000)}.items():
        for email in (payload, f"{payload}@alvaradomazzei.cl", f"x@{payload}"):
            document = {"email": email, "password": "Clave-muy-segura-2026", "full_name": "N"}
            response = await send(client, "POST", "/auth/register", document)
            assert_clean(response, f"register email {name}")
            if response.status_code == 201:  # only a plain address in the allowed domain
                assert response.json()["email"].endswith("@alvaradomazzei.cl"), name
                assert email.isascii() and "<" not in email and " " not in email.strip(), name
            elif name in REFUSED:
                assert_refused_characters(response, name)


async def test_login_fields(client: httpx.AsyncClient, actors: dict[str, Actor]) -> None:
    for name, payload in {**HASHED_SUBSET, "long": long_text(5000)}.items():
        for body in (
            {"email": payload, "password": "x"},
            {"email": actors["admin"].user.email, "password": payload},
        ):
            response = await send(client, "POST", "/auth/login", body)
            assert_clean(response, f"login {name}")
            assert response.status_code in (401, 422, 429), f"login {name}"


async def test_last_event_ids_beyond_a_redis_stream_id(
    client: httpx.AsyncClient, actors: dict[str, Actor], make_conversation: ConversationFactory
) -> None:
    """A stream entry id is two 64-bit numbers. Twenty digits past 2**64 - 1 passed the header's
    pattern and Redis refused the read (of a live answer, or one whose events it still keeps):
    the client got an "unavailable" error event instead of the 422 any other malformed id gets."""
    worker = actors["trabajador"]
    conversation = await make_conversation(worker.user, messages=["Hola", "Buenos días"])
    listed = await client.get(f"/conversations/{conversation.id}/messages", headers=worker.headers)
    answer_id = listed.json()["items"][-1]["id"]
    url = f"/chat/{answer_id}/stream"
    for value in ("18446744073709551616-0", "0-18446744073709551616", "99999999999999999999-1"):
        refused = await client.get(url, headers={**worker.headers, "Last-Event-ID": value})
        assert refused.status_code == 422, value
        assert refused.json()["code"] == "validation_error"
        assert "last-event-id" in refused.json()["detail"]
    largest = "18446744073709551615-18446744073709551615"
    accepted = await client.get(url, headers={**worker.headers, "Last-Event-ID": largest})
    assert accepted.status_code == 200
    assert "Buenos días" in accepted.text


async def test_search_queries(client: httpx.AsyncClient, actors: dict[str, Actor]) -> None:
    await send(
        client, "POST", "/conversations", {"title": STORABLE["script tag"]}, actors["admin"].headers
    )
    for name, payload in {**STORABLE, "long": long_text(5000), "nul": "a\x00b"}.items():
        for url, role in (("/conversations", "trabajador"), ("/admin/users", "admin")):
            response = await client.get(url, params={"q": payload}, headers=actors[role].headers)
            assert_clean(response, f"{url} q={name}")
            if name == "nul":
                assert_refused_characters(response, f"{url} q=nul")


async def _chat(client: httpx.AsyncClient, headers: dict[str, str], message: str) -> httpx.Response:
    return await send(client, "POST", "/chat", {"message": message}, headers)


def _events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    name = "message"
    for line in response.text.splitlines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


async def test_chat_messages_stored_verbatim(
    client: httpx.AsyncClient,
    actors: dict[str, Actor],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    headers = actors["trabajador"].headers
    cases = {**ALL, "max length": long_text(8000), "over max": long_text(8001)}
    for name, payload in cases.items():
        response = await _chat(client, headers, payload)
        assert_clean(response, f"chat {name}")
        if name in REFUSED:
            assert_refused_characters(response, name)
            continue
        if name == "over max":
            assert response.status_code == 413 and response.json()["code"] == "message_too_long"
            continue
        assert response.status_code == 200, name
        events = _events(response)
        meta = events[0][1]
        assert events[-1][0] in ("done", "title"), name
        async with sessionmaker() as session:
            question = await session.get(Message, uuid.UUID(meta["user_message_id"]))
        assert question is not None and question.content == nfc(payload.strip()), name


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/conversations"),
        ("PATCH", "/auth/me"),
        ("POST", "/auth/login"),
        ("POST", "/auth/register"),
        ("POST", "/chat"),
    ],
)
async def test_malformed_bodies(
    client: httpx.AsyncClient, actors: dict[str, Actor], method: str, path: str
) -> None:
    headers = {**actors["trabajador"].headers, "Content-Type": "application/json"}
    bodies = {
        "invalid utf-8": (b'{"title": "\xff\xfe\xc3\x28"}', 400, "invalid_encoding"),
        "overlong utf-8": (b'{"title": "\xc0\xaf"}', 400, "invalid_encoding"),
        "deeply nested arrays": (b"[" * 200_000 + b"]" * 200_000, 400, "json_too_deep"),
        "deeply nested objects": (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400, "json_too_deep"),
        "unterminated nesting": (b"[" * 500_000, 400, "json_too_deep"),
        "nul escape in a key": (b'{"ti\\u0000tle": "x"}', 422, "invalid_characters"),
        "raw nul byte": (b'{"title": "a\x00b"}', 422, None),
        "not json": (b"title=hola", 422, None),
        "json array": (b"[1, 2, 3]", 422, None),
        "json string": (b'"hola"', 422, None),
        "empty": (b"", 422, None),
        # The outer object and MAX_JSON_DEPTH - 1 arrays: as deep as accepted, then validated.
        "moderately nested value": (
            b'{"title": ' + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b"}",
            422,
            None,
        ),
        "one level too deep": (
            b'{"title": ' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}",
            400,
            "json_too_deep",
        ),
    }
    for name, (body, status, code) in bodies.items():
        response = await client.request(method, path, content=body, headers=headers)
        assert_clean(response, f"{path} {name}")
        assert response.status_code == status, f"{path} {name}: {response.text[:200]}"
        if code is not None:
            assert response.json()["code"] == code, f"{path} {name}"
