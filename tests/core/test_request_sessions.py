"""Which requests run in a transaction: writes do, safe methods and ``NoTransaction`` routes
run statement by statement (two round trips fewer per request)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from energyapp.db import NoTransaction, SessionDep


@pytest.fixture
def probed(app: FastAPI) -> FastAPI:
    async def isolation(session: SessionDep) -> dict[str, object]:
        connection = await session.connection()
        sync = connection.sync_connection
        assert sync is not None
        return {"isolation": sync.get_execution_options().get("isolation_level")}

    app.router.add_api_route("/_probe", isolation, methods=["GET", "POST"])
    app.router.add_api_route(
        "/_probe/reads", isolation, methods=["POST"], dependencies=[NoTransaction]
    )
    return app


async def test_safe_methods_and_marked_routes_run_without_a_transaction(
    probed: FastAPI, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/_probe")).json() == {"isolation": "AUTOCOMMIT"}
    assert (await client.post("/_probe/reads")).json() == {"isolation": "AUTOCOMMIT"}
    assert (await client.post("/_probe")).json() == {"isolation": None}  # the engine's default


async def test_chat_route_is_marked() -> None:
    from energyapp.chat.router import router

    chat = next(r for r in router.routes if getattr(r, "path", None) == "/chat")
    assert NoTransaction in chat.dependencies  # type: ignore[attr-defined]
