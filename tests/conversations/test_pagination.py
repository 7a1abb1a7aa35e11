"""Keyset pagination: walks a few hundred rows while others are inserted, finds each exactly once;
limits and cursors are validated."""

from __future__ import annotations

import asyncio
import base64
import random
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.conversations.models import Conversation, Message
from energyapp.db import utcnow
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory

ROWS = 300


async def _walk(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], limit: int
) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        await asyncio.sleep(0)  # let the inserter run between pages


async def _insert_conversations(
    sessionmaker: async_sessionmaker[AsyncSession], user: User, count: int
) -> list[str]:
    """Rows land at the top (new) and in the middle (old timestamps) of the list."""
    rng = random.Random(7)
    ids: list[str] = []
    for i in range(count):
        moment = utcnow() if i % 2 else utcnow() - timedelta(minutes=rng.randint(0, ROWS))
        async with sessionmaker() as session:
            conversation = Conversation(user_id=user.id, title=f"nueva {i}", updated_at=moment)
            session.add(conversation)
            await session.commit()
            ids.append(str(conversation.id))
        await asyncio.sleep(0)
    return ids


async def test_conversation_walk_while_inserting(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    now = utcnow()
    async with sessionmaker() as session:
        originals = [
            # Groups of 30 rows share a timestamp: the id breaks the ties.
            Conversation(
                user_id=user.id,
                title=f"c{i}",
                updated_at=now - timedelta(minutes=i // 30),
                pinned=i % 50 == 0,
            )
            for i in range(ROWS)
        ]
        session.add_all(originals)
        await session.commit()

    seen, inserted = await asyncio.gather(
        _walk(client, "/conversations", headers, limit=23),
        _insert_conversations(sessionmaker, user, 60),
    )
    assert len(seen) == len(set(seen)), "a conversation was served twice"
    original_ids = {str(c.id) for c in originals}
    assert original_ids <= set(seen), "a conversation was skipped"
    assert set(seen) <= original_ids | set(inserted)

    # A quiet second walk returns everything in the documented order.
    full = await _walk(client, "/conversations", headers, limit=200)
    assert sorted(full) == sorted(original_ids | set(inserted))
    ordered = sorted(originals, key=lambda c: (c.pinned, c.updated_at, c.id), reverse=True)
    full_originals = [cid for cid in full if cid in original_ids]
    assert full_originals == [str(c.id) for c in ordered]


async def test_message_walk_while_appending(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    conversation = await make_conversation(user, messages=[f"m{i}" for i in range(ROWS)])

    async def append(count: int) -> list[str]:
        ids = []
        leaf = conversation.current_leaf_id
        for i in range(count):
            async with sessionmaker() as session:
                message = Message(
                    id=uuid.uuid4(),
                    parent_id=leaf,
                    conversation_id=conversation.id,
                    user_id=user.id,
                    role="user",
                    content=f"n{i}",
                )
                session.add(message)
                # Each one continues the current branch, as a chat does.
                await session.execute(
                    update(Conversation)
                    .where(Conversation.id == conversation.id)
                    .values(current_leaf_id=message.id)
                )
                await session.commit()
                leaf = message.id
                ids.append(str(message.id))
            await asyncio.sleep(0)
        return ids

    url = f"/conversations/{conversation.id}/messages"
    seen, appended = await asyncio.gather(_walk(client, url, headers, limit=29), append(40))
    assert len(seen) == len(set(seen))
    first = await client.get(url, params={"limit": 200}, headers=headers)
    assert first.json()["items"][0]["content"] == "m0"
    full = await _walk(client, url, headers, limit=200)
    assert len(full) == ROWS + 40
    assert set(seen) <= set(full)
    # Oldest first: every original message, in order, and then the appended ones.
    assert full[ROWS:] == appended
    assert set(full[:ROWS]) <= set(seen)


@pytest.mark.parametrize("limit", ["0", "-1", "201", "abc"])
async def test_limit_bounds(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory, limit: str
) -> None:
    headers = await auth_headers(await make_user())
    response = await client.get("/conversations", params={"limit": limit}, headers=headers)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert "limit" in response.json()["detail"]


async def test_limit_default_and_max(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    async with sessionmaker() as session:
        session.add_all(Conversation(user_id=user.id, title=f"c{i}") for i in range(210))
        await session.commit()
    default = await client.get("/conversations", headers=headers)
    assert len(default.json()["items"]) == 50
    assert default.json()["next_cursor"]
    biggest = await client.get("/conversations", params={"limit": 200}, headers=headers)
    assert len(biggest.json()["items"]) == 200
    rest = await client.get(
        "/conversations",
        params={"limit": 200, "cursor": biggest.json()["next_cursor"]},
        headers=headers,
    )
    assert len(rest.json()["items"]) == 10
    assert rest.json()["next_cursor"] is None


async def test_invalid_cursors(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    conversation = await make_conversation(user, messages=["a", "b", "c"])
    for _ in range(3):
        await make_conversation(user)
    page = await client.get("/conversations", params={"limit": 1}, headers=headers)
    cursor = page.json()["next_cursor"]
    messages = await client.get(
        f"/conversations/{conversation.id}/messages", params={"limit": 1}, headers=headers
    )
    message_cursor = messages.json()["next_cursor"]

    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[-3] ^= 0x01  # change one bit of the payload, keep the signature
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()

    for bad in ("nope", "!!!", tampered, cursor[:-4], message_cursor, "A" * 40):
        response = await client.get("/conversations", params={"cursor": bad}, headers=headers)
        assert response.status_code == 422, bad
        assert response.json()["code"] == "invalid_cursor"
    too_long = await client.get("/conversations", params={"cursor": "A" * 513}, headers=headers)
    assert too_long.status_code == 422

    ok = await client.get("/conversations", params={"cursor": cursor}, headers=headers)
    assert ok.status_code == 200
