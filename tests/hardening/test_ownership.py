"""Every object id on every verb, tried by someone it does not belong to: 404 (its existence is
not revealed), or 403 where the caller's role may not use the route at all; nothing changes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.announcements.models import Announcement, AnnouncementDismissal
from energyapp.apikeys.models import ApiKey
from energyapp.auth.models import User
from energyapp.config import Settings
from energyapp.conversations.models import Conversation, Message
from energyapp.db import utcnow
from energyapp.feedback.models import MessageFeedback
from energyapp.folders.models import Folder
from energyapp.llm.fake_server import FakeConfig
from energyapp.prompts.models import SavedPrompt
from energyapp.sharing.models import SharedLink
from tests.conftest import HeadersFactory, UserFactory, make_settings
from tests.hardening.conftest import Actor, Endpoint, endpoints
from tests.llm.stand_in import stand_in

# "METHOD path": GET /admin/users/{user_id} is for supervisors too (their people).
ADMIN_ONLY = (
    "PATCH /admin/users/{user_id}",
    "POST /admin/users/{user_id}/reset-2fa",
    "POST /admin/users/{user_id}/password-reset",
    "PUT /admin/two-factor/roles/{role}",
    "GET /admin/conversations/{conversation_id}/legal-hold",
    "PUT /admin/conversations/{conversation_id}/legal-hold",
    "DELETE /admin/conversations/{conversation_id}/legal-hold",
    "PUT /admin/users/{user_id}/api-access",
    "PATCH /admin/announcements/{announcement_id}",
    "POST /admin/announcements/{announcement_id}/end",
    "DELETE /admin/announcements/{announcement_id}",
    "PATCH /admin/prompts/{prompt_id}",
    "DELETE /admin/prompts/{prompt_id}",
    "POST /admin/status/work/{work_id}/stop",
)


@pytest.fixture
async def ollama_url() -> AsyncIterator[str]:
    # Slow enough that an answer is still running while someone else tries to stop it.
    async with stand_in(FakeConfig(tokens_per_second=40, answer_tokens=60)) as (url, _fake):
        yield url


@pytest.fixture
def settings(db_url: str, ollama_url: str) -> Settings:
    return make_settings(db_url, ollama_url=ollama_url, chat_rate_limit_per_minute=10_000)


@dataclass
class Owned:
    owner: User
    conversation_id: uuid.UUID
    answer_id: uuid.UUID
    key_id: uuid.UUID
    # Not anyone's: one nobody sees yet (scheduled), so closing it is 404 for everyone.
    announcement_id: uuid.UUID
    prompt_id: uuid.UUID
    folder_id: uuid.UUID


async def _owned(sessionmaker: async_sessionmaker[AsyncSession], owner: User) -> Owned:
    async with sessionmaker() as session:
        conversation = Conversation(user_id=owner.id, title="Privada", message_count=2)
        session.add(conversation)
        await session.flush()
        session.add(
            Message(conversation_id=conversation.id, user_id=owner.id, role="user", content="hola")
        )
        answer = Message(
            conversation_id=conversation.id,
            user_id=owner.id,
            role="assistant",
            content="respuesta privada",
            model="qwen2.5:3b-instruct",
        )
        session.add(answer)
        key = ApiKey(
            user_id=owner.id, name="Privada", prefix="ea_abcde", digest=uuid.uuid4().hex * 2,
            expires_at=utcnow() + timedelta(days=90),
        )  # fmt: skip
        session.add(key)
        announcement = Announcement(
            body="Privado", level="info", audience="all", starts_at=utcnow() + timedelta(days=1)
        )
        session.add(announcement)
        prompt = SavedPrompt(user_id=owner.id, title="Privada", body="indicación privada")
        session.add(prompt)
        folder = Folder(user_id=owner.id, name="Privada")
        session.add(folder)
        await session.commit()
        return Owned(
            owner, conversation.id, answer.id, key.id, announcement.id, prompt.id, folder.id
        )


def _fill(endpoint: Endpoint, target: Owned) -> tuple[str, Any]:
    values = {
        "conversation_id": str(target.conversation_id),
        "assistant_message_id": str(target.answer_id),
        "message_id": str(target.answer_id),
        "user_id": str(target.owner.id),
        "role": target.owner.role,
        "key_id": str(target.key_id),
        # A shared link's token is the capability itself (whoever holds it reads, as designed):
        # without it, someone else's conversation is out of reach like any object.
        "token": "enlace-que-no-le-dieron",
        "announcement_id": str(target.announcement_id),
        "prompt_id": str(target.prompt_id),
        "folder_id": str(target.folder_id),
        # An answer on the "Estado" board: the route is for admins only (403 before any id).
        "work_id": uuid.uuid4().hex,
    }
    url = endpoint.path
    for name, value in values.items():
        url = url.replace("{" + name + "}", value)
    assert "{" not in url, f"unknown path parameter in {endpoint}"
    bodies: dict[str, Any] = {
        "PATCH /conversations/{conversation_id}": {"title": "robada"},
        "PATCH /prompts/{prompt_id}": {"title": "robada"},
        "PATCH /folders/{folder_id}": {"name": "robada"},
        "PATCH /admin/prompts/{prompt_id}": {"title": "robada"},
        "POST /admin/conversations/{conversation_id}/reassign": {"user_id": None},
        "PATCH /admin/users/{user_id}": {"role": "trabajador", "is_active": False},
        "PUT /admin/two-factor/roles/{role}": {"require_2fa": True},
        "PUT /admin/conversations/{conversation_id}/legal-hold": {"reason": "robada"},
        "PUT /conversations/{conversation_id}/messages/{message_id}/feedback": {
            "rating": "down",
            "comment": "robada",
        },
    }
    return url, bodies.get(str(endpoint), {} if endpoint.method in ("POST", "PATCH") else None)


async def _snapshot(
    sessionmaker: async_sessionmaker[AsyncSession], target: Owned
) -> tuple[Any, ...]:
    async with sessionmaker() as session:
        conversation = await session.get(Conversation, target.conversation_id)
        answer = await session.get(Message, target.answer_id)
        owner = await session.get(User, target.owner.id)
        key = await session.get(ApiKey, target.key_id)
        rating = await session.get(MessageFeedback, target.answer_id)
        shared = await session.scalar(select(func.count()).select_from(SharedLink))
        announcement = await session.get(Announcement, target.announcement_id)
        dismissals = await session.scalar(select(func.count()).select_from(AnnouncementDismissal))
        prompt = await session.get(SavedPrompt, target.prompt_id)
        folder = await session.get(Folder, target.folder_id)
        count = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.conversation_id == target.conversation_id)
        )
    assert conversation is not None and answer is not None and owner is not None
    assert key is not None and announcement is not None and prompt is not None
    assert folder is not None
    return (
        folder.name,
        announcement.body,
        announcement.ends_at,
        dismissals,
        prompt.title,
        key.revoked_at,
        owner.api_keys_enabled,
        conversation.user_id,
        conversation.title,
        conversation.archived,
        answer.status,
        answer.content,
        owner.role,
        owner.is_active,
        count,
        rating is None,
        shared,
    )


@pytest.mark.parametrize(
    ("attacker_role", "victim_role"),
    [
        ("trabajador", "trabajador"),
        ("trabajador", "admin"),
        ("supervisor", "admin"),
        ("supervisor", "supervisor"),
    ],
)
async def test_foreign_ids_on_every_route(
    client: httpx.AsyncClient,
    app: FastAPI,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    attacker_role: str,
    victim_role: str,
) -> None:
    attacker = await make_user(role=attacker_role)
    headers = await auth_headers(attacker)
    victim = await _owned(sessionmaker, await make_user(role=victim_role))
    before = await _snapshot(sessionmaker, victim)
    with_ids = [e for e in endpoints(app) if e.needs_user and "{" in e.path]
    assert len(with_ids) >= 10
    for endpoint in with_ids:
        url, body = _fill(endpoint, victim)
        if isinstance(body, dict) and "user_id" in body:
            body = {"user_id": str(attacker.id)}
        response = await client.request(endpoint.method, url, json=body, headers=headers)
        expected = {404}
        if endpoint.path.startswith("/admin") and (
            attacker_role == "trabajador" or str(endpoint) in ADMIN_ONLY
        ):
            expected = {403}
        assert response.status_code in expected, f"{endpoint}: {response.status_code}"
    # Chat into someone else's conversation.
    response = await client.post(
        "/chat",
        json={"message": "hola", "conversation_id": str(victim.conversation_id)},
        headers=headers,
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    # Lists and searches never show it.
    for url in ("/conversations", "/conversations?q=Privada", "/conversations?archived=true"):
        listed = (await client.get(url, headers=headers)).json()["items"]
        assert str(victim.conversation_id) not in {c["id"] for c in listed}, url
    if attacker_role == "supervisor":
        response = await client.get(
            "/admin/conversations", params={"user_id": str(victim.owner.id)}, headers=headers
        )
        assert response.status_code in (200, 404)
        if response.status_code == 200:
            ids = {c["id"] for c in response.json()["items"]}
            assert str(victim.conversation_id) not in ids
    assert await _snapshot(sessionmaker, victim) == before


async def test_stop_and_reattach_of_a_live_foreign_answer(
    client: httpx.AsyncClient,
    actors: dict[str, Actor],
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    owner = actors["trabajador"]
    intruder_headers = await auth_headers(await make_user())
    running = asyncio.create_task(
        client.post("/chat", json={"message": "explique la tarifa"}, headers=owner.headers)
    )
    answer_id = None
    for _ in range(200):
        async with sessionmaker() as session:
            answer_id = await session.scalar(
                select(Message.id).where(
                    Message.user_id == owner.user.id,
                    Message.role == "assistant",
                    Message.status == "streaming",
                )
            )
        if answer_id is not None:
            break
        await asyncio.sleep(0.02)
    assert answer_id is not None, "the answer never started"
    for headers in (intruder_headers, actors["supervisor"].headers, actors["admin"].headers):
        stop = await client.post(f"/chat/{answer_id}/stop", headers=headers)
        assert stop.status_code == 404
        follow = await client.get(f"/chat/{answer_id}/stream", headers=headers)
        assert follow.status_code == 404
    response = await running
    assert response.status_code == 200
    async with sessionmaker() as session:
        answer = await session.get(Message, answer_id)
    assert answer is not None and answer.status == "complete"
    assert len(answer.content.split()) == 60
