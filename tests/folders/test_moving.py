"""Filing conversations into folders: moving, one folder's list (keyset pages bound to the
folder), the whole list unchanged, a conversation that changes hands leaving its folder, and the
exports naming the folder."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.conversations.export_zip import folder_directories
from energyapp.conversations.models import Conversation
from energyapp.db import utcnow
from energyapp.errors import NotFound
from energyapp.folders import service
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory


async def _folder(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> str:
    response = await client.post("/folders", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _move(
    client: httpx.AsyncClient, headers: dict[str, str], conversation: object, folder: str | None
) -> httpx.Response:
    return await client.patch(
        f"/conversations/{conversation}", json={"folder_id": folder}, headers=headers
    )


async def test_one_folders_list_pages_and_the_whole_list_keeps_everything(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    work = await _folder(client, headers, "Trabajo")
    home = await _folder(client, headers, "Casa")
    now = utcnow()
    filed = []
    for n in range(5):
        conversation = await make_conversation(
            user, f"Trabajo {n}", updated_at=now - timedelta(minutes=n)
        )
        assert (await _move(client, headers, conversation.id, work)).status_code == 200
        filed.append(str(conversation.id))
    loose = await make_conversation(user, "Suelta", updated_at=now + timedelta(minutes=1))
    at_home = await make_conversation(user, "En casa")
    assert (await _move(client, headers, at_home.id, home)).status_code == 200
    pinned = await make_conversation(
        user, "Fijada", pinned=True, updated_at=now - timedelta(days=1)
    )
    assert (await _move(client, headers, pinned.id, work)).status_code == 200

    seen: list[str] = []
    cursor = None
    while True:
        params = {"folder_id": work, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await client.get("/conversations", params=params, headers=headers)
        assert page.status_code == 200, page.text
        seen += [c["id"] for c in page.json()["items"]]
        assert all(c["folder_id"] == work for c in page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        # A folder's cursor belongs to that folder's list.
        replay = await client.get("/conversations", params={"cursor": cursor}, headers=headers)
        assert replay.status_code == 422 and replay.json()["code"] == "invalid_cursor"
    assert seen == [str(pinned.id), *filed]  # pinned first, then newest, as the whole list

    whole = (await client.get("/conversations", headers=headers)).json()["items"]
    assert len(whole) == 8
    folders = {c["title"]: c["folder_id"] for c in whole}
    assert folders["Suelta"] is None and folders["En casa"] == home
    assert folders["Trabajo 0"] == work
    assert whole[1]["id"] == str(loose.id)
    # Back to no folder.
    out = await _move(client, headers, filed[0], None)
    assert out.status_code == 200 and out.json()["folder_id"] is None
    # A rename that does not send folder_id leaves the folder as it is.
    renamed = await client.patch(
        f"/conversations/{filed[1]}", json={"title": "Otro título"}, headers=headers
    )
    assert renamed.json()["folder_id"] == work
    bad = await _move(client, headers, filed[1], "3")
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"


async def test_staff_cannot_file_someone_elses_conversation_into_their_folder(
    make_user: UserFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    supervisor = await make_user("supervisor")
    worker = await make_user()
    conversation = await make_conversation(worker)
    async with sessionmaker() as session:
        staff = await session.get(User, supervisor.id)
        assert staff is not None
        own = await service.create(session, staff, "De supervisión")
        row = await session.get(Conversation, conversation.id)
        assert row is not None
        with pytest.raises(NotFound) as refused:
            await service.file_conversation(session, row, own.id)
        assert refused.value.code == "folder_not_found"
        assert row.folder_id is None


async def test_a_conversation_that_changes_hands_leaves_its_folder(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    admin = await auth_headers(await make_user("admin"))
    ana_user, luis_user = await make_user(), await make_user()
    ana, luis = await auth_headers(ana_user), await auth_headers(luis_user)
    folder = await _folder(client, ana, "Proyectos")
    given = await make_conversation(ana_user, "Para Luis", ["¿kWh?", "Energía."])
    shared = await make_conversation(ana_user, "Compartida", ["¿kVA?", "Potencia."])
    for conversation in (given, shared):
        assert (await _move(client, ana, conversation.id, folder)).status_code == 200

    reassigned = await client.post(
        f"/admin/conversations/{given.id}/reassign",
        json={"user_id": str(luis_user.id)},
        headers=admin,
    )
    assert reassigned.status_code == 200, reassigned.text
    assert "folder" not in json.dumps(reassigned.json())  # admins see no one's folders
    mine = await client.get(f"/conversations/{given.id}", headers=luis)
    assert mine.status_code == 200 and mine.json()["folder_id"] is None
    counts = (await client.get("/folders", headers=ana)).json()
    assert counts[0]["conversation_count"] == 1

    token = (await client.put(f"/conversations/{shared.id}/share", headers=ana)).json()["token"]
    copied = await client.post(f"/shared/{token}/copy", headers=luis)
    assert copied.status_code == 201, copied.text
    copy = await client.get(f"/conversations/{copied.json()['conversation_id']}", headers=luis)
    assert copy.json()["folder_id"] is None
    assert (await client.get(f"/conversations/{shared.id}", headers=ana)).json()[
        "folder_id"
    ] == folder


async def test_exports_name_the_folder(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    folder = await _folder(client, headers, "../Informes/ 2026 ¿eléctricos?")
    odd = await _folder(client, headers, "¿?")
    inside = await make_conversation(user, "Informe", ["¿kWh?", "Energía."])
    strange = await make_conversation(user, "Rara", ["a", "b"])
    await make_conversation(user, "Suelta", ["c", "d"])
    await _move(client, headers, inside.id, folder)
    await _move(client, headers, strange.id, odd)

    single = await client.get(
        f"/conversations/{inside.id}/export", params={"format": "json"}, headers=headers
    )
    assert single.status_code == 200, single.text
    document = single.json()
    assert document["folder"] == "../Informes/ 2026 ¿eléctricos?"
    assert document["conversation"]["folder_id"] == folder

    response = await client.get("/conversations/export", headers=headers)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    assert "conversaciones/informes-2026-electricos/0001-informe.md" in names
    assert "conversaciones/carpeta/0002-rara.json" in names
    assert "conversaciones/0003-suelta.md" in names
    assert not any(".." in n or n.startswith("/") for n in names)
    index = json.loads(archive.read("indice.json"))["conversations"]
    assert [e["folder"] for e in index] == ["../Informes/ 2026 ¿eléctricos?", "¿?", None]
    loose = json.loads(archive.read("conversaciones/0003-suelta.json"))
    assert loose["folder"] is None


def test_the_zip_gives_each_folder_a_directory_of_its_own_that_windows_accepts() -> None:
    # "a b" and "a/b" are two names but one slug, and "a-b-2" already has the next one; CON and
    # Lpt1 are device names on Windows, which cannot make such a directory.
    names = {uuid.uuid4(): name for name in ("a/b", "a b", "a-b-2", "CON", "Lpt1", "..", "nul")}
    directory = {name: d for folder_id, d in folder_directories(names).items()
                 for name in [names[folder_id]]}  # fmt: skip
    assert len(set(directory.values())) == len(names)  # no two folders merged
    assert directory["a b"] == "a-b" and directory["a/b"] == "a-b-3"  # by name, then a number
    assert directory["a-b-2"] == "a-b-2" and directory[".."] == "carpeta"
    assert directory["CON"] == "carpeta-con" and directory["Lpt1"] == "carpeta-lpt1"
    assert directory["nul"] == "carpeta-nul"
