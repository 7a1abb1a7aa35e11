"""Shared links: only the owner shares, updates and revokes; any signed-in account with the
link reads the branch shared, as it was then; a link no longer shared reads as missing."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.sharing.models import SharedLink
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory
from tests.sharing.conftest import Adder

GONE = "Este enlace no existe o dejó de compartirse."


def _share(conversation_id: object) -> str:
    return f"/conversations/{conversation_id}/share"


async def _shared(
    client: httpx.AsyncClient, token: str, headers: dict[str, str], status: int = 200
) -> dict[str, Any]:
    response = await client.get(f"/shared/{token}", headers=headers)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def _texts(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"]]


async def test_owner_shares_and_another_account_reads_the_snapshot(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    add_message: Adder,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ana = await make_user(full_name="Ana Soto")
    luis = await make_user()
    owner, reader = await auth_headers(ana), await auth_headers(luis)
    conversation = await make_conversation(
        ana, "Tarifas", ["¿Qué es un kWh?", "Una unidad de energía."]
    )
    assert (await client.get(_share(conversation.id), headers=owner)).json()["code"] == (
        "not_shared"
    )

    created = await client.put(_share(conversation.id), headers=owner)
    assert created.status_code == 200, created.text
    link = created.json()
    token = link["token"]
    assert len(token) == 43 and link["path"] == f"/#/compartida/{token}"
    assert link["up_to_date"] is True and link["view_count"] == 0

    body = await _shared(client, token, reader)
    assert body["title"] == "Tarifas" and body["shared_by"] == "Ana Soto"
    assert body["is_owner"] is False
    assert _texts(body) == ["¿Qué es un kWh?", "Una unidad de energía."]
    first = body["messages"][1]
    fields = {"role", "content", "status", "created_at", "model", "error_code", "finish_reason"}
    assert set(first) == fields
    assert first["role"] == "assistant" and first["model"] == "llama3.1:8b"

    # A message added after sharing is not shown until the link is updated.
    await add_message(conversation, "¿Y un MWh?")
    assert _texts(await _shared(client, token, reader)) == _texts(body)
    assert (await client.get(_share(conversation.id), headers=owner)).json()["up_to_date"] is False
    again = await client.put(_share(conversation.id), headers=owner)
    assert again.json()["token"] == token  # the same link, a newer snapshot
    assert _texts(await _shared(client, token, reader))[-1] == "¿Y un MWh?"

    # The owner's own readings are not counted, nor a link checker's HEAD.
    await _shared(client, token, owner)
    assert (await client.head(f"/shared/{token}", headers=reader)).status_code == 200
    async with sessionmaker() as session:
        views = await session.scalar(select(SharedLink.view_count))
    assert views == 3


async def test_only_the_shown_branch_is_shared(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    add_message: Adder,
) -> None:
    ana = await make_user()
    owner, reader = await auth_headers(ana), await auth_headers(await make_user())
    conversation = await make_conversation(ana, messages=["Pregunta", "Respuesta A"])
    question = await client.get(f"/conversations/{conversation.id}/messages", headers=owner)
    question_id = question.json()["items"][0]["id"]
    # "Regenerar": a second version of the answer, now the one shown.
    await add_message(conversation, "Respuesta B", role="assistant", parent_id=question_id)
    token = (await client.put(_share(conversation.id), headers=owner)).json()["token"]
    assert _texts(await _shared(client, token, reader)) == ["Pregunta", "Respuesta B"]


async def test_only_the_owner_manages_the_link(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    ana = await make_user()
    owner = await auth_headers(ana)
    conversation = await make_conversation(ana, messages=["Hola", "Hola, ¿en qué le ayudo?"])
    for other in (await make_user(), await make_user("admin"), await make_user("supervisor")):
        headers = await auth_headers(other)
        for method in ("PUT", "GET", "DELETE"):
            refused = await client.request(method, _share(conversation.id), headers=headers)
            assert refused.status_code == 404, (other.role, method)
            assert refused.json()["code"] == "not_found"
    assert (await client.put(_share(conversation.id), headers=owner)).status_code == 200
    assert (await client.put(_share(conversation.id))).status_code == 401


async def test_revoked_deleted_or_deactivated_reads_as_missing(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ana = await make_user()
    owner, reader = await auth_headers(ana), await auth_headers(await make_user())
    messages = ["Hola", "Hola."]
    revoked, deleted, deactivated = [await make_conversation(ana, messages=messages) for _ in "abc"]
    tokens = [
        (await client.put(_share(c.id), headers=owner)).json()["token"]
        for c in (revoked, deleted, deactivated)
    ]
    assert (await client.get(f"/shared/{tokens[0]}")).status_code == 401  # an account needed

    assert (await client.delete(_share(revoked.id), headers=owner)).status_code == 204
    assert (await client.delete(_share(revoked.id), headers=owner)).status_code == 204
    assert (await client.delete(f"/conversations/{deleted.id}", headers=owner)).status_code == 204
    for token in tokens[:2] + ["no-existe"]:
        gone = await _shared(client, token, reader, 404)
        assert gone == {"detail": GONE, "code": "shared_link_not_found"}
    assert (await client.get(_share(revoked.id), headers=owner)).status_code == 404

    await _shared(client, tokens[2], reader)
    async with sessionmaker() as session:
        await session.execute(update(User).where(User.id == ana.id).values(is_active=False))
        await session.commit()
    assert (await _shared(client, tokens[2], reader, 404))["code"] == "shared_link_not_found"
    copied = await client.post(f"/shared/{tokens[2]}/copy", headers=reader)
    assert copied.status_code == 404


async def test_nothing_to_share_and_an_answer_in_progress(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    add_message: Adder,
) -> None:
    ana = await make_user()
    owner = await auth_headers(ana)
    empty = await client.post("/conversations", json={"title": "Vacía"}, headers=owner)
    refused = await client.put(_share(empty.json()["id"]), headers=owner)
    assert refused.status_code == 409 and refused.json()["code"] == "nothing_to_share"

    conversation = await make_conversation(ana, messages=["Hola", "Hola."])
    await add_message(conversation, "Otra")
    await add_message(conversation, "", role="assistant", status="streaming")
    running = await client.put(_share(conversation.id), headers=owner)
    assert running.status_code == 409
    assert running.json()["code"] == "answer_in_progress"
    assert "cuando termine" in running.json()["detail"]
    assert (await client.get(_share(conversation.id), headers=owner)).status_code == 404


async def test_list_of_ones_own_links(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    ana, luis = await make_user(), await make_user()
    owner, other = await auth_headers(ana), await auth_headers(luis)
    first = await make_conversation(ana, "Primera", ["a", "b"])
    second = await make_conversation(ana, "Segunda", ["c", "d"])
    for conversation in (first, second):
        assert (await client.put(_share(conversation.id), headers=owner)).status_code == 200
    listed = (await client.get("/shares", headers=owner)).json()
    assert [item["title"] for item in listed["items"]] == ["Segunda", "Primera"]
    item = listed["items"][0]
    assert item["conversation_id"] == str(second.id) and item["view_count"] == 0
    assert item["path"].startswith("/#/compartida/")
    assert (await client.get("/shares", headers=other)).json()["items"] == []


async def test_a_token_that_cannot_be_one_reads_as_missing(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    """Too long, a NUL byte (which PostgreSQL refuses), another alphabet: the same 404 as an
    unknown token on both databases, never a 422 that describes the token's format."""
    reader = await auth_headers(await make_user())
    for token in ("a" * 65, "a" * 3000, "%00abc", "%C3%B1", "a%20b", "a.b"):
        for method, path in (("GET", f"/shared/{token}"), ("POST", f"/shared/{token}/copy")):
            response = await client.request(method, path, headers=reader)
            assert response.status_code == 404, (method, token, response.text)
            assert response.json() == {"detail": GONE, "code": "shared_link_not_found"}
