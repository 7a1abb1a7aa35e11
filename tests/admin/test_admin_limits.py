"""Limits on what staff send to the admin panel: its searches count against the per-person
search limit, plain paging does not."""

from __future__ import annotations

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from energyapp.config import Settings
from energyapp.main import create_app
from tests.conftest import HeadersFactory, UserFactory, make_settings

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
