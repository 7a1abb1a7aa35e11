"""The admin's announcements: only admins write them (supervisors and workers 403), the text
is validated as the server counts texts, the window and the limit of open ones hold, and every
change is in the audit trail."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.announcements import service as announcements_service
from energyapp.announcements.models import Announcement
from energyapp.announcements.service import MAX_OPEN
from energyapp.audit.labels import ACTION_NAMES, EventFacts, Names, describe
from energyapp.audit.models import AuditEvent
from energyapp.errors import Conflict
from tests.announcements.conftest import ADMIN_LIST, announce
from tests.conftest import HeadersFactory, UserFactory


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


@pytest.mark.parametrize("role", ["supervisor", "trabajador"])
async def test_only_admins_reach_the_admin_routes(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory, role: str
) -> None:
    admin = await auth_headers(await make_user("admin"))
    made = await announce(client, admin)
    headers = await auth_headers(await make_user(role))
    path = f"{ADMIN_LIST}/{made['id']}"
    for method, url, body in (("GET", ADMIN_LIST, None), ("POST", ADMIN_LIST, {"body": "x"}),
                              ("PATCH", path, {"body": "y"}), ("POST", f"{path}/end", None),
                              ("DELETE", path, None)):  # fmt: skip
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code == 403, (method, url, response.text)
        assert response.json()["code"] == "forbidden"
    listed = (await client.get(ADMIN_LIST, headers=admin)).json()
    assert [(a["body"], a["state"]) for a in listed] == [("Reinicio a las 18:00", "activo")]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("   \n\t ", "announcement_empty"),
        ("x" * 501, "announcement_too_long"),
    ],
)
async def test_text_is_checked_as_the_server_counts_it(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    body: str,
    code: str,
) -> None:
    admin = await auth_headers(await make_user("admin"))
    response = await client.post(ADMIN_LIST, json={"body": body}, headers=admin)
    assert response.status_code == 422 and response.json()["code"] == code, response.text
    # 500 characters after NFC and trimming: "e" + U+0301 is one "é".
    made = await announce(client, admin, "  " + "e\u0301" * 500 + "  ")
    assert made["body"] == "é" * 500
    async with sessionmaker() as session:
        assert await session.scalar(select(Announcement.body)) == "é" * 500


async def test_window_is_checked(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin = await auth_headers(await make_user("admin"))
    start = _iso(timedelta(hours=2))
    before = await client.post(
        ADMIN_LIST,
        json={"body": "Aviso", "starts_at": start, "ends_at": _iso(timedelta(hours=1))},
        headers=admin,
    )
    assert before.status_code == 422 and before.json()["code"] == "ends_before_start"
    past = await client.post(
        ADMIN_LIST, json={"body": "Aviso", "ends_at": _iso(timedelta(minutes=-1))}, headers=admin
    )
    assert past.status_code == 422 and past.json()["code"] == "ends_in_past"
    made = await announce(client, admin, starts_at=start)
    assert made["state"] == "programado"
    patched = await client.patch(
        f"{ADMIN_LIST}/{made['id']}", json={"ends_at": _iso(timedelta(hours=1))}, headers=admin
    )
    assert patched.status_code == 422 and patched.json()["code"] == "ends_before_start"
    # A start sent empty is now, as when creating one: the scheduled one shows at once.
    started = await client.patch(f"{ADMIN_LIST}/{made['id']}", json={"starts_at": None},
                                 headers=admin)  # fmt: skip
    assert started.status_code == 200 and started.json()["state"] == "activo", started.text
    moment = datetime.fromisoformat(started.json()["starts_at"])
    assert abs(moment - datetime.now(UTC)) < timedelta(minutes=1)
    # At the ends of the calendar the shift to UTC overflows: a 422, not a 500.
    for moment in ("9999-12-31T23:59", "0001-01-01T00:00:00+05:00"):
        for response in (
            await client.post(ADMIN_LIST, json={"body": "Aviso", "starts_at": moment},
                              headers=admin),
            await client.patch(f"{ADMIN_LIST}/{made['id']}", json={"ends_at": moment},
                               headers=admin),
        ):  # fmt: skip
            assert response.status_code == 422, (moment, response.text)
            assert response.json()["code"] == "invalid_date"
    # Santiago's clock skips 00:00-00:59 on 6 September 2026 (summer time): refused, not saved
    # an hour later than typed. The hour it repeats (3 April 2027, 23:xx) is its first time.
    skipped = await client.post(ADMIN_LIST, json={"body": "Aviso", "starts_at": "2026-09-06T00:30"},
                                headers=admin)  # fmt: skip
    assert skipped.status_code == 422 and skipped.json()["code"] == "invalid_date", skipped.text
    assert "00:30 del 06-09-2026 no existe" in skipped.json()["detail"]
    twice = await announce(client, admin, starts_at="2027-04-03T23:30")
    assert twice["starts_at"].startswith("2027-04-04T02:30")  # UTC-3, before the clock goes back
    # A time without a zone is Santiago's clock.
    local = await announce(client, admin, starts_at="2099-01-15T18:00")
    assert local["starts_at"].startswith("2099-01-15T21:00")  # UTC-3 in January


async def test_end_now_and_delete(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin = await auth_headers(await make_user("admin"))
    active = await announce(client, admin, "Activo")
    scheduled = await announce(client, admin, "Programado", starts_at=_iso(timedelta(days=1)))
    for made in (active, scheduled):
        ended = await client.post(f"{ADMIN_LIST}/{made['id']}/end", headers=admin)
        assert ended.status_code == 200 and ended.json()["state"] == "terminado", ended.text
        again = await client.post(f"{ADMIN_LIST}/{made['id']}/end", headers=admin)
        assert again.json()["ends_at"] == ended.json()["ends_at"]
    gone = await client.delete(f"{ADMIN_LIST}/{active['id']}", headers=admin)
    assert gone.status_code == 204
    missing = await client.delete(f"{ADMIN_LIST}/{active['id']}", headers=admin)
    assert missing.status_code == 404 and missing.json()["code"] == "announcement_not_found"
    assert [a["body"] for a in (await client.get(ADMIN_LIST, headers=admin)).json()] == [
        "Programado"
    ]


async def test_open_announcements_are_limited(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin_user = await make_user("admin")
    async with sessionmaker() as session:
        session.add_all(
            Announcement(body=f"Aviso {i}", level="info", audience="all") for i in range(MAX_OPEN)
        )
        await session.commit()
    admin = await auth_headers(admin_user)
    refused = await client.post(ADMIN_LIST, json={"body": "Uno más"}, headers=admin)
    assert refused.status_code == 409 and refused.json()["code"] == "too_many_announcements"
    first = (await client.get(ADMIN_LIST, headers=admin)).json()[0]
    await client.post(f"{ADMIN_LIST}/{first['id']}/end", headers=admin)
    await announce(client, admin, "Uno más")
    # Reopening the ended one (its end moved ahead, or removed) counts like creating one.
    path = f"{ADMIN_LIST}/{first['id']}"
    for reopen in ({"ends_at": None}, {"ends_at": _iso(timedelta(hours=1))}):
        refused = await client.patch(path, json=reopen, headers=admin)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "too_many_announcements"
    # Its text can still change, and it stays ended.
    edited = await client.patch(path, json={"body": "Corregido"}, headers=admin)
    assert edited.status_code == 200 and edited.json()["state"] == "terminado", edited.text
    async with sessionmaker() as session:
        assert await session.scalar(select(Announcement.body).where(
            Announcement.body == "Corregido", Announcement.ends_at.is_(None))) is None  # fmt: skip
    await client.delete(path, headers=admin)
    last = (await client.get(ADMIN_LIST, headers=admin)).json()[0]
    await client.post(f"{ADMIN_LIST}/{last['id']}/end", headers=admin)
    reopened = await client.patch(f"{ADMIN_LIST}/{last['id']}", json={"ends_at": None},
                                  headers=admin)  # fmt: skip
    assert reopened.status_code == 200 and reopened.json()["state"] == "activo", reopened.text


async def test_changes_are_audited(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin_user = await make_user("admin")
    admin = await auth_headers(admin_user)
    made = await announce(client, admin, level="warning", audience="trabajador")
    path = f"{ADMIN_LIST}/{made['id']}"
    await client.patch(path, json={"body": "Reinicio a las 19:00"}, headers=admin)
    await client.patch(path, json={"body": "Reinicio a las 19:00"}, headers=admin)  # no change
    await client.post(f"{path}/end", headers=admin)
    await client.delete(path, headers=admin)
    async with sessionmaker() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.like("announcement.%"))
                .order_by(AuditEvent.created_at, AuditEvent.id)
            )
        ).all()
    assert [(e.action, e.actor_id, e.target_id) for e in events] == [
        (action, admin_user.id, made["id"])
        for action in ("announcement.created", "announcement.updated", "announcement.ended",
                       "announcement.deleted")
    ]  # fmt: skip
    assert events[0].details == {
        "body": "Reinicio a las 18:00", "level": "warning", "audience": "trabajador"
    }  # fmt: skip
    assert events[1].details == {"body": "Reinicio a las 19:00", "changed": ["body"]}
    facts = EventFacts(events[3].action, "announcement", made["id"], events[3].details or {})
    assert describe(facts, Names()) == "Eliminó el aviso general «Reinicio a las 19:00»"
    assert all(e.action in ACTION_NAMES for e in events)


async def test_two_admins_announcing_at_once_never_pass_the_limit(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Both counted 19 open, both created one: 21. The second now waits for the first's
    transaction, then counts 20."""
    async with sessionmaker() as session:
        session.add_all(
            Announcement(body=f"Aviso {i}", level="info", audience="all")
            for i in range(MAX_OPEN - 1)
        )
        await session.commit()
    async with sessionmaker() as one, sessionmaker() as other:
        await announcements_service.create(one, None, body="El vigésimo")
        # The second admin's transaction started before the first one committed its row.
        late = asyncio.create_task(announcements_service.create(other, None, body="Otro"))
        await asyncio.sleep(0.3)
        await one.commit()
        with pytest.raises(Conflict) as refused:
            await asyncio.wait_for(late, timeout=15)
        assert refused.value.code == "too_many_announcements"
        await other.rollback()
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Announcement)) == MAX_OPEN
