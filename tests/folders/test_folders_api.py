"""A person's folders through the API: create, list with counts, rename, delete; only their own
(another person's is a 404), names cleaned, limited and unique ignoring case and accents."""

from __future__ import annotations

import unicodedata
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.folders.models import Folder
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory

URL = "/folders"


async def test_a_person_creates_lists_renames_and_deletes_folders(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    assert (await client.get(URL, headers=headers)).json() == []
    decomposed = unicodedata.normalize("NFD", "Mantención")
    created = await client.post(URL, json={"name": f"  {decomposed}\n  2026 "}, headers=headers)
    assert created.status_code == 201, created.text
    folder = created.json()
    assert folder["name"] == "Mantención 2026" and folder["conversation_count"] == 0
    for name in ("zeta", "Índice", "ala"):
        assert (await client.post(URL, json={"name": name}, headers=headers)).status_code == 201
    listed = (await client.get(URL, headers=headers)).json()
    assert [f["name"] for f in listed] == ["ala", "Índice", "Mantención 2026", "zeta"]

    kept = await make_conversation(user, "En la carpeta")
    archived = await make_conversation(user, "Archivada", archived=True)
    for conversation in (kept, archived):
        moved = await client.patch(
            f"/conversations/{conversation.id}", json={"folder_id": folder["id"]}, headers=headers
        )
        assert moved.status_code == 200 and moved.json()["folder_id"] == folder["id"]
    counts = {
        f["name"]: f["conversation_count"] for f in (await client.get(URL, headers=headers)).json()
    }
    assert counts["Mantención 2026"] == 1  # the archived one is not counted

    renamed = await client.patch(f"{URL}/{folder['id']}", json={"name": "Taller"}, headers=headers)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Taller" and renamed.json()["conversation_count"] == 1

    gone = await client.delete(f"{URL}/{folder['id']}", headers=headers)
    assert gone.status_code == 204
    # Its conversations stay, with no folder.
    for conversation in (kept, archived):
        shown = await client.get(f"/conversations/{conversation.id}", headers=headers)
        assert shown.status_code == 200 and shown.json()["folder_id"] is None
    again = await client.delete(f"{URL}/{folder['id']}", headers=headers)
    assert again.status_code == 404 and again.json()["code"] == "folder_not_found"


async def test_another_persons_folder_is_not_found(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    ana_user = await make_user()
    ana = await auth_headers(ana_user)
    admin_user = await make_user("admin")
    admin = await auth_headers(admin_user)
    folder_id = (await client.post(URL, json={"name": "De Ana"}, headers=ana)).json()["id"]
    assert (await client.get(URL, headers=admin)).json() == []
    for method, body in (("PATCH", {"name": "Mía"}), ("DELETE", None)):
        response = await client.request(method, f"{URL}/{folder_id}", json=body, headers=admin)
        assert response.status_code == 404, response.text
        assert set(response.json()) == {"detail", "code"}
        assert response.json()["code"] == "folder_not_found"
        assert response.json()["detail"] == "No existe esa carpeta o no es suya. Recargue la lista."
    # Nor may anyone list it or file a conversation of theirs into it.
    listed = await client.get("/conversations", params={"folder_id": folder_id}, headers=admin)
    assert listed.status_code == 404 and listed.json()["code"] == "folder_not_found"
    own = await make_conversation(admin_user)
    filed = await client.patch(
        f"/conversations/{own.id}", json={"folder_id": folder_id}, headers=admin
    )
    assert filed.status_code == 404 and filed.json()["code"] == "folder_not_found"
    missing = await client.patch(f"{URL}/{uuid.uuid4()}", json={"name": "x"}, headers=ana)
    assert missing.status_code == 404
    assert (await client.get(URL)).status_code == 401
    assert [f["name"] for f in (await client.get(URL, headers=ana)).json()] == ["De Ana"]


async def test_names_are_unique_per_person_ignoring_case_and_accents(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    ana = await auth_headers(await make_user())
    luis = await auth_headers(await make_user())
    first = await client.post(URL, json={"name": "Mantención"}, headers=ana)
    second = await client.post(URL, json={"name": "Otra"}, headers=ana)
    for name in ("MANTENCION", " mantención "):
        taken = await client.post(URL, json={"name": name}, headers=ana)
        assert taken.status_code == 409, taken.text
        assert taken.json()["code"] == "folder_name_taken"
        assert "Elija otro nombre" in taken.json()["detail"]
    clash = await client.patch(
        f"{URL}/{second.json()['id']}", json={"name": "mantencion"}, headers=ana
    )
    assert clash.status_code == 409
    # Its own name in another case is no clash; another person may use it too.
    same = await client.patch(
        f"{URL}/{first.json()['id']}", json={"name": "MANTENCIÓN"}, headers=ana
    )
    assert same.status_code == 200 and same.json()["name"] == "MANTENCIÓN"
    assert (await client.post(URL, json={"name": "Mantención"}, headers=luis)).status_code == 201


async def test_names_are_checked(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    headers = await auth_headers(await make_user())
    ok = await client.post(URL, json={"name": "⚡" * 60}, headers=headers)
    assert ok.status_code == 201, ok.text
    for body, code in (
        ({"name": "a" * 61}, "folder_name_invalid"),
        ({"name": " \n\t "}, "folder_name_invalid"),
        ({"name": "Con\u202eruso"}, "folder_name_invalid"),
        ({"name": "Zero\u200bwidth"}, "folder_name_invalid"),
        ({}, "validation_error"),
        ({"name": 5}, "validation_error"),
        ({"name": "x", "user_id": None}, "validation_error"),
    ):
        refused = await client.post(URL, json=body, headers=headers)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["code"] == code and refused.json()["detail"]
    long_rename = await client.patch(
        f"{URL}/{ok.json()['id']}", json={"name": "b" * 61}, headers=headers
    )
    assert long_rename.status_code == 422 and "60" in long_rename.json()["detail"]


async def test_a_person_keeps_at_most_50_folders(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    other = await make_user()
    headers = await auth_headers(user)
    async with sessionmaker() as session:
        session.add_all(Folder(user_id=user.id, name=f"Carpeta {n}") for n in range(49))
        session.add(Folder(user_id=other.id, name="Ajena"))
        await session.commit()
    fiftieth = await client.post(URL, json={"name": "La última"}, headers=headers)
    assert fiftieth.status_code == 201, fiftieth.text
    refused = await client.post(URL, json={"name": "Una más"}, headers=headers)
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "Puede tener como máximo 50 carpetas. Elimine alguna que ya no use e intente "
        "de nuevo.",
        "code": "folder_limit",
    }
    # Renaming stays possible at the cap; deleting one makes room.
    renamed = await client.patch(
        f"{URL}/{fiftieth.json()['id']}", json={"name": "Renombrada"}, headers=headers
    )
    assert renamed.status_code == 200
    assert (
        await client.delete(f"{URL}/{fiftieth.json()['id']}", headers=headers)
    ).status_code == 204
    assert (await client.post(URL, json={"name": "Una más"}, headers=headers)).status_code == 201
