"""GET /conversations/export: every conversation of the caller (and only theirs) as one ZIP of
Markdown and JSON files, opened and checked; audited; limited per hour."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.audit.models import AuditEvent
from energyapp.config import Settings
from energyapp.conversations import export_zip
from tests.conftest import HeadersFactory, UserFactory, make_settings
from tests.conversations.conftest import ConversationFactory


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, export_zip_per_hour=2)


async def test_zip_holds_markdown_and_json_of_every_own_conversation(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(export_zip, "PAGE", 2)  # three conversations: two pages
    owner = await make_user()
    other = await make_user()
    titles = ["Informe eléctrico", "Presupuesto mantención", "¿Qué es un kVA?"]
    for n, title in enumerate(titles):
        await make_conversation(owner, title, [f"pregunta {n}", f"respuesta {n}"])
    await make_conversation(other, "Ajena", ["secreto de otro"])

    response = await client.get("/conversations/export", headers=await auth_headers(owner))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert 'filename="conversaciones-energyapp.zip"' in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    names = archive.namelist()
    assert len([n for n in names if n.endswith(".md")]) == 3
    assert len([n for n in names if n.endswith(".json") and n != "indice.json"]) == 3
    assert "conversaciones/0001-informe-electrico.md" in names

    index = json.loads(archive.read("indice.json"))
    assert [c["title"] for c in index["conversations"]] == titles
    for n, entry in enumerate(index["conversations"]):
        markdown = archive.read(f"{entry['file']}.md").decode()
        assert markdown.startswith(f"# {titles[n]}")
        assert f"pregunta {n}" in markdown and f"respuesta {n}" in markdown
        document = json.loads(archive.read(f"{entry['file']}.json"))
        assert document["format"] == "energyapp.conversation.v2"
        assert document["conversation"]["id"] == entry["id"]
        assert [m["content"] for m in document["messages"]] == [f"pregunta {n}", f"respuesta {n}"]
    everything = b"".join(archive.read(n) for n in names)
    assert b"secreto de otro" not in everything and b"Ajena" not in everything

    async with sessionmaker() as session:
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "conversations.exported")
            )
        ).all()
    assert [(e.actor_id, e.details) for e in events] == [(owner.id, {"conversations": 3})]


async def test_empty_history_is_a_valid_zip_and_exports_are_limited(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    headers = await auth_headers(await make_user())
    first = await client.get("/conversations/export", headers=headers)
    archive = zipfile.ZipFile(io.BytesIO(first.content))
    assert archive.namelist() == ["indice.json"]
    assert json.loads(archive.read("indice.json"))["conversations"] == []
    assert (await client.get("/conversations/export", headers=headers)).status_code == 200
    third = await client.get("/conversations/export", headers=headers)
    assert third.status_code == 429
    assert third.json()["code"] == "export_rate_limited"
    assert int(third.headers["retry-after"]) > 0


async def test_export_needs_a_session(client: httpx.AsyncClient) -> None:
    response = await client.get("/conversations/export")
    assert response.status_code == 401


async def test_head_neither_builds_nor_counts_nor_audits_an_export(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A download manager asks HEAD before GET: that probe must not spend the hourly quota
    (2 here) nor leave an export in the trail that never happened."""
    owner = await make_user()
    headers = await auth_headers(owner)
    for _ in range(3):
        head = await client.head("/conversations/export", headers=headers)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-type"] == "application/zip"
    async with sessionmaker() as session:
        exported = await session.scalar(
            select(AuditEvent.id).where(
                AuditEvent.action == "conversations.exported", AuditEvent.actor_id == owner.id
            )
        )
    assert exported is None
    assert (await client.get("/conversations/export", headers=headers)).status_code == 200
    assert (await client.get("/conversations/export", headers=headers)).status_code == 200
    # Spent: HEAD answers what GET would, still without counting.
    assert (await client.head("/conversations/export", headers=headers)).status_code == 429
