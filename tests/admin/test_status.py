"""GET /admin/status, the admins' "Estado" tab: the model servers (a dead one said quickly),
the answers being written and waiting with their people and places, today's answers."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.admin.status import SERVER_WAIT_SECONDS
from energyapp.auth.models import User
from energyapp.conversations.models import Conversation, Message
from energyapp.db import utcnow
from energyapp.llm.fake_server import FakeOllama
from energyapp.usage.models import UsageEvent
from tests.chat.conftest import LiveApp, open_chat, read_until
from tests.conftest import TEST_BROKER, HeadersFactory, UserFactory


async def test_only_admins_see_the_status(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    for role in ("supervisor", "trabajador"):
        headers = await auth_headers(await make_user(role))
        response = await client.get("/admin/status", headers=headers)
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"
    assert (await client.get("/admin/status")).status_code == 401
    admin = await auth_headers(await make_user("admin"))
    assert (await client.get("/admin/status", headers=admin)).status_code == 200


@contextlib.asynccontextmanager
async def _silent_server() -> AsyncIterator[str]:
    """A server that accepts connections and never answers (a hung Ollama)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()


DEAD_WITH_PASSWORD = "http://ana:s3cr3t@127.0.0.1:9"


async def test_a_dead_and_a_hung_server_are_said_within_two_seconds(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    admin = await auth_headers(await make_user("admin"))
    async with (
        _silent_server() as hung,
        live_app(ollama_urls=[fake[0], hung, DEAD_WITH_PASSWORD], num_ctx=8192) as (base, _),
    ):
        assert (await http.get(f"{base}/auth/me", headers=admin)).status_code == 200
        started = time.perf_counter()
        response = await http.get(f"{base}/admin/status", headers=admin)
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    # Each server gets SERVER_WAIT_SECONDS (1 s), all at once; the rest is the app's own work,
    # slower on a machine busy with other tests. A hung server without the bound: no answer.
    assert elapsed < 1 + SERVER_WAIT_SECONDS + 1, elapsed
    stand_in, silent, dead = response.json()["servers"]
    assert stand_in["reachable"] and stand_in["stand_in"] and stand_in["version"]
    assert stand_in["num_ctx"] == 8192 and stand_in["slots"] == 1
    assert isinstance(stand_in["loaded"], list)
    for server in (silent, dead):
        assert not server["reachable"] and not server["stand_in"] and server["loaded"] is None
    # A URL's password (basic auth in front of an Ollama) is never shown.
    assert (silent["url"], dead["url"]) == (hung, "http://ana:[redactado]@127.0.0.1:9")
    assert "s3cr3t" not in response.text
    body = response.json()
    assert body["database"] == "ok"
    assert body["redis"] == ("ok" if TEST_BROKER == "redis" else None)


async def test_a_running_and_a_waiting_answer_with_their_people(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    """One slot, a slow model: Ana's answer is written while Beto's waits first in line. The
    status names both (name, e-mail, role, kind, place) and never what they asked."""
    fake[1].config.tokens_per_second = 4
    fake[1].config.answer_tokens = 200
    ana = await make_user(full_name="Ana Araya", email="ana@alvaradomazzei.cl")
    beto = await make_user("supervisor", full_name="Beto Bravo", email="beto@alvaradomazzei.cl")
    admin = await auth_headers(await make_user("admin"))
    secret = f"Pregunta confidencial {uuid.uuid4().hex}"
    async with live_app(ollama_max_parallel=1) as (base, _):
        first, first_events = await open_chat(http, base, await auth_headers(ana), message=secret)
        await read_until(first_events, events := [], "token")
        second, second_events = await open_chat(http, base, await auth_headers(beto))
        await read_until(second_events, events2 := [], "queue")
        await asyncio.sleep(1.1)
        response = await http.get(f"{base}/admin/status", headers=admin)
        await first.aclose()
        await second.aclose()
    assert response.status_code == 200, response.text
    assert secret not in response.text and "Hola" not in response.text
    queue = response.json()["queue"]
    assert queue["available"]
    assert queue["broker"] == ("redis" if TEST_BROKER == "redis" else "local")
    (running,) = queue["running"]
    (waiting,) = queue["waiting"]
    assert _person(running) == ("Ana Araya", "ana@alvaradomazzei.cl", "trabajador", "chat")
    assert (running["state"], running["position"]) == ("writing", None)
    assert _person(waiting) == ("Beto Bravo", "beto@alvaradomazzei.cl", "supervisor", "chat")
    assert (waiting["state"], waiting["position"]) == ("waiting", 1)
    assert waiting["seconds"] >= 1 and queue["longest_wait_seconds"] >= 1
    assert queue["estimated_wait_seconds"] is None  # no answer measured yet
    (server,) = response.json()["servers"]
    assert [m["name"] for m in server["loaded"]] == [fake[1].config.models[0]]
    del events, events2


def _person(work: dict[str, Any]) -> tuple[str, str, str, str]:
    return work["full_name"], work["email"], work["role"], work["kind"]


async def test_an_idle_queue_and_a_free_slot(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin = await auth_headers(await make_user("admin"))
    queue = (await client.get("/admin/status", headers=admin)).json()["queue"]
    assert queue["running"] == [] and queue["waiting"] == []
    assert queue["longest_wait_seconds"] is None and queue["estimated_wait_seconds"] == 0


async def _answers(
    sessionmaker: async_sessionmaker[AsyncSession],
    user: User,
    rows: list[tuple[str, str | None, int | None]],
    *,
    days_ago: int = 0,
) -> list[uuid.UUID]:
    """Answers (status, finish_reason, first_token_ms) in one conversation of ``user``."""
    moment = utcnow() - timedelta(days=days_ago)
    async with sessionmaker() as session:
        conversation = Conversation(user_id=user.id, title="Hoy", message_count=len(rows))
        session.add(conversation)
        await session.flush()
        answers = [
            Message(
                conversation_id=conversation.id,
                user_id=user.id,
                role="assistant",
                content="texto",
                status=status,
                finish_reason=finish_reason,
                first_token_ms=first_token_ms,
                created_at=moment,
            )
            for status, finish_reason, first_token_ms in rows
        ]
        session.add_all(answers)
        await session.commit()
        return [answer.id for answer in answers]


async def test_todays_answers_by_how_they_ended(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    worker = await make_user()
    rows: list[tuple[str, str | None, int | None]] = [
        ("complete", "stop", ms)
        for ms in range(100, 2000, 100)  # 19 answers
    ]
    rows += [("complete", "length", 5000), ("error", None, None), ("interrupted", None, 300)]
    rows += [("stopped", None, 200), ("streaming", None, None)]
    await _answers(sessionmaker, worker, rows)
    await _answers(sessionmaker, worker, [("complete", "stop", 9), ("error", None, 9)], days_ago=2)
    # API answers kept with store: true are messages too; "Hoy" counts the web chat's alone.
    key = await client.post(
        "/api-keys", json={"name": "Script"}, headers=await auth_headers(worker)
    )
    stored = await _answers(sessionmaker, worker, [("complete", "stop", 7), ("error", None, None)])
    async with sessionmaker.begin() as session:
        for message_id in stored:
            session.add(
                UsageEvent(
                    source="api",
                    key_id=uuid.UUID(key.json()["id"]),
                    user_id=worker.id,
                    model="qwen2.5:3b-instruct",
                    status="complete",
                    message_id=message_id,
                )
            )
    admin = await auth_headers(await make_user("admin"))
    today = (await client.get("/admin/status", headers=admin)).json()["today"]
    assert (today["finished"], today["failed"], today["stopped"], today["cut"]) == (20, 2, 1, 1)
    waits = [*range(100, 2000, 100), 5000, 300, 200]  # 22 measured
    assert today["avg_first_token_ms"] == round(sum(waits) / len(waits), 1)
    assert today["p95_first_token_ms"] == sorted(waits)[20]  # nearest rank: ceil(0.95 * 22)


async def test_an_api_answer_waits_under_its_own_kind(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    """The OpenAI-compatible API's answers go through the same queue: one waiting behind a web
    answer is listed as ``api``, first in line, with its key's owner."""
    fake[1].config.tokens_per_second = 4
    fake[1].config.answer_tokens = 200
    ana = await auth_headers(await make_user(full_name="Ana Araya"))
    carla = await auth_headers(await make_user(full_name="Carla Cortés"))
    admin = await auth_headers(await make_user("admin"))
    async with live_app(ollama_max_parallel=1) as (base, _):
        created = await http.post(f"{base}/api-keys", json={"name": "Script"}, headers=carla)
        key = created.json()["key"]
        first, first_events = await open_chat(http, base, ana)
        await read_until(first_events, [], "token")
        body = {"model": "qwen2.5:3b-instruct", "messages": [{"role": "user", "content": "Hola"}]}
        waiting = asyncio.create_task(
            http.post(
                f"{base}/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
        )
        queue: dict[str, Any] = {}
        for _ in range(50):  # until the API's request has joined the queue
            await asyncio.sleep(0.1)
            queue = (await http.get(f"{base}/admin/status", headers=admin)).json()["queue"]
            if queue["waiting"]:
                break
        await first.aclose()
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
    (api,) = queue["waiting"]
    assert (api["full_name"], api["kind"], api["position"]) == ("Carla Cortés", "api", 1)
    assert [w["kind"] for w in queue["running"]] == ["chat"]
