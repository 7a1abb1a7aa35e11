"""A conversation's copy of the custom instructions is part of the conversation: its exports
(Markdown, JSON, the ZIP of all) carry it, and staff who may read the conversation see it
through the admin viewer, audited like its messages."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.audit.models import AuditEvent
from tests.conftest import HeadersFactory, UserFactory

URL = "/auth/me/instructions"
ABOUT = "Soy estudiante de electricidad de INACAP.\nTrabajo en terreno."
STYLE = "Responde breve y con ejemplos."


async def _conversation_with_copy(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """A conversation created with ABOUT/STYLE in force, the instructions changed afterwards."""
    body = {"about_user": ABOUT, "response_style": STYLE, "enabled": True}
    assert (await client.put(URL, json=body, headers=headers)).status_code == 200
    created = await client.post("/conversations", json={"title": "Tablero"}, headers=headers)
    assert created.status_code == 201, created.text
    later = {"about_user": "Otra cosa", "response_style": "", "enabled": True}
    assert (await client.put(URL, json=later, headers=headers)).status_code == 200
    conversation_id: str = created.json()["id"]
    return conversation_id


async def test_exports_carry_the_conversations_copy(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    headers = await auth_headers(await make_user())
    cid = await _conversation_with_copy(client, headers)
    plain = await client.post("/conversations", json={"title": "Después"}, headers=headers)
    switched_off = {"about_user": "", "response_style": "", "enabled": False}
    assert (await client.put(URL, json=switched_off, headers=headers)).status_code == 200
    without = await client.post("/conversations", json={"title": "Apagadas"}, headers=headers)

    as_json = await client.get(f"/conversations/{cid}/export?format=json", headers=headers)
    assert as_json.status_code == 200, as_json.text
    kept = {"about_user": ABOUT, "response_style": STYLE}
    assert as_json.json()["custom_instructions"] == kept
    off = await client.get(
        f"/conversations/{without.json()['id']}/export?format=json", headers=headers
    )
    assert off.json()["custom_instructions"] is None
    assert plain.json()["id"] != without.json()["id"]

    markdown = (await client.get(f"/conversations/{cid}/export", headers=headers)).text
    assert "> **Instrucciones personalizadas** (vigentes al crear la conversación)" in markdown
    assert "> _¿Qué debería saber EnergyApp sobre usted?_" in markdown
    assert "> Soy estudiante de electricidad de INACAP.\n> Trabajo en terreno." in markdown
    assert f"> _¿Cómo quiere que EnergyApp responda?_\n>\n> {STYLE}" in markdown
    assert "Otra cosa" not in markdown
    off_md = await client.get(f"/conversations/{without.json()['id']}/export", headers=headers)
    assert "Instrucciones personalizadas" not in off_md.text

    everything = await client.get("/conversations/export", headers=headers)
    archive = zipfile.ZipFile(io.BytesIO(everything.content))
    documents = [
        json.loads(archive.read(name))
        for name in archive.namelist()
        if name.startswith("conversaciones/") and name.endswith(".json")
    ]
    by_title = {d["conversation"]["title"]: d["custom_instructions"] for d in documents}
    later = {"about_user": "Otra cosa", "response_style": ""}
    assert by_title == {"Tablero": kept, "Después": later, "Apagadas": None}


async def test_staff_see_the_copy_of_a_conversation_in_scope_audited(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    worker = await make_user()
    worker_headers = await auth_headers(worker)
    admin = await make_user("admin")
    admin_headers = await auth_headers(admin)
    supervisor_headers = await auth_headers(await make_user("supervisor"))
    cid = await _conversation_with_copy(client, worker_headers)
    admins_own = await _conversation_with_copy(client, admin_headers)

    for headers in (admin_headers, supervisor_headers):
        seen = await client.get(f"/admin/conversations/{cid}/instructions", headers=headers)
        assert seen.status_code == 200, seen.text
        assert seen.json() == {
            "custom_instructions": {"about_user": ABOUT, "response_style": STYLE}
        }
    async with sessionmaker() as session:
        events = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "conversation.viewed", AuditEvent.target_id == cid
                )
            )
        ).all()
    assert len(events) == 2
    assert all(e.details == {"owner_id": str(worker.id), "part": "instructions"} for e in events)

    # Out of the supervisor's scope (an admin's conversation), a worker, an unknown id.
    out_of_scope = await client.get(
        f"/admin/conversations/{admins_own}/instructions", headers=supervisor_headers
    )
    assert out_of_scope.status_code == 404
    assert out_of_scope.json()["code"] == "not_found"
    worker_asks = await client.get(
        f"/admin/conversations/{cid}/instructions", headers=worker_headers
    )
    assert worker_asks.status_code == 403
    unknown = await client.get(
        f"/admin/conversations/{uuid.uuid4()}/instructions", headers=admin_headers
    )
    assert unknown.status_code == 404
    # An admin reading an own conversation leaves no trace, as with its messages.
    own = await client.get(f"/admin/conversations/{admins_own}/instructions", headers=admin_headers)
    assert own.json()["custom_instructions"]["about_user"] == ABOUT
    async with sessionmaker() as session:
        traces = await session.scalars(select(AuditEvent).where(AuditEvent.target_id == admins_own))
        assert traces.all() == []
