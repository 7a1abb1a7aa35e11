"""Shared links: "Continuar en mi cuenta", the audit trail, reassignment, the switch, the logs."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.audit.models import AuditEvent
from energyapp.auth.models import User
from energyapp.config import Settings
from energyapp.conversations import service as conversations_service
from energyapp.conversations.models import Conversation, Message
from energyapp.errors import NotFound
from energyapp.main import create_app
from energyapp.sharing import service as sharing_service
from energyapp.sharing.models import SharedLink
from tests.conftest import HeadersFactory, UserFactory, make_settings
from tests.conversations.conftest import ConversationFactory


def _share(conversation_id: object) -> str:
    return f"/conversations/{conversation_id}/share"


async def test_copy_makes_a_conversation_the_reader_continues(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ana, luis = await make_user(), await make_user()
    owner, reader = await auth_headers(ana), await auth_headers(luis)
    title = "T" * 200
    conversation = await make_conversation(ana, title, ["¿kWh?", "Energía.", "¿Y?", "Eso."])
    token = (await client.put(_share(conversation.id), headers=owner)).json()["token"]

    copied = await client.post(f"/shared/{token}/copy", headers=reader)
    assert copied.status_code == 201, copied.text
    copy_id = copied.json()["conversation_id"]
    opened = await client.get(f"/conversations/{copy_id}", headers=reader)
    assert opened.status_code == 200
    assert opened.json()["title"] == "T" * 192 + " (copia)"
    assert opened.json()["message_count"] == 4
    listed = (await client.get(f"/conversations/{copy_id}/messages", headers=reader)).json()
    items = listed["items"]
    assert [m["content"] for m in items] == ["¿kWh?", "Energía.", "¿Y?", "Eso."]
    assert [m["role"] for m in items] == ["user", "assistant", "user", "assistant"]
    assert all(m["sibling_ids"] == [m["id"]] for m in items)
    assert items[0]["parent_id"] is None
    assert [m["parent_id"] for m in items[1:]] == [m["id"] for m in items[:-1]]
    assert (await client.get(f"/conversations/{copy_id}", headers=owner)).status_code == 404

    async with sessionmaker() as session:
        copy = await session.get(Conversation, uuid.UUID(copy_id))
        assert copy is not None and str(copy.current_leaf_id) == items[-1]["id"]
        assert copy.user_id == luis.id and not copy.has_versions
        reader_row = await session.get(User, luis.id)
        assert reader_row is not None
        assert (reader_row.conversation_count, reader_row.message_count) == (1, 4)
        rows = await session.scalars(select(Message).where(Message.conversation_id == copy.id))
        copies = rows.all()
        # Nothing generated, no usage: no tokens and no one who caused them.
        assert all(m.prompt_tokens is None and m.completion_tokens is None for m in copies)
        assert all(m.user_id is None for m in copies)
        events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.created_at))).all()
    actions = [(e.action, e.actor_id, e.target_id) for e in events]
    assert ("conversation.shared", ana.id, str(conversation.id)) in actions
    assert ("conversation.copied", luis.id, str(conversation.id)) in actions
    assert all(token not in json.dumps(e.details) for e in events)

    # The reader goes on in the copy: the next question follows its last answer.
    async with sessionmaker() as session:
        original = await session.get(Conversation, conversation.id)
        assert original is not None and original.message_count == 4


async def test_a_failed_and_a_cut_answer_say_why_when_shared_and_copied(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The reader sees why an answer failed or was cut, as the owner does, and so does the
    copy: without them a failed answer is an unexplained empty bubble, a cut one reads as
    complete."""
    ana, luis = await make_user(), await make_user()
    owner, reader = await auth_headers(ana), await auth_headers(luis)
    conversation = await make_conversation(ana, "Fallas", ["¿A?", "", "¿B?", "Larga…"])
    async with sessionmaker.begin() as session:
        answers = (
            await session.scalars(
                select(Message.id)
                .where(Message.conversation_id == conversation.id, Message.role == "assistant")
                .order_by(Message.created_at)
            )
        ).all()
        await session.execute(
            update(Message)
            .where(Message.id == answers[0])
            .values(status="error", error_code="llm_unavailable")
        )
        await session.execute(
            update(Message).where(Message.id == answers[1]).values(finish_reason="length")
        )
    token = (await client.put(_share(conversation.id), headers=owner)).json()["token"]

    shared = (await client.get(f"/shared/{token}", headers=reader)).json()["messages"]
    expected = [
        ("user", None, None),
        ("error", "llm_unavailable", None),
        ("user", None, None),
        ("complete", None, "length"),
    ]
    got = [(m["status"] if m["role"] == "assistant" else m["role"], m["error_code"],
            m["finish_reason"]) for m in shared]  # fmt: skip
    assert got == expected

    copy_id = (await client.post(f"/shared/{token}/copy", headers=reader)).json()["conversation_id"]
    items = (await client.get(f"/conversations/{copy_id}/messages", headers=reader)).json()
    got = [(m["status"] if m["role"] == "assistant" else m["role"], m["error_code"],
            m["finish_reason"]) for m in items["items"]]  # fmt: skip
    assert got == expected


