"""The audit trail a person can read: Spanish labels, filters, list cooldown, CSV, scope."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.audit.models import AuditEvent
from energyapp.auth.models import User
from tests.admin.conftest import audit_events, move_messages
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory

PASSWORD = "Contrasena-segura-1"


async def _age_events(sessionmaker: async_sessionmaker[AsyncSession], minutes: int) -> None:
    """Move every stored event ``minutes`` into the past."""
    async with sessionmaker() as session:
        for event in (await session.scalars(select(AuditEvent))).all():
            event.created_at = event.created_at - timedelta(minutes=minutes)
        await session.commit()


async def _trail(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    response = await client.get("/admin/audit", params={"limit": 200, **params}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _parse_csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="[a-z]+-\d{2}-\d{2}-\d{4}\.csv"',
        response.headers["content-disposition"],
    )
    assert response.content.startswith("\ufeff".encode())
    text = response.content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


async def _people(
    make_user: UserFactory,
) -> tuple[User, User, User, User]:
    admin = await make_user("admin", email="admin@alvaradomazzei.cl", full_name="Ana Admin")
    supervisor = await make_user(
        "supervisor", email="sara@alvaradomazzei.cl", full_name="Sara Supervisora"
    )
    juan = await make_user("trabajador", email="juan@alvaradomazzei.cl", full_name="Juan Pérez")
    luis = await make_user("trabajador", email="luis@alvaradomazzei.cl", full_name="Luis Soto")
    return admin, supervisor, juan, luis


async def test_events_read_as_spanish_sentences_naming_actor_and_object(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    admin, _supervisor, juan, luis = await _people(make_user)
    conversation = await make_conversation(juan, "Presupuesto mantención", messages=["hola"])
    headers = await auth_headers(admin)
    ok = await client.post("/auth/login", json={"email": juan.email, "password": PASSWORD})
    assert ok.status_code == 200
    bad = await client.post("/auth/login", json={"email": juan.email, "password": "otra-clave"})
    assert bad.status_code == 401
    await client.get(f"/admin/conversations/{conversation.id}/messages", headers=headers)
    moved = await client.post(
        f"/admin/conversations/{conversation.id}/reassign",
        json={"user_id": str(luis.id)},
        headers=headers,
    )
    assert moved.status_code == 200
    await client.patch(f"/admin/users/{luis.id}", json={"role": "supervisor"}, headers=headers)

    events = {e["action"]: e for e in await _trail(client, headers)}
    assert events["login"]["label"] == "Inició sesión"
    assert events["login"]["actor_name"] == "Juan Pérez"
    assert events["login"]["actor_email"] == juan.email
    assert events["login"]["outcome"] == "success"
    failed = events["login_failed"]
    assert (
        failed["label"] == "Falló el inicio de sesión (contraseña incorrecta o cuenta inexistente)"
    )
    assert failed["outcome"] == "failure"
    assert failed["action_name"] == "Inicio de sesión fallido"
    # Viewed before the reassignment: the conversation is named with its current owner.
    viewed = events["conversation.viewed"]
    assert viewed["label"] == "Vio la conversación «Presupuesto mantención» de Luis Soto"
    assert viewed["actor_name"] == "Ana Admin"
    assert viewed["target_name"] == "«Presupuesto mantención»"
    assert events["conversation.reassigned"]["label"] == (
        "Reasignó «Presupuesto mantención» de Juan Pérez a Luis Soto"
    )
    role = events["user.role_changed"]
    assert role["label"] == "Cambió el rol de Luis Soto de Trabajador a Supervisor"
    assert (role["target_name"], role["target_email"]) == ("Luis Soto", luis.email)
    # The raw code and ids stay available for the details panel.
    assert role["action"] == "user.role_changed" and role["target_id"] == str(luis.id)
    assert viewed["details"]["owner_id"] == str(juan.id)

    # A deleted conversation keeps its title in the label.
    juan_headers = await auth_headers(juan)
    gone = await make_conversation(juan, "Borrador viejo")
    assert (await client.delete(f"/conversations/{gone.id}", headers=juan_headers)).status_code
    deleted = await _trail(client, headers, action="conversation.deleted")
    assert deleted[0]["label"] == "Eliminó la conversación «Borrador viejo» de Juan Pérez"

    actions = await client.get("/admin/audit/actions", headers=headers)
    names = {a["code"]: a["name"] for a in actions.json()}
    assert names["login"] == "Inicio de sesión"
    assert names["conversation.viewed"] == "Lectura de una conversación ajena"


async def test_filters_by_person_action_outcome_and_santiago_days(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin, _supervisor, juan, luis = await _people(make_user)
    headers = await auth_headers(admin)
    await client.post("/auth/login", json={"email": juan.email, "password": PASSWORD})
    await client.post("/auth/login", json={"email": juan.email, "password": "mala"})
    await client.post("/auth/login", json={"email": luis.email, "password": PASSWORD})
    await client.patch(f"/admin/users/{juan.id}", json={"is_active": False}, headers=headers)

    # Person: matches the actor or the user the event is about, by name or email.
    by_name = await _trail(client, headers, q="pérez")
    assert {e["action"] for e in by_name} == {"login", "login_failed", "user.deactivated"}
    by_email = await _trail(client, headers, q="LUIS@")
    assert [e["action"] for e in by_email] == ["login"]
    failures = await _trail(client, headers, outcome="failure")
    assert [e["action"] for e in failures] == ["login_failed"]
    successes = await _trail(client, headers, outcome="success", q="juan")
    assert {e["action"] for e in successes} == {"login", "user.deactivated"}
    only = await _trail(client, headers, action="user.deactivated")
    assert [e["label"] for e in only] == ["Desactivó la cuenta de Juan Pérez"]

    # Days are Santiago's: 02:30 UTC on 10-11-2026 is still 09-11-2026 in Chile (UTC-3).
    async with sessionmaker() as session:
        await session.execute(
            update(AuditEvent)
            .where(AuditEvent.action == "login_failed")
            .values(created_at=datetime(2026, 11, 10, 2, 30, tzinfo=UTC))
        )
        await session.commit()
    ninth = await _trail(client, headers, **{"from": "2026-11-09", "to": "2026-11-09"})
    assert [e["action"] for e in ninth] == ["login_failed"]
    tenth = await _trail(client, headers, **{"from": "2026-11-10", "to": "2026-11-10"})
    assert tenth == []

    for params in (
        {"from": "2026-11-10", "to": "2026-11-01"},
        {"from": "1999-01-01"},
        {"outcome": "quizás"},
        {"q": "x" * 201},
    ):
        response = await client.get("/admin/audit", params=params, headers=headers)
        assert response.status_code == 422, params
        assert response.json()["code"] in {"invalid_range", "invalid_date", "validation_error"}
        assert response.json()["detail"]


async def test_pages_by_keyset_bound_to_the_filters(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin, _supervisor, juan, _luis = await _people(make_user)
    headers = await auth_headers(admin)
    for _ in range(5):
        await client.post("/auth/login", json={"email": juan.email, "password": "mala"})
    first = await client.get(
        "/admin/audit", params={"outcome": "failure", "limit": 2}, headers=headers
    )
    ids = [e["id"] for e in first.json()["items"]]
    cursor = first.json()["next_cursor"]
    while cursor:
        page = await client.get(
            "/admin/audit",
            params={"outcome": "failure", "limit": 2, "cursor": cursor},
            headers=headers,
        )
        ids += [e["id"] for e in page.json()["items"]]
        cursor = page.json()["next_cursor"]
    assert len(ids) == len(set(ids)) == 5
    other_filter = await client.get(
        "/admin/audit",
        params={"outcome": "success", "cursor": first.json()["next_cursor"]},
        headers=headers,
    )
    assert other_filter.status_code == 422
    assert other_filter.json()["code"] == "invalid_cursor"


async def test_browsing_a_list_is_recorded_once_per_viewer_list_and_filter(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin, supervisor, juan, luis = await _people(make_user)
    conversation = await make_conversation(juan, messages=["uno"])
    headers = await auth_headers(admin)
    sup_headers = await auth_headers(supervisor)
    for _ in range(3):
        await client.get("/admin/conversations", params={"user_id": str(juan.id)}, headers=headers)
    await client.get("/admin/conversations", params={"user_id": str(luis.id)}, headers=headers)
    await client.get("/admin/conversations", params={"user_id": str(juan.id)}, headers=sup_headers)
    listed = await audit_events(sessionmaker, "conversations.listed")
    assert sorted((e.actor_id == admin.id, e.target_id) for e in listed) == sorted(
        [(True, str(juan.id)), (True, str(luis.id)), (False, str(juan.id))]
    )

    for _ in range(3):
        await _trail(client, headers, outcome="failure")
    await _trail(client, headers, outcome="success")
    assert len(await audit_events(sessionmaker, "audit.listed")) == 2

    # Message views are always recorded, however often.
    for _ in range(3):
        await client.get(f"/admin/conversations/{conversation.id}/messages", headers=headers)
    assert len(await audit_events(sessionmaker, "conversation.viewed")) == 3

    # Ten minutes later the same list is recorded again.
    await _age_events(sessionmaker, 11)
    await client.get("/admin/conversations", params={"user_id": str(juan.id)}, headers=headers)
    await _trail(client, headers, outcome="failure")
    assert len(await audit_events(sessionmaker, "conversations.listed")) == 4
    assert len(await audit_events(sessionmaker, "audit.listed")) == 3
    labels = {e["label"] for e in await _trail(client, headers, action="conversations.listed")}
    assert "Revisó la lista de conversaciones de Juan Pérez" in labels


async def test_csv_export_parses_back_and_is_audited(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin, _supervisor, juan, _luis = await _people(make_user)
    headers = await auth_headers(admin)
    await client.post("/auth/login", json={"email": juan.email, "password": PASSWORD})
    await client.post("/auth/login", json={"email": juan.email, "password": "mala"})
    # A name a spreadsheet would run as a formula is written as text.
    async with sessionmaker() as session:
        await session.execute(
            update(User).where(User.id == juan.id).values(full_name="=HYPERLINK(1) Pérez")
        )
        await session.commit()

    response = await client.get("/admin/audit/export.csv", params={"q": "juan"}, headers=headers)
    rows = _parse_csv(response)
    assert [r["Código"] for r in rows] == ["login_failed", "login"]
    login = rows[1]
    assert login["Acción"] == "Inició sesión"
    assert login["Persona"] == "'=HYPERLINK(1) Pérez"
    assert login["Correo"] == juan.email
    assert login["Resultado"] == "Exitosa" and rows[0]["Resultado"] == "Fallida"
    assert re.fullmatch(r"\d{2}-\d{2}-\d{4} \d{2}:\d{2}", login["Fecha"])
    stored = (await audit_events(sessionmaker, "login"))[0].created_at
    local = stored.astimezone(ZoneInfo("America/Santiago"))
    assert login["Fecha"] == local.strftime("%d-%m-%Y %H:%M")  # day first, Santiago's clock

    exported = await audit_events(sessionmaker, "audit.exported")
    assert len(exported) == 1
    assert exported[0].actor_id == admin.id
    assert exported[0].details == {
        "filters": {
            "q": "juan",
            "actor_id": None,
            "action": None,
            "from_date": None,
            "to_date": None,
            "outcome": None,
        },
        "rows": 2,
    }
    trail = await _trail(client, headers, action="audit.exported")
    assert trail[0]["label"] == "Exportó la auditoría (2 eventos)"


async def test_supervisors_see_only_events_about_their_scope(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    admin, supervisor, juan, _luis = await _people(make_user)
    other_admin = await make_user("admin", full_name="Otro Admin")
    conversation = await make_conversation(juan, "Informe", messages=["hola"])
    headers = await auth_headers(admin)
    sup_headers = await auth_headers(supervisor)
    await client.post("/auth/login", json={"email": juan.email, "password": PASSWORD})
    await client.post("/auth/login", json={"email": admin.email, "password": PASSWORD})
    # An admin acting on a worker (in scope through the object) and on another admin (not).
    await client.get(f"/admin/conversations/{conversation.id}/messages", headers=headers)
    await client.patch(f"/admin/users/{other_admin.id}", json={"is_active": False}, headers=headers)

    seen = await _trail(client, sup_headers)
    pairs = {(e["action"], e["actor_name"]) for e in seen}
    assert ("login", "Juan Pérez") in pairs
    assert ("conversation.viewed", "Ana Admin") in pairs
    assert ("login", "Ana Admin") not in pairs
    assert all(e["action"] != "user.deactivated" for e in seen)
    everything = await _trail(client, headers)
    assert ("login", "Ana Admin") in {(e["action"], e["actor_name"]) for e in everything}
    assert any(e["action"] == "user.deactivated" for e in everything)

    # The export applies the same scope, and so does the person filter.
    rows = _parse_csv(await client.get("/admin/audit/export.csv", headers=sup_headers))
    assert {r["Persona"] for r in rows} <= {"Juan Pérez", "Ana Admin", "Sara Supervisora"}
    assert all(r["Código"] != "user.deactivated" for r in rows)
    assert not any(r["Persona"] == "Ana Admin" and r["Código"] == "login" for r in rows)
    assert await _trail(client, sup_headers, q="Otro Admin") == []


async def test_a_demoted_admins_past_acts_on_what_is_out_of_scope_stay_hidden(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    """An admin demoted to worker is in a supervisor's scope from then on, and so were all of
    its events as an admin: the supervisor read "Vio la conversación «Despidos 2027» de Gerente
    General", the title and owner of a conversation it gets 404 for. An event about a user, a
    conversation or an API key out of scope stays hidden whoever its actor is now."""
    admin, supervisor, juan, _luis = await _people(make_user)
    boss = await make_user("admin", full_name="Gerente General")
    secret = await make_conversation(boss, "Despidos 2027", messages=["hola"])
    ours = await make_conversation(juan, "Informe", messages=["hola"])
    former = await make_user("admin", full_name="Ex Admin")
    former_headers = await auth_headers(former)
    for conversation in (secret, ours):
        url = f"/admin/conversations/{conversation.id}/messages"
        assert (await client.get(url, headers=former_headers)).status_code == 200
    users = "/admin/users"
    listed = await client.get(
        "/admin/conversations", params={"user_id": str(boss.id)}, headers=former_headers
    )
    assert listed.status_code == 200
    await client.patch(f"{users}/{boss.id}", json={"require_2fa": True}, headers=former_headers)
    await client.patch(
        f"{users}/{former.id}", json={"role": "trabajador"}, headers=await auth_headers(admin)
    )

    sup_headers = await auth_headers(supervisor)
    seen = await _trail(client, sup_headers, actor_id=str(former.id))
    assert {(e["action"], e["target_id"]) for e in seen} == {
        ("conversation.viewed", str(ours.id)),  # a worker's: in scope through the object
    }
    assert all("Despidos" not in e["label"] and "Gerente" not in e["label"] for e in seen)
    assert (
        await client.get(f"/admin/conversations/{secret.id}", headers=sup_headers)
    ).status_code == 404
    # The demotion itself is about a user now in scope.
    demoted = await _trail(client, sup_headers, action="user.role_changed")
    assert [e["target_id"] for e in demoted] == [str(former.id)]
    # An admin still sees all of it.
    everything = await _trail(client, await auth_headers(admin), actor_id=str(former.id))
    actions = {e["action"] for e in everything}
    assert actions >= {"conversation.viewed", "conversations.listed", "user.2fa_required"}


async def test_usage_csv_per_user_and_santiago_day_within_scope(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin, supervisor, juan, luis = await _people(make_user)
    juans = await make_conversation(juan, messages=["p", "r", "p", "r"], tokens=(100, 50))
    await make_conversation(luis, messages=["p", "r"], tokens=(10, 5))
    await make_conversation(admin, messages=["p", "r"], tokens=(1000, 500))
    # Juan's first exchange at 02:30 UTC on 10-10-2026: 09-10-2026 in Santiago (UTC-3).
    first, later = datetime(2026, 10, 10, 2, 30, tzinfo=UTC), datetime(2026, 10, 10, 15, tzinfo=UTC)
    await move_messages(sessionmaker, juans, first, first, later)

    params = {"from": "2026-10-01", "to": "2026-10-31"}
    as_admin = _parse_csv(
        await client.get(
            "/admin/usage/export.csv", params=params, headers=await auth_headers(admin)
        )
    )
    assert [(r["Día"], r["Nombre"], r["Respuestas"], r["Tokens en total"]) for r in as_admin] == [
        ("09-10-2026", "Juan Pérez", "1", "150"),
        ("10-10-2026", "Juan Pérez", "1", "150"),
    ]
    assert as_admin[0]["Correo"] == juan.email
    assert (as_admin[0]["Tokens de entrada"], as_admin[0]["Tokens generados"]) == ("100", "50")
    by_day = await client.get(
        "/admin/usage", params={**params, "group_by": "day"}, headers=await auth_headers(admin)
    )
    assert [(i["day"], i["answers"]) for i in by_day.json()["items"]] == [
        ("2026-10-09", 1),
        ("2026-10-10", 1),
    ]

    sup_headers = await auth_headers(supervisor)
    recent = _parse_csv(await client.get("/admin/usage/export.csv", headers=sup_headers))
    # The last 30 days by default, and not the admin's usage.
    assert {r["Nombre"] for r in recent} == {"Luis Soto"}
    assert _parse_csv(
        await client.get("/admin/usage/export.csv", headers=await auth_headers(admin))
    )
    exported = await audit_events(sessionmaker, "usage.exported")
    assert [e.actor_id for e in exported] == [admin.id, supervisor.id, admin.id]
    reversed_range = await client.get(
        "/admin/usage/export.csv",
        params={"from": "2026-11-30", "to": "2026-11-01"},
        headers=sup_headers,
    )
    assert reversed_range.status_code == 422
    assert reversed_range.json()["code"] == "invalid_range"


async def test_conversation_heading_names_its_owner_in_scope(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin, supervisor, juan, _luis = await _people(make_user)
    theirs = await make_conversation(juan, "Presupuesto mantención")
    admins = await make_conversation(admin, "Privada de admin")
    sup_headers = await auth_headers(supervisor)
    found = await client.get(f"/admin/conversations/{theirs.id}", headers=sup_headers)
    assert found.status_code == 200
    assert (found.json()["owner_full_name"], found.json()["owner_email"]) == (
        "Juan Pérez",
        juan.email,
    )
    assert found.json()["title"] == "Presupuesto mantención"
    hidden = await client.get(f"/admin/conversations/{admins.id}", headers=sup_headers)
    assert hidden.status_code == 404 and hidden.json()["code"] == "not_found"
    # Reading the heading reads no message: nothing is recorded.
    assert await audit_events(sessionmaker, "conversation.viewed") == []


async def test_last_login_is_null_until_the_first_sign_in(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin, _supervisor, juan, luis = await _people(make_user)
    headers = await auth_headers(admin)
    ok = await client.post("/auth/login", json={"email": juan.email, "password": PASSWORD})
    assert ok.status_code == 200
    users = {
        u["id"]: u for u in (await client.get("/admin/users", headers=headers)).json()["items"]
    }
    assert users[str(luis.id)]["last_login_at"] is None
    assert users[str(juan.id)]["last_login_at"] is not None


async def test_exports_are_rate_limited_per_person(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin, supervisor, _juan, _luis = await _people(make_user)
    headers = await auth_headers(admin)
    for i in range(10):
        url = "/admin/audit/export.csv" if i % 2 else "/admin/usage/export.csv"
        assert (await client.get(url, headers=headers)).status_code == 200
    refused = await client.get("/admin/audit/export.csv", headers=headers)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert "Espere" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) >= 1
    # Someone else still may.
    other = await client.get("/admin/usage/export.csv", headers=await auth_headers(supervisor))
    assert other.status_code == 200
