"""Decomposed accents (NFD: "a" + U+0301, as macOS sends them) are brought to NFC where text is
stored or searched, so a search typed either way finds text written either way, on both
databases (``core/text.py``, ``nfc``)."""

from __future__ import annotations

import unicodedata

import httpx

from energyapp.chat.service import clean_message
from energyapp.config import Settings
from energyapp.core import search
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory, search_ids

COMPOSED = "González"
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)  # "Gonza\u0301lez"


def test_the_two_spellings_differ_and_fold_alike() -> None:
    assert DECOMPOSED != COMPOSED and len(DECOMPOSED) == len(COMPOSED) + 1
    assert search.fold(DECOMPOSED) == search.fold(COMPOSED) == "gonzalez"


def test_a_message_is_stored_composed(settings: Settings) -> None:
    assert clean_message(f"  Informe de {DECOMPOSED}  ", settings) == f"Informe de {COMPOSED}"


async def test_a_decomposed_search_finds_composed_text(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    by_message = await make_conversation(user, "Reunión", messages=[f"Llamar a {COMPOSED}", "Ok"])
    await make_conversation(user, "Otra", messages=["Llamar a Pérez", "Ok"])
    for query in (DECOMPOSED, DECOMPOSED.upper(), f'"{DECOMPOSED}"'):
        found = await search_ids(client, "/conversations", query, headers)
        assert found == {str(by_message.id)}, query


async def test_text_sent_decomposed_is_stored_composed_and_found(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    created = await client.post(
        "/conversations", json={"title": f"Informe {DECOMPOSED}"}, headers=headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["title"] == f"Informe {COMPOSED}"
    conversation_id = created.json()["id"]
    renamed = await client.patch(
        f"/conversations/{conversation_id}", json={"title": f"Acta {DECOMPOSED}"}, headers=headers
    )
    assert renamed.json()["title"] == f"Acta {COMPOSED}"
    for query in (COMPOSED, "gonzalez", DECOMPOSED):
        found = await search_ids(client, "/conversations", query, headers)
        assert found == {conversation_id}, query


async def test_a_name_sent_decomposed_is_found_by_the_admin_search(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    user = await make_user()
    response = await client.patch(
        "/auth/me", json={"full_name": f"Ana {DECOMPOSED}"}, headers=await auth_headers(user)
    )
    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == f"Ana {COMPOSED}"
    admin_headers = await auth_headers(await make_user("admin"))
    for query in (COMPOSED, DECOMPOSED, "GONZALEZ"):
        found = await search_ids(client, "/admin/users", query, admin_headers)
        assert found == {str(user.id)}, query