async def test_audit_labels_and_revocation_trail(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    ana = await make_user(full_name="Ana Soto")
    owner = await auth_headers(ana)
    admin = await auth_headers(await make_user("admin"))
    conversation = await make_conversation(ana, "Tarifas", ["a", "b"])
    await client.put(_share(conversation.id), headers=owner)
    await client.put(_share(conversation.id), headers=owner)
    await client.delete(_share(conversation.id), headers=owner)
    trail = (await client.get("/admin/audit", headers=admin)).json()["items"]
    labels = [e["label"] for e in trail if e["action"].startswith("conversation.")]
    assert labels == [
        "Dejó de compartir la conversación «Tarifas»",
        "Actualizó el enlace para compartir la conversación «Tarifas»",
        "Creó un enlace para compartir la conversación «Tarifas»",
    ]


async def test_reassignment_deletes_the_link(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ana, luis = await make_user(), await make_user()
    owner, reader = await auth_headers(ana), await auth_headers(luis)
    admin = await auth_headers(await make_user("admin"))
    conversation = await make_conversation(ana, messages=["a", "b"])
    token = (await client.put(_share(conversation.id), headers=owner)).json()["token"]
    moved = await client.post(
        f"/admin/conversations/{conversation.id}/reassign",
        json={"user_id": str(luis.id)},
        headers=admin,
    )
    assert moved.status_code == 200, moved.text
    assert (await client.get(f"/shared/{token}", headers=reader)).status_code == 404
    assert (await client.get(_share(conversation.id), headers=reader)).status_code == 404
    async with sessionmaker() as session:
        assert await session.scalar(select(SharedLink.id)) is None


async def test_access_log_leaves_the_token_out(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ana = await make_user()
    owner = await auth_headers(ana)
    conversation = await make_conversation(ana, messages=["a", "b"])
    token = (await client.put(_share(conversation.id), headers=owner)).json()["token"]
    handler = logging.getLogger("energyapp").handlers or logging.getLogger().handlers
    formatter = next(h.formatter for h in handler if h.formatter is not None)
    with caplog.at_level(logging.INFO, logger="energyapp.access"):
        assert (await client.get(f"/shared/{token}", headers=owner)).status_code == 200
    lines = [formatter.format(r) for r in caplog.records if r.name == "energyapp.access"]
    assert any("/shared/[redactado]" in line for line in lines)
    assert all(token not in line for line in lines)


@pytest.fixture
async def sharing_off(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(db_url, sharing_enabled=False))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_sharing_disabled(
    client: httpx.AsyncClient,
    sharing_off: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    ana = await make_user()
    owner, reader = await auth_headers(ana), await auth_headers(await make_user())
    conversation = await make_conversation(ana, messages=["a", "b"])
    token = (await client.put(_share(conversation.id), headers=owner)).json()["token"]
    refused = await sharing_off.put(_share(conversation.id), headers=owner)
    assert refused.status_code == 403 and refused.json()["code"] == "sharing_disabled"
    for response in (
        await sharing_off.get(f"/shared/{token}", headers=reader),
        await sharing_off.post(f"/shared/{token}/copy", headers=reader),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "shared_link_not_found"
    # Turned on again, the link works again: nothing was deleted.
    assert (await client.get(f"/shared/{token}", headers=reader)).status_code == 200


async def test_a_share_that_waited_for_a_reassignment_or_a_deletion_finds_nothing(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """ "Crear enlace" checks ownership first, then waits for the conversation's row lock: a
    reassignment (or a deletion) holding it commits first. The share must then find nothing of
    the caller's (404), not give the new owner a link under the old owner's name (unreadable,
    and kept by "Actualizar enlace") nor fail on a row gone (500)."""
    ana, luis = await make_user(), await make_user()
    owner = await auth_headers(ana)
    admin = await auth_headers(await make_user("admin"))
    moved = await make_conversation(ana, messages=["a", "b"])
    deleted = await make_conversation(ana, messages=["a", "b"])
    sessions = [sessionmaker(), sessionmaker()]
    stale = []
    for session, conversation in zip(sessions, (moved, deleted), strict=True):
        # What the route's dependency loaded before the lock: the caller's conversation.
        stale.append(
            await conversations_service.get_owned_conversation(
                session, ana, conversation.id, settings
            )
        )
        await session.commit()
    reassigned = await client.post(
        f"/admin/conversations/{moved.id}/reassign", json={"user_id": str(luis.id)}, headers=admin
    )
    assert reassigned.status_code == 200, reassigned.text
    assert (await client.delete(f"/conversations/{deleted.id}", headers=owner)).status_code == 204
    for session, conversation in zip(sessions, stale, strict=True):
        with pytest.raises(NotFound):
            await sharing_service.share(session, settings, ana, conversation, request=None)
        await session.close()
    async with sessionmaker() as session:
        assert await session.scalar(select(SharedLink.id)) is None
