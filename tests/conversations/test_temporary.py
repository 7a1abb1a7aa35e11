"""Temporary chats ("Chat temporal"): left out of the owner's list, search and ZIP export,
openable by id while they live, not shared, pinned or archived, saved with ``PATCH
{"temporary": false}`` (never made temporary afterwards), read as missing past
``temporary_chat_hours`` even before the retention run, which deletes them unless on hold,
keeping the counters as a deletion does; admins see them marked."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.chat import service as chat_service
from energyapp.config import Settings
from energyapp.conversations import counters, retention
from energyapp.conversations.models import Conversation, Message
from energyapp.db import utcnow
from energyapp.usage.quota import quota_day_bounds
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory, search_ids


async def _listed(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> set[str]:
    response = await client.get("/conversations", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def test_a_temporary_chat_is_not_listed_searched_or_zipped_but_opens_by_id(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    ana = await make_user()
    headers = await auth_headers(ana)
    kept = await make_conversation(ana, "Informe guardado", ["transformador", "respuesta"])
    temp = await make_conversation(
        ana, "Consulta privada", ["transformador secreto", "respuesta"], temporary=True
    )

    assert await _listed(client, headers) == {str(kept.id)}
    assert await _listed(client, headers, archived="true") == set()
    assert await search_ids(client, "/conversations", "transformador", headers) == {str(kept.id)}
    assert await search_ids(client, "/conversations", "secreto", headers) == set()

    opened = await client.get(f"/conversations/{temp.id}", headers=headers)
    assert opened.status_code == 200 and opened.json()["temporary"] is True
    messages = await client.get(f"/conversations/{temp.id}/messages", headers=headers)
    assert [m["content"] for m in messages.json()["items"]][0] == "transformador secreto"

    archive = await client.get("/conversations/export", headers=headers)
    assert archive.status_code == 200, archive.text
    index = json.loads(zipfile.ZipFile(io.BytesIO(archive.content)).read("indice.json"))
    assert [c["title"] for c in index["conversations"]] == ["Informe guardado"]

    created = await client.post("/conversations", json={"temporary": True}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["temporary"] is True and created.json()["title_source"] == "auto"
    assert created.json()["id"] not in await _listed(client, headers)


async def test_share_pin_and_archive_are_refused_and_saving_is_for_good(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    ana = await make_user()
    headers = await auth_headers(ana)
    temp = await make_conversation(ana, "Temporal", ["hola", "respuesta"], temporary=True)
    normal = await make_conversation(ana, "Normal", ["hola", "respuesta"])
    path = f"/conversations/{temp.id}"

    shared = await client.put(f"{path}/share", headers=headers)
    assert shared.status_code == 409, shared.text
    assert shared.json()["code"] == "conversation_temporary"
    assert "Guardar en el historial" in shared.json()["detail"]
    folder = await client.post("/folders", json={"name": "Informes"}, headers=headers)
    filed = {"folder_id": folder.json()["id"]}
    for change in ({"pinned": True}, {"archived": True}, filed):
        refused = await client.patch(path, json=change, headers=headers)
        assert refused.status_code == 409 and refused.json()["code"] == "conversation_temporary"
    listed = await client.get("/folders", headers=headers)
    assert [f["conversation_count"] for f in listed.json()] == [0]
    # Turning something off is harmless; a rename is fine.
    renamed = await client.patch(
        path, json={"title": "Mío", "pinned": False, "folder_id": None}, headers=headers
    )
    assert renamed.status_code == 200 and renamed.json()["temporary"] is True

    made_temporary = await client.patch(
        f"/conversations/{normal.id}", json={"temporary": True}, headers=headers
    )
    assert made_temporary.status_code == 409
    assert made_temporary.json()["code"] == "temporary_only_at_creation"

    # Saved and pinned in one request: it is then an ordinary conversation.
    saved = await client.patch(path, json={"temporary": False, "pinned": True}, headers=headers)
    assert saved.status_code == 200, saved.text
    assert (saved.json()["temporary"], saved.json()["pinned"]) == (False, True)
    assert str(temp.id) in await _listed(client, headers)
    again = await client.patch(path, json={"temporary": True}, headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "temporary_only_at_creation"
    assert (await client.put(f"{path}/share", headers=headers)).status_code == 200


async def test_expired_reads_as_missing_to_its_owner_and_marked_to_admins(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    ana = await make_user()
    headers = await auth_headers(ana)
    admin = await auth_headers(await make_user(role="admin"))
    boss = await auth_headers(await make_user(role="supervisor"))
    now = utcnow()
    fresh = await make_conversation(
        ana, "Reciente", ["a", "b"], temporary=True, updated_at=now - timedelta(hours=23)
    )
    old = await make_conversation(
        ana, "Vencida", ["a", "b"], temporary=True, updated_at=now - timedelta(hours=25)
    )
    assert (await client.get(f"/conversations/{fresh.id}", headers=headers)).status_code == 200
    for suffix in ("", "/messages", "/export"):
        gone = await client.get(f"/conversations/{old.id}{suffix}", headers=headers)
        assert gone.status_code == 404, (suffix, gone.text)
    deleted = await client.delete(f"/conversations/{old.id}", headers=headers)
    assert deleted.status_code == 404
    continued = await client.post(
        "/chat", json={"message": "sigo", "conversation_id": str(old.id)}, headers=headers
    )
    assert continued.status_code == 404
    # Its answers by id too (re-attach, stop), as an answer that does not exist.
    for answer in (old.current_leaf_id, fresh.current_leaf_id):
        followed = await client.get(f"/chat/{answer}/stream", headers=headers)
        stopped = await client.post(f"/chat/{answer}/stop", headers=headers)
        expected = 404 if answer == old.current_leaf_id else 200
        assert (followed.status_code, stopped.status_code) == (expected, expected), answer
    assert followed.status_code == 200 and "event: done" in followed.text
    assert stopped.json()["status"] == "complete"
    gone_answer = await client.get(f"/chat/{old.current_leaf_id}/stream", headers=headers)
    assert gone_answer.json() == {
        "detail": "No se encontró la respuesta.",
        "code": "not_found",
    }

    # Staff see both while they exist, marked (the sweep has not run).
    for viewer in (admin, boss):
        listed = await client.get("/admin/conversations", params={"user_id": str(ana.id)},
                                  headers=viewer)  # fmt: skip
        assert {i["title"]: i["temporary"] for i in listed.json()["items"]} == {
            "Reciente": True,
            "Vencida": True,
        }
        one = await client.get(f"/admin/conversations/{old.id}", headers=viewer)
        assert one.status_code == 200 and one.json()["temporary"] is True


async def test_retention_run_deletes_expired_ones_keeps_held_and_counters_follow(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    assert settings.retention_days == {}  # no policy: the temporary chats are swept all the same
    ana = await make_user()
    admin = await auth_headers(await make_user(role="admin"))
    now = utcnow()
    old = now - timedelta(hours=25)
    gone = await make_conversation(ana, "Vencida", ["a", "b"], temporary=True, updated_at=old)
    held = await make_conversation(ana, "Retenida", ["a", "b"], temporary=True, updated_at=old)
    await make_conversation(ana, "Viva", ["a", "b"], temporary=True, updated_at=now)
    await make_conversation(ana, "Antigua normal", ["a", "b"], updated_at=now - timedelta(days=900))
    async with sessionmaker.begin() as session:  # their messages as old as their last activity
        await session.execute(
            update(Message)
            .where(Message.conversation_id.in_((gone.id, held.id)))
            .values(created_at=old - timedelta(minutes=1))
        )
    placed = await client.put(
        f"/admin/conversations/{held.id}/legal-hold", json={"reason": "Juicio"}, headers=admin
    )
    assert placed.status_code == 200, placed.text
    async with sessionmaker() as session:
        quota_before = await chat_service.tokens_used_since(session, ana.id, quota_day_bounds()[0])

    summary = await retention.run(sessionmaker, settings)

    assert (summary.conversations, summary.messages) == (1, 2)
    async with sessionmaker() as session:
        titles = set((await session.scalars(select(Conversation.title))).all())
        assert titles == {"Retenida", "Viva", "Antigua normal"}
        assert gone.id not in set((await session.scalars(select(Conversation.id))).all())
        owner = await session.get(User, ana.id)
        assert owner is not None
        # As a deletion: the counters follow what is left, nothing for reconcile to fix...
        assert (owner.conversation_count, owner.message_count) == (3, 6)
        assert await counters.reconcile(session) == counters.Reconciled(0, 0)
        # ... and today's quota is what it was (the chat's answers are older than today).
        used = await chat_service.tokens_used_since(session, ana.id, quota_day_bounds()[0])
        assert used == quota_before

    # Released, the hold no longer keeps it.
    released = await client.delete(f"/admin/conversations/{held.id}/legal-hold", headers=admin)
    assert released.status_code == 204
    assert (await retention.run(sessionmaker, settings)).conversations == 1


async def test_the_hours_come_from_the_setting_and_the_public_config(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    assert settings.temporary_chat_hours == 24
    public = await client.get("/config/public")
    assert public.json()["temporary_chat_hours"] == 24


async def test_a_temporary_chat_is_not_reassigned_until_its_owner_saves_it(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ana, beto = await make_user(), await make_user()
    headers = await auth_headers(ana)
    admin = await auth_headers(await make_user(role="admin"))
    temp = await make_conversation(ana, "Temporal", ["a", "b"], temporary=True)
    path = f"/admin/conversations/{temp.id}/reassign"

    refused = await client.post(path, json={"user_id": str(beto.id)}, headers=admin)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "conversation_temporary"
    assert "no se puede reasignar" in refused.json()["detail"]
    async with sessionmaker() as session:
        kept = await session.get(Conversation, temp.id)
        assert kept is not None and kept.user_id == ana.id
        counts = {
            u.id: (u.conversation_count, u.message_count)
            for u in (await session.scalars(select(User).where(User.id.in_((ana.id, beto.id)))))
        }
        assert counts == {ana.id: (1, 2), beto.id: (0, 0)}
    # To its owner, as it was: still there, still temporary.
    mine = await client.get(f"/conversations/{temp.id}", headers=headers)
    assert mine.status_code == 200 and mine.json()["temporary"] is True

    saved = await client.patch(f"/conversations/{temp.id}", json={"temporary": False},
                               headers=headers)  # fmt: skip
    assert saved.status_code == 200
    moved = await client.post(path, json={"user_id": str(beto.id)}, headers=admin)
    assert moved.status_code == 200, moved.text
    assert moved.json()["temporary"] is False


async def test_deleting_one_leaves_no_title_in_the_audit_trail(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    ana = await make_user(full_name="Ana Reservada")
    headers = await auth_headers(ana)
    admin = await auth_headers(await make_user(role="admin"))
    temp = await make_conversation(ana, "Despido de Pérez", ["a", "b"], temporary=True)
    assert (await client.delete(f"/conversations/{temp.id}", headers=headers)).status_code == 204

    trail = await client.get(
        "/admin/audit", params={"action": "conversation.deleted"}, headers=admin
    )
    [event] = trail.json()["items"]
    assert event["label"] == "Eliminó un chat temporal de Ana Reservada"
    assert event["details"] == {"owner_id": str(ana.id), "message_count": 2, "temporary": True}
    exported = await client.get("/admin/audit/export.csv", headers=admin)
    assert exported.status_code == 200 and "Ana Reservada" in exported.text
    assert "Despido" not in trail.text + exported.text
