"""Every request runs in one transaction that the session dependency commits or rolls back:
a GET that reads twice sees one snapshot, and a failed request leaves nothing half-written."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from energyapp.auth.models import User
from energyapp.db import SessionDep
from energyapp.errors import Conflict
from tests.conftest import UserFactory


@pytest.fixture
def probed(app: FastAPI) -> FastAPI:
    async def in_transaction(session: SessionDep) -> dict[str, object]:
        first = await session.scalar(select(func.count()).select_from(User))
        return {"in_transaction": session.in_transaction(), "users": first}

    async def write_then_fail(session: SessionDep) -> None:
        session.add(User(email="medio@alvaradomazzei.cl", full_name="A medias", password_hash="x"))
        await session.flush()
        raise Conflict("Falla a propósito.", code="probe_failed")

    app.router.add_api_route("/_probe", in_transaction, methods=["GET", "POST"])
    app.router.add_api_route("/_probe/fail", write_then_fail, methods=["POST"])
    return app


async def test_reads_and_writes_run_in_a_transaction(
    probed: FastAPI, client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user()
    for method in ("GET", "POST"):
        response = await client.request(method, "/_probe")
        assert response.json() == {"in_transaction": True, "users": 1}


async def test_a_failed_request_is_rolled_back(probed: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.post("/_probe/fail")
    assert response.status_code == 409 and response.json()["code"] == "probe_failed"
    async with probed.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0
