"""Which requests run in a transaction: writes do, safe methods run statement by statement (two
round trips fewer per request), and ``POST /chat`` has no request session at all."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from energyapp.db import SessionDep, get_session


@pytest.fixture
def probed(app: FastAPI) -> FastAPI:
    async def isolation(session: SessionDep) -> dict[str, object]:
        connection = await session.connection()
        sync = connection.sync_connection
        assert sync is not None
        return {"isolation": sync.get_execution_options().get("isolation_level")}

    app.router.add_api_route("/_probe", isolation, methods=["GET", "POST"])
    return app


async def test_safe_methods_run_without_a_transaction(
    probed: FastAPI, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/_probe")).json() == {"isolation": "AUTOCOMMIT"}
    assert (await client.post("/_probe")).json() == {"isolation": None}  # the engine's default


def test_chat_route_has_no_request_session() -> None:
    """``POST /chat`` checks its caller and stores the question on one Core connection in
    autocommit mode (chat.deps.get_chat_caller); a request session would be a second one."""
    from energyapp.chat.deps import get_chat_caller
    from energyapp.chat.router import router

    chat = next(r for r in router.routes if getattr(r, "path", None) == "/chat")
    pending = list(chat.dependant.dependencies)  # type: ignore[attr-defined]
    calls = []
    while pending:
        dependency = pending.pop()
        calls.append(dependency.call)
        pending.extend(dependency.dependencies)
    assert get_chat_caller in calls and get_session not in calls
