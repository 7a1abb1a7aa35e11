"""Prompts an admin publishes for everyone: visible to all (marked published, after one's own),
changed only through /admin/prompts by admins (supervisors and workers 403), audited."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.audit.labels import ACTION_NAMES, EventFacts, Names, describe
from energyapp.audit.models import AuditEvent
from energyapp.auth.models import User
from energyapp.prompts.models import SavedPrompt
from tests.conftest import HeadersFactory, UserFactory

ADMIN_URL = "/admin/prompts"


async def test_published_prompts_are_visible_to_everyone_after_their_own(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin = await auth_headers(await make_user("admin"))
    worker = await auth_headers(await make_user())
    supervisor = await auth_headers(await make_user("supervisor"))
    published = await client.post(
        ADMIN_URL, json={"title": "Acta de reunión", "body": "Redacta un acta"}, headers=admin
    )
    assert published.status_code == 201, published.text
    assert published.json()["published"] is True
    await client.post("/prompts", json={"title": "Zeta propia", "body": "z"}, headers=worker)
    listed = (await client.get("/prompts", headers=worker)).json()
    assert [(p["title"], p["published"]) for p in listed] == [
        ("Zeta propia", False),
        ("Acta de reunión", True),
    ]
    assert [p["title"] for p in (await client.get("/prompts", headers=supervisor)).json()] == [
        "Acta de reunión"
    ]
    admin_list = (await client.get(ADMIN_URL, headers=admin)).json()
    assert [p["title"] for p in admin_list] == ["Acta de reunión"]
    # A published one is nobody's own: /prompts/{id} does not change it, not even for an admin.
    for headers in (worker, admin):
        response = await client.delete(f"/prompts/{published.json()['id']}", headers=headers)
        assert response.status_code == 404
    # Its title does not clash with a person's own.
    mine = await client.post(
        "/prompts", json={"title": "ACTA DE REUNION", "body": "a"}, headers=worker
    )
    assert mine.status_code == 201


async def test_only_admins_publish(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin = await auth_headers(await make_user("admin"))
    published = await client.post(ADMIN_URL, json={"title": "P", "body": "b"}, headers=admin)
    prompt_url = f"{ADMIN_URL}/{published.json()['id']}"
    for role in ("supervisor", "trabajador"):
        headers = await auth_headers(await make_user(role))
        for method, url, body in (
            ("GET", ADMIN_URL, None),
            ("POST", ADMIN_URL, {"title": "Mía", "body": "b"}),
            ("PATCH", prompt_url, {"title": "Cambiada"}),
            ("DELETE", prompt_url, None),
        ):
            response = await client.request(method, url, json=body, headers=headers)
            assert response.status_code == 403, (role, method, response.text)
            assert response.json()["code"] == "forbidden"
    listed = (await client.get(ADMIN_URL, headers=admin)).json()
    assert [p["title"] for p in listed] == ["P"]


async def test_published_titles_are_unique_and_a_persons_prompt_is_no_admin_business(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin = await auth_headers(await make_user("admin"))
    worker = await auth_headers(await make_user())
    await client.post(ADMIN_URL, json={"title": "Informe", "body": "b"}, headers=admin)
    taken = await client.post(ADMIN_URL, json={"title": "informe", "body": "c"}, headers=admin)
    assert taken.status_code == 409 and taken.json()["code"] == "prompt_title_taken"
    own = await client.post("/prompts", json={"title": "Propia", "body": "c"}, headers=worker)
    response = await client.patch(
        f"{ADMIN_URL}/{own.json()['id']}", json={"title": "Otra"}, headers=admin
    )
    assert response.status_code == 404 and response.json()["code"] == "prompt_not_found"


async def test_changes_to_published_prompts_are_audited(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin_user = await make_user("admin")
    admin = await auth_headers(admin_user)
    created = await client.post(ADMIN_URL, json={"title": "Acta", "body": "b"}, headers=admin)
    prompt_id = created.json()["id"]
    edited = await client.patch(
        f"{ADMIN_URL}/{prompt_id}", json={"title": "Acta breve"}, headers=admin
    )
    assert edited.status_code == 200, edited.text
    # The same values again (a double click on "Guardar") change nothing and record nothing.
    again = await client.patch(
        f"{ADMIN_URL}/{prompt_id}", json={"title": "Acta breve", "body": "b"}, headers=admin
    )
    assert again.status_code == 200, again.text
    assert again.json() == edited.json()
    # A change of nothing is refused, not recorded as a change.
    for empty in ({}, {"title": None, "body": None}):
        nothing = await client.patch(f"{ADMIN_URL}/{prompt_id}", json=empty, headers=admin)
        assert nothing.status_code == 422 and nothing.json()["code"] == "prompt_nothing_to_change"
    assert (await client.delete(f"{ADMIN_URL}/{prompt_id}", headers=admin)).status_code == 204
    assert (await client.get("/prompts", headers=admin)).json() == []
    async with sessionmaker() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.like("prompt.%"))
                .order_by(AuditEvent.created_at, AuditEvent.id)
            )
        ).all()
    assert [(e.action, e.details) for e in events] == [
        ("prompt.published", {"title": "Acta"}),
        ("prompt.updated", {"title": "Acta breve"}),
        ("prompt.unpublished", {"title": "Acta breve"}),
    ]
    assert {e.actor_id for e in events} == {admin_user.id}
    assert {e.target_id for e in events} == {prompt_id}
    assert all(e.action in ACTION_NAMES for e in events)
    facts = EventFacts(
        action="prompt.published",
        target_type="saved_prompt",
        target_id=prompt_id,
        details={"title": "Acta"},
    )
    assert describe(facts, Names()) == "Publicó para todos la indicación «Acta»"
    # The trail of a person's own prompts stays private: nothing recorded for them.
    worker = await auth_headers(await make_user())
    await client.post("/prompts", json={"title": "Mía", "body": "b"}, headers=worker)
    async with sessionmaker() as session:
        count = len(
            (
                await session.scalars(
                    select(AuditEvent.id).where(AuditEvent.action.like("prompt.%"))
                )
            ).all()
        )
    assert count == 3


async def test_a_published_prompt_outlives_its_admins_account(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin_user = await make_user("admin")
    created = await client.post(
        ADMIN_URL, json={"title": "Acta", "body": "b"}, headers=await auth_headers(admin_user)
    )
    assert created.status_code == 201
    async with sessionmaker() as session:
        row = await session.get(SavedPrompt, uuid.UUID(created.json()["id"]))
        assert row is not None and row.created_by == admin_user.id and row.user_id is None
        await session.execute(delete(AuditEvent))
        await session.execute(delete(User).where(User.id == admin_user.id))
        await session.commit()
        kept = (await session.scalars(select(SavedPrompt))).one()
        await session.refresh(kept)
    assert kept.title == "Acta" and kept.created_by is None
