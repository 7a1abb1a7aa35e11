"""Limits on what staff ask of the admin panel: its searches count against the per-person
search limit (plain paging does not), and a CSV export has a row cap."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.admin import audit_views, csv_export, usage
from energyapp.config import Settings
from energyapp.main import create_app
from tests.admin.conftest import audit_events, move_messages
from tests.conftest import HeadersFactory, UserFactory, make_settings
from tests.conversations.conftest import ConversationFactory

SEARCH_LIMIT = 3
# Every route that takes a free-text search (``q``); all of them count against one limit.
SEARCHES = (
    "/admin/users",
    "/admin/audit",
    "/admin/audit/export.csv",
    "/admin/api-keys",
    "/conversations",
)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, search_rate_limit_per_minute=SEARCH_LIMIT)


def _takes_q(dependant: Dependant) -> bool:
    """Whether ``q`` is a query parameter of ``dependant`` or of a dependency, at any depth."""
    pending = [dependant]
    while pending:
        current = pending.pop()
        if any(param.alias == "q" for param in current.query_params):
            return True
        pending.extend(current.dependencies)
    return False


@pytest.mark.no_database
def test_every_free_text_search_is_known_here() -> None:
    # The admin searches (users, audit trail, API keys) escaped the limit the conversation
    # search had; a new route taking ``q`` must be added above and so checked below.
    app = create_app(make_settings("sqlite:///:memory:"))  # routes only: nothing is started
    searching = {
        context.path
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and _takes_q(context.dependant)
    }
    assert searching == set(SEARCHES)


async def test_admin_searches_are_limited_per_person_and_paging_is_not(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin = await auth_headers(await make_user("admin"))
    for path in ("/admin/users", "/admin/audit", "/admin/api-keys"):
        searched = await client.get(path, params={"q": "ana"}, headers=admin)
        assert searched.status_code == 200, (path, searched.text)
    # Lists without a search (or with a blank one) are paging, not searching: never counted.
    for path in ("/admin/users", "/admin/audit", "/admin/api-keys"):
        for params in ({}, {"q": "  "}, {"limit": 5}):
            listed = await client.get(path, params=params, headers=admin)
            assert listed.status_code == 200, (path, params, listed.text)
    for path in SEARCHES:
        refused = await client.get(path, params={"q": "luis"}, headers=admin)
        assert refused.status_code == 429, (path, refused.text)
        body = refused.json()
        assert body["code"] == "rate_limited"
        assert body["detail"].startswith("Hizo demasiadas búsquedas seguidas. Espere ")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another staff member still searches.
    supervisor = await auth_headers(await make_user("supervisor"))
    other = await client.get("/admin/users", params={"q": "ana"}, headers=supervisor)
    assert other.status_code == 200


async def test_usage_export_refuses_more_rows_than_the_cap(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The usage CSV had no cap: a year of a large company was read and built whole in memory
    # on the event loop, every other request waiting.
    monkeypatch.setattr(csv_export, "MAX_ROWS", 3)
    admin = await auth_headers(await make_user("admin"))
    october = {"from": "2026-10-01", "to": "2026-10-31"}
    # Juan at two hours of one Santiago day is one row (SQLite returns it as two hours).
    days = [
        (datetime(2026, 10, 10, 13, 0, tzinfo=UTC), datetime(2026, 10, 10, 15, 0, tzinfo=UTC)),
        (datetime(2026, 10, 10, 15, 0, tzinfo=UTC),),
        (datetime(2026, 10, 11, 15, 0, tzinfo=UTC),),
    ]
    for moments in days:
        conversation = await make_conversation(await make_user(), messages=["p", "r", "p", "r"])
        await move_messages(sessionmaker, conversation, *moments)
    at_cap = await client.get("/admin/usage/export.csv", params=october, headers=admin)
    assert at_cap.status_code == 200, at_cap.text
    assert len(at_cap.content.decode("utf-8-sig").splitlines()) == 1 + 3

    late = await make_conversation(await make_user(), messages=["p", "r"])
    await move_messages(sessionmaker, late, datetime(2026, 10, 20, 15, 0, tzinfo=UTC))
    refused = await client.get("/admin/usage/export.csv", params=october, headers=admin)
    assert refused.status_code == 422
    assert refused.json() == {
        "detail": "La exportación admite como máximo 3 filas (una por persona y día con "
        "actividad). Acote el rango de fechas.",
        "code": "export_too_large",
    }
    assert len(await audit_events(sessionmaker, "usage.exported")) == 1
    # A shorter range, as the message asks, is served.
    narrowed = {"from": "2026-10-01", "to": "2026-10-15"}
    assert (await client.get("/admin/usage/export.csv", params=narrowed, headers=admin)).is_success


async def test_audit_export_refuses_more_events_than_the_cap(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(csv_export, "MAX_ROWS", 2)
    admin = await auth_headers(await make_user("admin"))
    for _ in range(3):  # three usage.exported events
        assert (await client.get("/admin/usage/export.csv", headers=admin)).is_success
    refused = await client.get("/admin/audit/export.csv", headers=admin)
    assert refused.status_code == 422
    assert refused.json() == {
        "detail": "La exportación admite como máximo 2 eventos. Acote el rango de fechas o "
        "agregue filtros.",
        "code": "export_too_large",
    }
    filtered = {"action": "usage.exported", "q": "nadie"}
    assert (await client.get("/admin/audit/export.csv", params=filtered, headers=admin)).is_success


@pytest.mark.parametrize(
    ("path", "action", "builder"),
    [
        ("/admin/audit/export.csv", "audit.exported", (audit_views, "export_audit")),
        ("/admin/usage/export.csv", "usage.exported", (usage, "usage_by_user_and_day")),
    ],
    ids=["audit", "usage"],
)
async def test_head_of_a_csv_export_neither_builds_nor_counts_nor_audits_it(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    action: str,
    builder: tuple[object, str],
) -> None:
    """A download manager asks HEAD before GET: that probe got the file built, spent one of the
    person's exports (2 a minute here) and left an export in the trail that never happened."""
    monkeypatch.setattr(csv_export, "EXPORTS_PER_MINUTE", 2)
    admin = await auth_headers(await make_user("admin"))
    build = getattr(*builder)

    async def unbuilt(*args: object, **kwargs: object) -> None:
        raise AssertionError("a HEAD built the file")

    monkeypatch.setattr(*builder, unbuilt)
    for _ in range(3):
        head = await client.head(path, headers=admin)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-type"] == "text/csv; charset=utf-8"
        assert head.headers["content-disposition"].endswith('.csv"')
    assert await audit_events(sessionmaker, action) == []
    monkeypatch.setattr(*builder, build)
    got = await client.get(path, headers=admin)
    assert got.status_code == 200, got.text
    assert got.headers["content-disposition"] == head.headers["content-disposition"]
    assert (await client.get(path, headers=admin)).status_code == 200
    # Spent: HEAD answers what GET would, still without counting or auditing.
    spent = await client.head(path, headers=admin)
    assert spent.status_code == 429 and int(spent.headers["retry-after"]) > 0
    assert len(await audit_events(sessionmaker, action)) == 2
