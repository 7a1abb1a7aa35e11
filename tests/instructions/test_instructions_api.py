"""Custom instructions through the API: one's own only, cleaned and limited to 1000 characters
each, and the copy each conversation takes when it is created (later changes and the switch
apply to new conversations only)."""

from __future__ import annotations

import unicodedata
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations.models import Conversation
from tests.conftest import HeadersFactory, UserFactory

URL = "/auth/me/instructions"


def _body(about: str = "", style: str = "", enabled: bool = True) -> dict[str, object]:
    return {"about_user": about, "response_style": style, "enabled": enabled}


async def test_saved_instructions_are_read_back_cleaned(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    headers = await auth_headers(await make_user())
    fresh = await client.get(URL, headers=headers)
    assert fresh.status_code == 200
    assert fresh.json() == {
        "about_user": "",
        "response_style": "",
        "enabled": True,
        "max_chars": 1000,
        "updated_at": None,
    }
    decomposed = unicodedata.normalize("NFD", "Soy estudiante de electricidad")
    sent = _body(
        f"  {decomposed}\r\nde INACAP.\x07\x1b\x85 \n",
        "Responde breve\ty con ejemplos.\r¡Gracias!",
        enabled=False,
    )
    saved = await client.put(URL, json=sent, headers=headers)
    assert saved.status_code == 200, saved.text
    expected = {
        "about_user": "Soy estudiante de electricidad\nde INACAP.",
        "response_style": "Responde breve y con ejemplos.\n¡Gracias!",
        "enabled": False,
    }
    assert {k: saved.json()[k] for k in expected} == expected
    assert saved.json()["updated_at"] is not None
    again = await client.get(URL, headers=headers)
    assert {k: again.json()[k] for k in expected} == expected


async def test_each_text_holds_at_most_1000_characters(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    headers = await auth_headers(await make_user())
    # Characters, not bytes nor UTF-16 units: 1000 emoji of 4 bytes (2 units) each fit, and so
    # does a text of 1000 once the blanks around it are stripped.
    full = "⚡" * 1000
    ok = await client.put(URL, json=_body(full, "  " + "a" * 1000 + "\n\n"), headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["about_user"] == full and len(ok.json()["response_style"]) == 1000
    for about, style, label in (
        ("x" * 1001, "", "¿Qué debería saber EnergyApp sobre usted?"),
        ("", "ñ" * 1001, "¿Cómo quiere que EnergyApp responda?"),
        ("", "b" * 50_000, "¿Cómo quiere que EnergyApp responda?"),
    ):
        refused = await client.put(URL, json=_body(about, style), headers=headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "instructions_too_long"
        assert label in refused.json()["detail"] and "1000" in refused.json()["detail"]
    kept = await client.get(URL, headers=headers)
    assert kept.json()["about_user"] == full  # nothing of a refused save is kept


async def test_malformed_bodies_are_refused(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    headers = await auth_headers(await make_user())
    for body in (
        {**_body("a"), "enabled": "yes"},
        {**_body("a"), "enabled": 1},
        {"about_user": "a", "response_style": ""},  # a replacement: every field is required
        {**_body("a"), "user_id": str(uuid.uuid4())},
        {**_body(), "about_user": None},
    ):
        response = await client.put(URL, json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.json()["code"] == "validation_error"
    assert (await client.get(URL, headers=headers)).json()["updated_at"] is None


async def test_only_the_person_reads_and_writes_their_instructions(
    client: httpx.AsyncClient, app: FastAPI, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    ana = await auth_headers(await make_user())
    admin = await auth_headers(await make_user("admin"))
    assert (await client.put(URL, json=_body("Soy Ana"), headers=ana)).status_code == 200
    assert (await client.get(URL, headers=admin)).json()["about_user"] == ""
    assert (await client.put(URL, json=_body("Soy admin"), headers=admin)).status_code == 200
    assert (await client.get(URL, headers=ana)).json()["about_user"] == "Soy Ana"
    assert (await client.get(URL)).status_code == 401
    assert (await client.put(URL, json=_body("x"))).status_code == 401
    # No route reads or writes someone else's: only a conversation's copy is shown to staff.
    paths = [path for path in app.openapi()["paths"] if "instructions" in path]
    assert sorted(paths) == [
        "/admin/conversations/{conversation_id}/instructions",
        "/auth/me/instructions",
    ]


async def _new_conversation(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> Conversation:
    created = await client.post("/conversations", json={"title": "Una"}, headers=headers)
    assert created.status_code == 201, created.text
    async with sessionmaker() as session:
        conversation = await session.get(Conversation, uuid.UUID(created.json()["id"]))
    assert conversation is not None
    return conversation


def _kept(conversation: Conversation) -> tuple[str | None, str | None]:
    return conversation.instructions_about_user, conversation.instructions_response_style


async def test_a_conversation_keeps_the_instructions_in_force_at_its_creation(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    headers = await auth_headers(await make_user())
    never_saved = await _new_conversation(client, headers, sessionmaker)
    await client.put(URL, json=_body("Soy estudiante", "Breve"), headers=headers)
    first = await _new_conversation(client, headers, sessionmaker)
    await client.put(URL, json=_body("Soy profesor", ""), headers=headers)
    second = await _new_conversation(client, headers, sessionmaker)
    await client.put(URL, json=_body("Soy profesor", "", enabled=False), headers=headers)
    switched_off = await _new_conversation(client, headers, sessionmaker)
    await client.put(URL, json=_body(" ", "\n"), headers=headers)
    empty = await _new_conversation(client, headers, sessionmaker)

    assert _kept(never_saved) == (None, None)
    assert _kept(first) == ("Soy estudiante", "Breve")
    assert _kept(second) == ("Soy profesor", "")
    assert _kept(switched_off) == (None, None)
    assert _kept(empty) == (None, None)
    async with sessionmaker() as session:  # the earlier ones did not follow the changes
        reread = await session.get(Conversation, first.id)
        assert reread is not None and _kept(reread) == ("Soy estudiante", "Breve")
