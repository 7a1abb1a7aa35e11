"""Every request runs in one transaction that the session dependency commits or rolls back:
a GET that reads twice sees one snapshot, and a failed request leaves nothing half-written."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from energyapp.auth.models import User
from energyapp.db import SessionDep, after_commit
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

    async def hooked(session: SessionDep, fail: bool = False) -> None:
        def on_commit() -> None:
            calls.append("commit")

        def on_rollback() -> None:
            calls.append("rollback")

        session.add(User(email="gancho@alvaradomazzei.cl", full_name="Gancho", password_hash="x"))
        after_commit(session, on_commit=on_commit, on_rollback=on_rollback)
        await session.flush()
        if fail:
            raise Conflict("Falla a propósito.", code="probe_failed")

    calls: list[str] = []
    app.state.probe_calls = calls
    app.router.add_api_route("/_probe/hooked", hooked, methods=["POST"])
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


async def test_work_after_commit_runs_only_once_the_rows_exist(
    probed: FastAPI, client: httpx.AsyncClient
) -> None:
    """What a request starts after its commit (an answer's generation) runs once its rows are
    committed, and never when the request fails: its clean-up runs instead."""
    assert (await client.post("/_probe/hooked", params={"fail": True})).status_code == 409
    assert probed.state.probe_calls == ["rollback"]
    assert (await client.post("/_probe/hooked")).status_code == 200
    assert probed.state.probe_calls == ["rollback", "commit"]
    async with probed.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 1
