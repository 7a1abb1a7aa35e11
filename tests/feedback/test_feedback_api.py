"""Rating answers (👍/👎 with an optional comment): only the conversation's owner, only a
finished answer; the rating is read back with the messages and goes with them."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.conversations.models import Conversation, Message
from energyapp.feedback.models import MessageFeedback
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory


def _url(conversation_id: object, message_id: object) -> str:
    return f"/conversations/{conversation_id}/messages/{message_id}/feedback"


async def _messages(
    client: httpx.AsyncClient, conversation: Conversation, headers: dict[str, str]
) -> list[dict[str, Any]]:
    response = await client.get(f"/conversations/{conversation.id}/messages", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _ids(
    sessionmaker: async_sessionmaker[AsyncSession], conversation: Conversation
) -> list[uuid.UUID]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(Message.id)
            .where(Message.conversation_id == conversation.id)
            .order_by(Message.created_at)
        )
        return list(rows.all())


async def _feedback_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(MessageFeedback)) or 0)


async def test_rate_change_and_remove(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ana = await make_user()
    headers = await auth_headers(ana)
    conversation = await make_conversation(
        ana, messages=["¿Qué es un kWh?", "Energía.", "¿Y?", "Eso."]
    )
    question, first, _, second = await _ids(sessionmaker, conversation)

    rated = await client.put(
        _url(conversation.id, first),
        json={"rating": "down", "comment": "  No explica\r\nla unidad.\x07 "},
        headers=headers,
    )
    assert rated.status_code == 200, rated.text
    assert rated.json()["rating"] == "down"
    assert rated.json()["comment"] == "No explica\nla unidad."
    up = await client.put(_url(conversation.id, second), json={"rating": "up"}, headers=headers)
    assert up.status_code == 200, up.text

    items = await _messages(client, conversation, headers)
    feedback = {item["id"]: item["feedback"] for item in items}
    assert feedback[str(question)] is None
    assert feedback[str(first)]["rating"] == "down"
    assert feedback[str(first)]["comment"] == "No explica\nla unidad."
    assert feedback[str(second)]["rating"] == "up"
    assert feedback[str(second)]["comment"] is None

    # Changing the rating replaces it, the comment too; an empty comment is no comment.
    changed = await client.put(
        _url(conversation.id, first), json={"rating": "up", "comment": "   "}, headers=headers
    )
    assert changed.status_code == 200
    assert changed.json()["comment"] is None
    items = await _messages(client, conversation, headers)
    assert items[1]["feedback"]["rating"] == "up"
    assert await _feedback_rows(sessionmaker) == 2

    removed = await client.delete(_url(conversation.id, first), headers=headers)
    assert removed.status_code == 204
    again = await client.delete(_url(conversation.id, first), headers=headers)
    assert again.status_code == 204  # nothing left to remove: the same outcome
    items = await _messages(client, conversation, headers)
    assert items[1]["feedback"] is None
    assert items[3]["feedback"]["rating"] == "up"
    assert await _feedback_rows(sessionmaker) == 1


async def test_comment_is_limited_to_1000_characters(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ana = await make_user()
    headers = await auth_headers(ana)
    conversation = await make_conversation(ana, messages=["Hola", "Hola, ¿en qué le ayudo?"])
    answer = (await _ids(sessionmaker, conversation))[1]
    url = _url(conversation.id, answer)
    # Characters, not bytes: 1000 emoji of 4 bytes each fit.
    fits = await client.put(url, json={"rating": "down", "comment": "⚡" * 1000}, headers=headers)
    assert fits.status_code == 200, fits.text
    too_long = await client.put(
        url, json={"rating": "down", "comment": "x" * 1001}, headers=headers
    )
    assert too_long.status_code == 422
    assert too_long.json()["code"] == "comment_too_long"
    assert "1000" in too_long.json()["detail"]
    # The refused change changed nothing.
    items = await _messages(client, conversation, headers)
    assert items[1]["feedback"]["comment"] == "⚡" * 1000
    for body in (
        {"rating": "meh"},
        {"rating": "up", "stars": 5},
        {},
        {"rating": "up", "comment": 3},
    ):
        refused = await client.put(url, json=body, headers=headers)
        assert refused.status_code == 422, body
        assert refused.json()["code"] == "validation_error"


async def test_only_the_owner_rates(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    worker = await make_user()
    conversation = await make_conversation(worker, messages=["Hola", "Respuesta"])
    answer = (await _ids(sessionmaker, conversation))[1]
    url = _url(conversation.id, answer)
    await client.put(url, json={"rating": "up"}, headers=await auth_headers(worker))
    # Another worker, and staff who may read the conversation in the panel: as if missing.
    for role in ("trabajador", "supervisor", "admin"):
        headers = await auth_headers(await make_user(role=role))
        for response in (
            await client.put(url, json={"rating": "down", "comment": "mala"}, headers=headers),
            await client.delete(url, headers=headers),
        ):
            assert response.status_code == 404, (role, response.text)
            assert response.json()["code"] == "not_found"
            assert response.json()["detail"] == "No se encontró la conversación."
    async with sessionmaker() as session:
        row = await session.get(MessageFeedback, answer)
    assert row is not None and row.rating == "up" and row.comment is None
    assert row.user_id == worker.id


async def test_only_finished_answers_of_the_conversation(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ana = await make_user()
    headers = await auth_headers(ana)
    conversation = await make_conversation(ana, messages=["Pregunta", "Respuesta"])
    other = await make_conversation(ana, messages=["Otra", "Otra respuesta"])
    question, answer = await _ids(sessionmaker, conversation)
    elsewhere = (await _ids(sessionmaker, other))[1]
    body = {"rating": "up"}

    asked = await client.put(_url(conversation.id, question), json=body, headers=headers)
    assert asked.status_code == 409
    assert asked.json() == {
        "detail": "Solo se pueden valorar las respuestas.",
        "code": "not_an_answer",
    }
    for missing in (uuid.uuid4(), elsewhere):
        response = await client.put(_url(conversation.id, missing), json=body, headers=headers)
        assert response.status_code == 404
        assert response.json()["code"] == "message_not_found"
        deleted = await client.delete(_url(conversation.id, missing), headers=headers)
        assert deleted.status_code == 404
        assert deleted.json()["code"] == "message_not_found"
    for status in ("streaming", "stopped", "interrupted", "error"):
        async with sessionmaker() as session:
            await session.execute(update(Message).where(Message.id == answer).values(status=status))
            await session.commit()
        response = await client.put(_url(conversation.id, answer), json=body, headers=headers)
        assert response.status_code == 409, status
        assert response.json()["code"] == "answer_not_complete"
    assert await _feedback_rows(sessionmaker) == 0


async def test_ratings_go_with_the_conversation(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ana = await make_user()
    headers = await auth_headers(ana)
    doomed = await make_conversation(ana, messages=["Hola", "Respuesta"])
    kept = await make_conversation(ana, messages=["Hola", "Respuesta"])
    for conversation in (doomed, kept):
        answer = (await _ids(sessionmaker, conversation))[1]
        rated = await client.put(
            _url(conversation.id, answer), json={"rating": "down", "comment": "x"}, headers=headers
        )
        assert rated.status_code == 200
    assert (await client.delete(f"/conversations/{doomed.id}", headers=headers)).status_code == 204
    async with sessionmaker() as session:
        left = (await session.scalars(select(MessageFeedback.message_id))).all()
    assert left == [(await _ids(sessionmaker, kept))[1]]


async def test_rating_stays_when_the_account_goes(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # As messages.user_id: a deleted rater leaves the rating, unattributed.
    ana = await make_user()
    owner = await make_user()
    conversation = await make_conversation(owner, messages=["Hola", "Respuesta"])
    answer = (await _ids(sessionmaker, conversation))[1]
    async with sessionmaker() as session:
        session.add(MessageFeedback(message_id=answer, user_id=ana.id, rating="down"))
        await session.commit()
        await session.execute(User.__table__.delete().where(User.id == ana.id))
        await session.commit()
        row = await session.get(MessageFeedback, answer)
    assert row is not None and row.user_id is None and row.rating == "down"


async def test_json_export_holds_the_ratings(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ana = await make_user()
    headers = await auth_headers(ana)
    conversation = await make_conversation(ana, messages=["Hola", "Respuesta", "¿Y?", "Otra"])
    first = (await _ids(sessionmaker, conversation))[1]
    await client.put(
        _url(conversation.id, first),
        json={"rating": "down", "comment": "Incompleta"},
        headers=headers,
    )
    exported = await client.get(
        f"/conversations/{conversation.id}/export", params={"format": "json"}, headers=headers
    )
    assert exported.status_code == 200
    messages = json.loads(exported.text)["messages"]
    assert [m.get("feedback") and m["feedback"]["rating"] for m in messages] == [
        None, "down", None, None
    ]  # fmt: skip
    assert messages[1]["feedback"]["comment"] == "Incompleta"
    assert messages[1]["feedback"]["updated_at"].endswith(("-03:00", "-04:00"))
    # The ZIP of everything holds the same documents.
    archive = await client.get("/conversations/export", headers=headers)
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        name = next(
            n for n in zipped.namelist() if n.startswith("conversaciones/") and n.endswith(".json")
        )
        in_zip = json.loads(zipped.read(name))["messages"]
    assert in_zip[1]["feedback"]["comment"] == "Incompleta"
    assert in_zip[3]["feedback"] is None


async def test_a_rating_chosen_again_without_comment_keeps_it(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # Two tabs: one saved 👎 with a comment, the other had not seen it and chooses 👎 (the web
    # sends no comment): the comment stays. Another rating, or a null comment, drops it.
    ana = await make_user()
    headers = await auth_headers(ana)
    conversation = await make_conversation(ana, messages=["¿Qué es un kWh?", "Energía."])
    _, answer = await _ids(sessionmaker, conversation)
    url = _url(conversation.id, answer)
    await client.put(url, json={"rating": "down", "comment": "Incompleta"}, headers=headers)
    again = await client.put(url, json={"rating": "down"}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["comment"] == "Incompleta"
    assert (await _messages(client, conversation, headers))[1]["feedback"]["comment"] == (
        "Incompleta"
    )
    other = await client.put(url, json={"rating": "up"}, headers=headers)
    assert other.json()["comment"] is None
    await client.put(url, json={"rating": "up", "comment": "Útil"}, headers=headers)
    cleared = await client.put(url, json={"rating": "up", "comment": None}, headers=headers)
    assert cleared.json()["comment"] is None

    # A reassigned conversation: the new owner's same rating does not take over Ana's words.
    await client.put(url, json={"rating": "down", "comment": "Solo de Ana"}, headers=headers)
    bruno = await make_user()
    async with sessionmaker() as session:
        await session.execute(
            update(Conversation).where(Conversation.id == conversation.id).values(user_id=bruno.id)
        )
        await session.commit()
    taken = await client.put(url, json={"rating": "down"}, headers=await auth_headers(bruno))
    assert taken.status_code == 200, taken.text
    assert taken.json()["comment"] is None
    async with sessionmaker() as session:
        row = await session.get(MessageFeedback, answer)
        assert row is not None
        assert (row.user_id, row.comment) == (bruno.id, None)
