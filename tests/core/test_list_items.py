"""The list endpoints select plain rows and their ``response_model`` serialises them: every page
must be what the schema makes of the same rows loaded as ORM objects (fields, order, types,
formats), and walking ``next_cursor`` must return every row once, in the documented order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.admin.schemas import AdminConversationOut, AdminMessageOut, AdminUserOut
from energyapp.auth.models import User
from energyapp.conversations.models import Conversation, Message
from energyapp.conversations.schemas import (
    BranchMessageOut,
    ConversationListItem,
    ConversationOut,
    MessageOut,
    OwnMessageOut,
)
from energyapp.db import utcnow
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory


async def _pages(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    """Every page of a walk with limit=2, as the raw body and its parsed JSON."""
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": 2, **params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(url, params=query, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        pages.append({"body": response.content, **response.json()})
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages


def _assert_pages_match(pages: list[dict[str, Any]], expected: Sequence[BaseModel]) -> None:
    """Pages of 2 hold ``expected`` in order, each item as its schema serialises it."""
    assert len(pages) == max(1, (len(expected) + 1) // 2)
    for number, page in enumerate(pages):
        models = expected[number * 2 : number * 2 + 2]
        assert page["items"] == [model.model_dump(mode="json") for model in models]
        assert (page["next_cursor"] is None) == (number == len(pages) - 1)


async def _loaded(
    sessionmaker: async_sessionmaker[AsyncSession], stmt: Any, out: Callable[[Any], BaseModel]
) -> list[BaseModel]:
    async with sessionmaker() as session:
        return [out(row) for row in (await session.execute(stmt)).all()]


async def test_conversation_and_message_pages_equal_model_output(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user(full_name='Ñandú «Pérez» "comillas"')
    headers = await auth_headers(user)
    now = utcnow().replace(microsecond=0)  # a whole second: no fraction in the JSON
    await make_conversation(user, "Tarifa\t2026 ☀️ \\ \u2028", updated_at=now, pinned=True)
    for i in range(4):
        await make_conversation(user, f"c{i}", updated_at=now - timedelta(seconds=i // 2))
    await make_conversation(user, "archivada", archived=True)
    chat = await make_conversation(user, "chat", ["hola", "respuesta\n**negrita**", "otra", "fin"])

    c = Conversation
    expected = await _loaded(
        sessionmaker,
        select(c)
        .where(c.user_id == user.id, c.archived.is_(False))
        .order_by(c.pinned.desc(), c.updated_at.desc(), c.id.desc()),
        # None of them has an answer being generated.
        lambda row: ConversationListItem(
            **ConversationOut.model_validate(row[0]).model_dump(), running=False
        ),
    )
    assert len(expected) == 6
    _assert_pages_match(await _pages(client, "/conversations", headers), expected)
    archived = await _pages(client, "/conversations", headers, archived="true")
    assert [item["title"] for item in archived[0]["items"]] == ["archivada"]

    messages = select(Message).where(Message.conversation_id == chat.id)
    messages = messages.order_by(Message.created_at, Message.id)
    own = await _loaded(sessionmaker, messages, lambda row: _in_branch(OwnMessageOut, row[0]))
    assert [m.model for m in own] == [None, "llama3.1:8b", None, "llama3.1:8b"]
    url = f"/conversations/{chat.id}/messages"
    _assert_pages_match(await _pages(client, url, headers), own)

    admin_headers = await auth_headers(await make_user("admin"))
    seen = await _loaded(sessionmaker, messages, lambda row: _in_branch(AdminMessageOut, row[0]))
    url = f"/admin/conversations/{chat.id}/messages"
    _assert_pages_match(await _pages(client, url, admin_headers), seen)


async def test_admin_pages_equal_model_output(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    now = utcnow()
    supervisor = await make_user("supervisor", last_active_at=now - timedelta(minutes=5))
    admin = await make_user("admin", last_active_at=now)
    workers = [
        await make_user(
            full_name=f"Trabajador {i} «ñ»",
            last_active_at=now - timedelta(minutes=i // 2),
            is_active=i != 1,
        )
        for i in range(4)
    ]
    for i, worker in enumerate(workers):
        await make_conversation(worker, f"de {i}", ["a", "b"][: i % 3], pinned=i == 2)
    await make_conversation(admin, "del admin", archived=True)

    for viewer in (admin, supervisor):
        headers = await auth_headers(viewer)
        in_scope = User.role == "trabajador"
        if viewer is supervisor:
            in_scope = in_scope | (User.id == supervisor.id)
        else:
            in_scope = User.id.is_not(None)
        users = await _loaded(
            sessionmaker,
            select(User).where(in_scope).order_by(User.last_active_at.desc(), User.id.desc()),
            lambda row: AdminUserOut.model_validate(row[0]),
        )
        assert len(users) == (6 if viewer is admin else 5)
        _assert_pages_match(await _pages(client, "/admin/users", headers), users)

        conversations = (
            select(Conversation, User.email, User.full_name)
            .join(User, User.id == Conversation.user_id)
            .where(in_scope)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        )
        expected = await _loaded(sessionmaker, conversations, _admin_conversation)
        assert len(expected) == (5 if viewer is admin else 4)
        _assert_pages_match(await _pages(client, "/admin/conversations", headers), expected)

        one = workers[3]
        expected = await _loaded(
            sessionmaker, conversations.where(Conversation.user_id == one.id), _admin_conversation
        )
        pages = await _pages(client, "/admin/conversations", headers, user_id=str(one.id))
        _assert_pages_match(pages, expected)


def _in_branch(schema: type[BranchMessageOut], message: Message) -> BaseModel:
    """A message of a one-branch conversation as a list shows it: its only version is itself,
    written for its owner (``yours``, in the owner's list)."""
    fields = MessageOut.model_validate(message).model_dump()
    extra = {"user_id": message.user_id, "feedback": None, "yours": True}
    return schema.model_validate({**fields, "sibling_ids": [message.id], **extra})


def _admin_conversation(row: Any) -> AdminConversationOut:
    conversation, email, full_name = row
    return AdminConversationOut(
        owner_email=email,
        owner_full_name=full_name,
        **ConversationOut.model_validate(conversation).model_dump(),
        user_id=conversation.user_id,
    )
