from __future__ import annotations

import json
import logging
import re

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations import service
from energyapp.conversations.models import Conversation
from energyapp.errors import ERROR_RESPONSES, AppError
from energyapp.logging import JsonFormatter


async def test_health_ok_with_db_and_no_ollama(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["db"] == "ok"
    assert body["ollama"] == "unavailable"
    assert body["status"] == "degraded"
    assert body["version"]


async def test_health_503_when_db_down(client: httpx.AsyncClient, app: object) -> None:
    from energyapp.db import create_engine

    app.state.engine = create_engine("postgresql://nobody@127.0.0.1:1/none")  # type: ignore[attr-defined]
    response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["db"] == "error"


async def test_root_redirects_to_ui(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code in (302, 307)
    assert response.headers["location"] == "/static/index.html"
    page = await client.get("/static/index.html")
    assert page.status_code == 200
    assert "EnergyApp" in page.text


async def test_unknown_route_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-existe")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "No se encontró el recurso solicitado.",
        "code": "not_found",
    }


async def test_request_id_and_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abc123"})
    assert response.headers["x-request-id"] == "abc123"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    "sent", ['a" "remote_ip":"10.0.0.9', "dos palabras", "x" * 65, "ñandú", "a\tb"]
)
async def test_a_request_id_that_is_no_id_is_replaced(client: httpx.AsyncClient, sent: str) -> None:
    """Only an id-like X-Request-ID (letters, digits, . _ : -, up to 64) is the client's; any
    other gets one of the app's, so the logs hold no quotes, spaces or look-alike fields."""
    response = await client.get("/health", headers={"X-Request-ID": sent.encode()})
    assert re.fullmatch(r"[0-9a-f]{16}", response.headers["x-request-id"]), response.headers
    kept = await client.get("/health", headers={"X-Request-ID": "web-2026.12.05:0a1B"})
    assert kept.headers["x-request-id"] == "web-2026.12.05:0a1B"


async def test_oversized_body_is_refused_before_reading(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", content=b"x" * 2_000_000)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_openapi_describes_the_api(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert "/health" in schema["paths"]
    # The documentation reads in this order, whatever order the routes are matched in.
    tags = [
        "service",
        "auth",
        "conversations",
        "chat",
        "prompts",
        "folders",
        "admin",
        "announcements",
        "api-keys",
        "openai",
    ]
    assert [tag["name"] for tag in schema["tags"]] == tags
    used = {tag for path in schema["paths"].values() for op in path.values() for tag in op["tags"]}
    assert used == set(tags)  # every group of endpoints has its place


async def test_every_error_the_api_raises_is_documented(client: httpx.AsyncClient) -> None:
    """Each status of the app's error classes is in the OpenAPI responses of the routes (409,
    e.g. a user's key limit on ``POST /api-keys``, was once left out: a schema-conformance fuzz
    run found it)."""

    def kinds(cls: type[AppError]) -> list[type[AppError]]:
        return [cls, *(k for sub in cls.__subclasses__() for k in kinds(sub))]

    raised = {kind.status_code for kind in kinds(AppError)[1:]}
    assert raised <= set(ERROR_RESPONSES)
    schema = (await client.get("/openapi.json")).json()
    documented = schema["paths"]["/api-keys"]["post"]["responses"]
    assert {str(status) for status in raised} <= set(documented)
    assert documented["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }


async def test_metrics_exposes_request_counters(client: httpx.AsyncClient) -> None:
    await client.get("/health")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert 'energyapp_http_requests_total{method="GET",route="/health"' in response.text


def test_json_logs_redact_secrets() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "login password=hunter2", None, None)
    record.refresh_token = "abc.def"
    record.headers = {"Authorization": "Bearer eyJabc", "accept": "json"}
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert "hunter2" not in line and "abc.def" not in line and "eyJabc" not in line
    assert data["headers"]["accept"] == "json"


@pytest.mark.no_database
def test_log_lines_carry_no_terminal_colour_codes() -> None:
    # uvicorn logs "Started server process [%d]" with a ``color_message`` extra holding ANSI
    # escapes: a JSON line for journald or a log shipper must not carry them.
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started %d", (7,), None)
    record.color_message = "Started \x1b[36m%d\x1b[0m"
    line = JsonFormatter().format(record)
    assert "color_message" not in line and "\\u001b" not in line
    assert json.loads(line)["msg"] == "Started 7"


@pytest.mark.postgres_only
async def test_postgres_uses_spanish_fts_index(engine: object) -> None:
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        rows = await conn.execute(
            text("SELECT indexname FROM pg_indexes WHERE tablename = 'messages'")
        )
        names = {r[0] for r in rows}
    assert "ix_messages_content_fts" in names


@pytest.mark.postgres_only
async def test_conversation_search_uses_the_folded_fts_indexes(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # The search's expressions must be the indexes' own (migrations 0001 and 0012): were the
    # folding table or the query to drift from them, every search would read every message.
    async with sessionmaker() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        stmt = select(Conversation.id).where(service.search_condition(session, "Información"))
        sql = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = "\n".join(str(row[0]) for row in await session.execute(text(f"EXPLAIN {sql}")))
    # (A title is checked on the caller's few conversations, read through their own index.)
    assert "ix_messages_content_fts" in plan, plan
    assert "ix_messages_content_folded_fts" in plan, plan
