"""What everyone signed in sees: the active announcements for their role, not the scheduled
nor the ended ones, warnings first; closing one holds on every device of that person only,
and a new text or level shows it again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.announcements.models import Announcement
from tests.announcements.conftest import ADMIN_LIST, MINE, announce, shown
from tests.conftest import HeadersFactory, UserFactory


async def test_audience_and_window(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin = await auth_headers(await make_user("admin"))
    worker = await auth_headers(await make_user("trabajador"))
    supervisor = await auth_headers(await make_user("supervisor"))
    await announce(client, admin, "Para todos")
    await announce(client, admin, "Para trabajadores", audience="trabajador")
    await announce(client, admin, "Para supervisores", audience="supervisor", level="warning")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    await announce(client, admin, "Más tarde", starts_at=later)
    now = datetime.now(UTC)
    async with sessionmaker() as session:
        session.add(
            Announcement(body="Terminado", level="warning", audience="all",
                         starts_at=now - timedelta(hours=2), ends_at=now - timedelta(hours=1))
        )  # fmt: skip
        await session.commit()
    assert await shown(client, worker) == ["Para trabajadores", "Para todos"]
    assert await shown(client, supervisor) == ["Para supervisores", "Para todos"]
    assert await shown(client, admin) == ["Para todos"]
    unauthenticated = await client.get(MINE)
    assert unauthenticated.status_code == 401


async def test_warnings_first_then_newest(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin = await auth_headers(await make_user("admin"))
    worker = await auth_headers(await make_user("trabajador"))
    hour = timedelta(hours=1)
    await announce(client, admin, "Info antigua", starts_at=(datetime.now(UTC) - hour).isoformat())
    await announce(client, admin, "Info nueva")
    await announce(client, admin, "Importante", level="warning",
                   starts_at=(datetime.now(UTC) - 2 * hour).isoformat())  # fmt: skip
    assert await shown(client, worker) == ["Importante", "Info nueva", "Info antigua"]
    item = (await client.get(MINE, headers=worker)).json()[0]
    assert set(item) == {"id", "body", "level", "starts_at", "ends_at"}


async def test_dismissal_holds_on_every_device_of_that_person(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin = await auth_headers(await make_user("admin"))
    ana = await make_user("trabajador")
    phone, laptop = await auth_headers(ana), await auth_headers(ana)
    other = await auth_headers(await make_user("trabajador"))
    made = await announce(client, admin)
    for _ in range(2):  # idempotent
        closed = await client.post(f"{MINE}/{made['id']}/dismiss", headers=phone)
        assert closed.status_code == 204, closed.text
    assert await shown(client, laptop) == []
    assert await shown(client, other) == ["Reinicio a las 18:00"]
    # A new audience or window does not bring it back; a new text or level does.
    path = f"{ADMIN_LIST}/{made['id']}"
    await client.patch(path, json={"audience": "trabajador"}, headers=admin)
    assert await shown(client, laptop) == []
    await client.patch(path, json={"level": "warning"}, headers=admin)
    assert await shown(client, laptop) == ["Reinicio a las 18:00"]
    await client.post(f"{MINE}/{made['id']}/dismiss", headers=laptop)
    await client.patch(path, json={"body": "Reinicio a las 19:00"}, headers=admin)
    assert await shown(client, phone) == ["Reinicio a las 19:00"]


async def test_dismissing_one_not_visible_is_404(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin = await auth_headers(await make_user("admin"))
    worker = await auth_headers(await make_user("trabajador"))
    for_supervisors = await announce(client, admin, audience="supervisor")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = await announce(client, admin, starts_at=later)
    ended = await announce(client, admin)
    await client.post(f"{ADMIN_LIST}/{ended['id']}/end", headers=admin)
    missing = "0190f1a2-0000-7000-8000-000000000000"
    for announcement_id in (for_supervisors["id"], scheduled["id"], ended["id"], missing):
        response = await client.post(f"{MINE}/{announcement_id}/dismiss", headers=worker)
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "announcement_not_found"
