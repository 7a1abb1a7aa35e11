"""PostgreSQL restarted while users chat: requests during the outage fail cleanly (503
``db_unavailable``), the app recovers without a restart, and every committed row is there.

Runs against a private PostgreSQL cluster (initdb + pg_ctl on a free port in a temporary
directory) so the shared server other tests use is never touched."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from energyapp.core.migrate import upgrade
from energyapp.llm.fake_server import FakeConfig
from energyapp.main import create_app
from tests.chat.conftest import sse_events
from tests.conftest import make_settings
from tests.llm.stand_in import free_port, serve, stand_in

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]


class Cluster:
    def __init__(self, root: Path) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not binaries:
            pytest.skip("PostgreSQL server binaries not installed")
        self.bin = Path(binaries[-1]).parent
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/energyapp"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_postgres, *args], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.as_postgres:
            shutil.chown(self.root, "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            action,
            *extra,
        )


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = Path(f"/tmp/energyapp-pg-{uuid.uuid4().hex[:8]}")
    pg = Cluster(root)
    pg.init()
    pg.pg_ctl("start")
    try:
        yield pg
    finally:
        subprocess.run(
            [
                *pg.as_postgres,
                str(pg.bin / "pg_ctl"),
                "-D",
                str(pg.data),
                "-m",
                "immediate",
                "stop",
            ],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


async def _prepare(pg: Cluster) -> None:
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{pg.port}/postgres")
    try:
        await conn.execute("CREATE DATABASE energyapp")
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, pg.url)


@pytest.fixture
async def ollama_url() -> AsyncIterator[str]:
    async with stand_in() as (url, _fake):
        yield url


async def test_restart_during_traffic(cluster: Cluster, ollama_url: str) -> None:
    await _prepare(cluster)
    settings = make_settings(
        cluster.url,
        ollama_url=ollama_url,
        chat_rate_limit_per_minute=100_000,
        write_rate_limit_per_minute=100_000,  # traffic, not a person
        max_active_per_user=5,
    )
    app = create_app(settings)
    statuses: list[tuple[str, int, str]] = []
    conversations: set[str] = set()
    questions: set[str] = set()
    stop = asyncio.Event()

    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", timeout=30
        ) as client:
            email = "reinicio@alvaradomazzei.cl"
            password = "Clave-muy-segura-2026"
            document = {"email": email, "password": password, "full_name": "Reinicio"}
            assert (await client.post("/auth/register", json=document)).status_code == 201
            login = await client.post("/auth/login", json={"email": email, "password": password})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

            def record(kind: str, response: httpx.Response) -> None:
                code = ""
                if response.status_code >= 400:
                    body = response.json()
                    code = body["code"]
                    assert set(body) == {"detail", "code"}
                statuses.append((kind, response.status_code, code))

            async def writer() -> None:
                while not stop.is_set():
                    response = await client.post(
                        "/conversations", json={"title": "durante el reinicio"}, headers=headers
                    )
                    record("create", response)
                    if response.status_code == 201:
                        conversations.add(response.json()["id"])
                    await asyncio.sleep(0.01)

            async def reader() -> None:
                while not stop.is_set():
                    record("list", await client.get("/conversations", headers=headers))
                    await asyncio.sleep(0.01)

            async def chatter() -> None:
                while not stop.is_set():
                    response = await client.post("/chat", json={"message": "hola"}, headers=headers)
                    record("chat", response)
                    if response.status_code == 200:
                        for line in response.text.splitlines():
                            if line.startswith("data: ") and "user_message_id" in line:
                                questions.add(json.loads(line[6:])["user_message_id"])
                                break
                    await asyncio.sleep(0.02)

            tasks = [asyncio.create_task(f()) for f in (writer, writer, reader, reader, chatter)]
            await asyncio.sleep(1.0)
            before = len(statuses)
            started = time.monotonic()
            await asyncio.to_thread(cluster.pg_ctl, "restart", "-m", "fast")
            outage = time.monotonic() - started
            during = len(statuses) - before
            recovered_at = len(statuses)
            await asyncio.sleep(2.0)
            stop.set()
            await asyncio.gather(*tasks)
            after = statuses[recovered_at:]

    unexpected = [s for s in statuses if s[1] >= 400 and (s[1], s[2]) != (503, "db_unavailable")]
    assert not unexpected, unexpected[:10]
    assert during > 0 and any(s[1] == 503 for s in statuses), "no request met the outage"
    # Recovered without an app restart: the last requests all succeed.
    assert after and all(s[1] < 400 for s in after[-10:]), after[-10:]
    assert outage < 30

    conn = await asyncpg.connect(cluster.url)
    try:
        stored = {str(r["id"]) for r in await conn.fetch("SELECT id FROM conversations")}
        stored_questions = {
            str(r["id"]) for r in await conn.fetch("SELECT id FROM messages WHERE role = 'user'")
        }
        streaming = await conn.fetchval("SELECT count(*) FROM messages WHERE status = 'streaming'")
    finally:
        await conn.close()
    assert conversations <= stored, conversations - stored
    assert questions <= stored_questions, questions - stored_questions
    # An answer whose final save kept failing through the outage (retried for 7.5 s) stays
    # ``streaming``; the next start's crash recovery marks it ``interrupted`` with its text.
    if streaming:
        async with LifespanManager(create_app(settings)):
            pass
        conn = await asyncpg.connect(cluster.url)
        try:
            left = await conn.fetchval("SELECT count(*) FROM messages WHERE status = 'streaming'")
        finally:
            await conn.close()
        assert left == 0


async def test_answers_streaming_through_a_restart_are_all_saved(cluster: Cluster) -> None:
    """PostgreSQL restarted while 10 answers stream: each client gets its whole answer and every
    answer is saved ``complete`` with that text (its end is retried until the database is back;
    a progress save that fails is only logged)."""
    await _prepare(cluster)
    config = FakeConfig(tokens_per_second=12, answer_tokens=48, seed=3)
    async with stand_in(config) as (ollama_url, _fake):
        settings = make_settings(
            cluster.url,
            ollama_url=ollama_url,
            chat_rate_limit_per_minute=100_000,
            write_rate_limit_per_minute=100_000,
            max_active_per_user=10,
            ollama_max_parallel=10,
        )
        app = create_app(settings)
        async with serve(app, lifespan="on") as base, httpx.AsyncClient(timeout=60) as http:
            email, password = "diez@alvaradomazzei.cl", "Clave-muy-segura-2026"
            document = {"email": email, "password": password, "full_name": "Diez"}
            assert (await http.post(f"{base}/auth/register", json=document)).status_code == 201
            login = await http.post(
                f"{base}/auth/login", json={"email": email, "password": password}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            started = asyncio.Event()
            opened: list[str] = []

            async def chat() -> tuple[str, str, str]:
                answer_id, text, status = "", "", ""
                request = http.build_request(
                    "POST", f"{base}/chat", json={"message": "Hola"}, headers=headers
                )
                response = await http.send(request, stream=True)
                assert response.status_code == 200
                async for name, data in sse_events(response):
                    if name == "meta":
                        answer_id = data["assistant_message_id"]
                        opened.append(answer_id)
                        if len(opened) == 10:
                            started.set()
                    elif name == "token":
                        text += data["content"]
                    elif name == "done":
                        status = data["status"]
                        break
                await response.aclose()
                return answer_id, text, status

            tasks = [asyncio.create_task(chat()) for _ in range(10)]
            await asyncio.wait_for(started.wait(), 20)
            await asyncio.sleep(1.5)  # every answer is under way, some progress saved
            # Down for longer than a save interval, and across the answers' ends (~4 s).
            await asyncio.to_thread(cluster.pg_ctl, "stop", "-m", "fast")
            await asyncio.sleep(3)
            await asyncio.to_thread(cluster.pg_ctl, "start")
            results = await asyncio.wait_for(asyncio.gather(*tasks), 60)
            # The ends that met the outage are saved once the database is back.
            conn = await asyncpg.connect(cluster.url)
            try:
                for _ in range(100):
                    left = await conn.fetchval(
                        "SELECT count(*) FROM messages WHERE status = 'streaming'"
                    )
                    if left == 0:
                        break
                    await asyncio.sleep(0.2)
                rows = {
                    str(r["id"]): (r["status"], r["content"])
                    for r in await conn.fetch(
                        "SELECT id, status, content FROM messages WHERE role = 'assistant'"
                    )
                }
            finally:
                await conn.close()
    assert len(results) == 10
    for answer_id, text, status in results:
        assert status == "complete", (answer_id, status)
        assert len(text) > 100
        assert rows[answer_id] == ("complete", text), answer_id
