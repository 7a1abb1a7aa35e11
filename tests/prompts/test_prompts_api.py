"""A person's own saved prompts through the API: create, list, edit, delete, only their own
(another person's is a 404), cleaned and limited, titles unique ignoring case and accents."""

from __future__ import annotations

import unicodedata
import uuid

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.prompts.models import SavedPrompt
from tests.conftest import HeadersFactory, UserFactory

URL = "/prompts"


async def test_a_person_creates_lists_edits_and_deletes_their_prompts(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    headers = await auth_headers(await make_user())
    assert (await client.get(URL, headers=headers)).json() == []
    decomposed = unicodedata.normalize("NFD", "Revisión")
    created = await client.post(
        URL,
        json={"title": f"  {decomposed} ortográfica ", "body": "\n Revisa la ortografía:\n\n"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    prompt = created.json()
    assert prompt["title"] == "Revisión ortográfica"
    assert prompt["body"] == "Revisa la ortografía:"
    assert prompt["published"] is False
    listed = (await client.get(URL, headers=headers)).json()
    assert [p["id"] for p in listed] == [prompt["id"]]

    edited = await client.patch(
        f"{URL}/{prompt['id']}", json={"body": "Resume en 5 puntos"}, headers=headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["title"] == "Revisión ortográfica"
    assert edited.json()["body"] == "Resume en 5 puntos"
    renamed = await client.patch(
        f"{URL}/{prompt['id']}", json={"title": "Resumen"}, headers=headers
    )
    assert renamed.json()["title"] == "Resumen" and renamed.json()["body"] == "Resume en 5 puntos"

    gone = await client.delete(f"{URL}/{prompt['id']}", headers=headers)
    assert gone.status_code == 204
    assert (await client.get(URL, headers=headers)).json() == []
    again = await client.delete(f"{URL}/{prompt['id']}", headers=headers)
    assert again.status_code == 404 and again.json()["code"] == "prompt_not_found"


async def test_the_list_is_sorted_by_title_ignoring_case_and_accents(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    headers = await auth_headers(await make_user())
    for title in ("zeta", "Índice", "ala", "Ébano", "Bote"):
        response = await client.post(URL, json={"title": title, "body": "x"}, headers=headers)
        assert response.status_code == 201, response.text
    titles = [p["title"] for p in (await client.get(URL, headers=headers)).json()]
    assert titles == ["ala", "Bote", "Ébano", "Índice", "zeta"]


async def test_another_persons_prompt_is_not_found(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    ana = await auth_headers(await make_user())
    luis = await auth_headers(await make_user("admin"))
    created = await client.post(URL, json={"title": "De Ana", "body": "Hola"}, headers=ana)
    prompt_id = created.json()["id"]
    assert (await client.get(URL, headers=luis)).json() == []
    for method, body in (("PATCH", {"title": "Mío"}), ("DELETE", None)):
        response = await client.request(method, f"{URL}/{prompt_id}", json=body, headers=luis)
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "prompt_not_found"
    missing = await client.patch(f"{URL}/{uuid.uuid4()}", json={"title": "x"}, headers=ana)
    assert missing.status_code == 404
    assert [p["title"] for p in (await client.get(URL, headers=ana)).json()] == ["De Ana"]
    assert (await client.get(URL)).status_code == 401


async def test_titles_are_unique_per_person_ignoring_case_and_accents(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    ana = await auth_headers(await make_user())
    luis = await auth_headers(await make_user())
    first = await client.post(URL, json={"title": "Revisión", "body": "a"}, headers=ana)
    second = await client.post(URL, json={"title": "Otra", "body": "b"}, headers=ana)
    for title in ("REVISION", " revisión "):
        taken = await client.post(URL, json={"title": title, "body": "c"}, headers=ana)
        assert taken.status_code == 409, taken.text
        assert taken.json()["code"] == "prompt_title_taken"
        assert "Elija otro título" in taken.json()["detail"]
    renamed = await client.patch(
        f"{URL}/{second.json()['id']}", json={"title": "revision"}, headers=ana
    )
    assert renamed.status_code == 409
    # Its own title, in another case, is not a clash; another person may use it too.
    same = await client.patch(
        f"{URL}/{first.json()['id']}", json={"title": "REVISIÓN"}, headers=ana
    )
    assert same.status_code == 200 and same.json()["title"] == "REVISIÓN"
    other = await client.post(URL, json={"title": "Revisión", "body": "d"}, headers=luis)
    assert other.status_code == 201


async def test_titles_and_bodies_are_checked(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    headers = await auth_headers(await make_user())
    ok = await client.post(URL, json={"title": "⚡" * 80, "body": "x"}, headers=headers)
    assert ok.status_code == 201, ok.text
    for body, code in (
        ({"title": "a" * 81, "body": "x"}, "prompt_title_invalid"),
        ({"title": "   ", "body": "x"}, "prompt_title_invalid"),
        ({"title": "Con\u202eruso", "body": "x"}, "prompt_title_invalid"),
        ({"title": "Vacía", "body": " \n "}, "prompt_body_empty"),
        ({"title": "Larga", "body": "x" * 8001}, "prompt_body_too_long"),
        ({"title": "Sin texto"}, "validation_error"),
        ({"title": "Extra", "body": "x", "user_id": None}, "validation_error"),
        ({"title": 5, "body": "x"}, "validation_error"),
    ):
        refused = await client.post(URL, json=body, headers=headers)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["code"] == code
        assert refused.json()["detail"]
    prompt_id = ok.json()["id"]
    long_edit = await client.patch(f"{URL}/{prompt_id}", json={"body": "y" * 8001}, headers=headers)
    assert long_edit.status_code == 422 and "8000" in long_edit.json()["detail"]
    full = await client.patch(f"{URL}/{prompt_id}", json={"body": "ñ" * 8000}, headers=headers)
    assert full.status_code == 200, full.text
    assert len((await client.get(URL, headers=headers)).json()) == 1


async def test_a_person_keeps_at_most_100_prompts(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    other = await make_user()
    headers = await auth_headers(user)
    async with sessionmaker() as session:
        session.add_all(
            SavedPrompt(user_id=user.id, title=f"Indicación {n}", body="x") for n in range(99)
        )
        session.add(SavedPrompt(user_id=None, title="Publicada", body="x"))
        await session.commit()
    last = await client.post(URL, json={"title": "La cien", "body": "x"}, headers=headers)
    assert last.status_code == 201, last.text
    refused = await client.post(URL, json={"title": "La 101", "body": "x"}, headers=headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "prompt_limit" and "100" in refused.json()["detail"]
    others = await client.post(
        URL, json={"title": "La 101", "body": "x"}, headers=await auth_headers(other)
    )
    assert others.status_code == 201
    assert len((await client.get(URL, headers=headers)).json()) == 101  # 100 + the published


async def test_a_persons_prompts_go_with_their_account(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ana = await make_user()
    luis = await make_user()
    await client.post(URL, json={"title": "De Ana", "body": "a"}, headers=await auth_headers(ana))
    await client.post(URL, json={"title": "De Luis", "body": "b"}, headers=await auth_headers(luis))
    async with sessionmaker() as session:
        await session.execute(delete(User).where(User.id == ana.id))
        await session.commit()
        titles = (await session.scalars(select(SavedPrompt.title))).all()
        count = await session.scalar(select(func.count()).select_from(SavedPrompt))
    assert titles == ["De Luis"] and count == 1
