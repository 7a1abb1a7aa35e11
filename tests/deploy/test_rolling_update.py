"""A rolling update under load: two app instances (`energyapp serve`, production mode) sharing
PostgreSQL and the Redis chat broker, behind a real Caddy from deploy/Caddyfile; 20 clients
chat through Caddy while each instance in turn gets SIGTERM, drains and starts again. No request
fails, every answer is stored `complete`, and every client got its whole answer (following the
`reconnect` hint through the other instance, as the web UI does)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.config import Settings
from energyapp.conversations.models import Message
from energyapp.core.redis import async_redis
from tests.chat.conftest import sse_events
from tests.conftest import HeadersFactory, UserFactory, make_settings
from tests.deploy.conftest import (
    ENERGYAPP_BIN,
    METRICS_TOKEN,
    PROD_SECRET,
    running_caddy,
    socket_db_url,
)
from tests.multiproc import (
    Server,
    free_port,
    running_fake_ollama,
    start,
    stop,
    wait_until_up,
)

pytestmark = [pytest.mark.deploy, pytest.mark.postgres_only]

REDIS_URL = "redis://127.0.0.1:6379/12"
CLIENTS = 20
# Eight seconds an answer, longer than the instance's pause before it stops listening
# (shutdown_delay, 5 s): every restart meets answers half written, which then move.
ANSWER_TOKENS = 160
TOKENS_PER_SECOND = 20


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Tokens signed as the production-mode instances expect."""
    return make_settings(db_url, secret_key=PROD_SECRET)


@dataclass
class Instance:
    port: int
    workdir: Path
    env: dict[str, str]
    server: Server | None = None

    def start(self) -> None:
        log = self.workdir / f"server-{self.port}.log"
        args: list[str | Path] = [ENERGYAPP_BIN, "serve", "--host", "127.0.0.1"]
        args += ["--port", str(self.port)]
        proc = start(args, log, cwd=self.workdir, env=self.env)
        wait_until_up(f"http://127.0.0.1:{self.port}/health", proc, log, timeout=60)
        self.server = Server(proc, self.port, log)

    def stop(self) -> None:
        if self.server is not None:
            stop(self.server.proc, timeout=90)  # SIGTERM: drain, then exit


@dataclass
class Tally:
    failures: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)  # answer id → text the client got
    moved: int = 0  # streams that followed a `reconnect`


async def one_answer(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], tally: Tally
) -> None:
    """Ask, read the stream, and follow `reconnect` hints the way the web UI does."""
    ids: list[str] = []
    answer_id = ""
    text: list[str] = []
    request = http.build_request(
        "POST",
        f"{base}/chat",
        json={"message": f"Pregunta {secrets.token_hex(3)}"},
        headers=headers,
    )
    for _ in range(6):
        response = await http.send(request, stream=True)
        try:
            if response.status_code != 200:
                tally.failures.append(
                    f"{request.method} {response.status_code} {await response.aread()!r}"
                )
                return
            moved = False
            async for name, data in sse_events(response, ids):
                if name == "meta":
                    answer_id = data["assistant_message_id"]
                elif name == "token":
                    if data.get("replace"):  # the saved whole text, as the web UI takes it
                        text.clear()
                    text.append(data["content"])
                elif name == "error":
                    tally.failures.append(f"error event {data}")
                elif name == "done":
                    tally.answers[answer_id] = "".join(text)
                    return
                elif name == "reconnect":
                    moved = True
                    break
        finally:
            await response.aclose()
        if not moved:
            tally.failures.append(f"stream of {answer_id} ended without done")
            return
        tally.moved += 1
        await asyncio.sleep(0.3)
        resume = {**headers, "Last-Event-ID": ids[-1]} if ids else headers
        request = http.build_request("GET", f"{base}/chat/{answer_id}/stream", headers=resume)
    tally.failures.append(f"{answer_id}: too many reconnects")


async def client(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], tally: Tally, done: asyncio.Event
) -> None:
    asked = 0
    while not done.is_set() or asked < 2:
        try:
            await one_answer(http, base, headers, tally)
        except httpx.HTTPError as exc:
            tally.failures.append(f"transport: {exc!r}")
        asked += 1


@asynccontextmanager
async def broker_prefix() -> AsyncIterator[str]:
    prefix = f"test-rolling-{secrets.token_hex(4)}:"
    yield prefix
    redis = async_redis(REDIS_URL)
    keys = [key async for key in redis.scan_iter(f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def test_a_rolling_restart_under_load_loses_nothing(
    db_url: str,
    tmp_path: Path,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    users = [await auth_headers(await make_user()) for _ in range(CLIENTS)]
    with running_fake_ollama(tmp_path, TOKENS_PER_SECOND, ANSWER_TOKENS) as ollama:
        async with broker_prefix() as prefix:
            env = {
                **os.environ,
                "ENERGYAPP_ENV": "production",
                "ENERGYAPP_SECRET_KEY": PROD_SECRET,
                "ENERGYAPP_DB_URL": socket_db_url(db_url),
                "ENERGYAPP_OLLAMA_URL": ollama.url,
                "ENERGYAPP_FAKE_OLLAMA_AUTOSTART": "false",
                "ENERGYAPP_REDIS_URL": REDIS_URL,
                "ENERGYAPP_REDIS_PREFIX": prefix,
                "ENERGYAPP_OLLAMA_MAX_PARALLEL": str(CLIENTS),
                "ENERGYAPP_CHAT_RATE_LIMIT_PER_MINUTE": "1000",
                "ENERGYAPP_DRAIN_TIMEOUT": "60",
                "ENERGYAPP_LOG_LEVEL": "WARNING",
                "ENERGYAPP_METRICS_TOKEN": METRICS_TOKEN,
            }
            instances = [Instance(free_port(), tmp_path, env) for _ in range(2)]
            for instance in instances:
                instance.start()
            try:
                with running_caddy([i.port for i in instances], tmp_path) as proxy:
                    base = proxy.url
                    tally = Tally()
                    finished = asyncio.Event()
                    timeout = httpx.Timeout(30.0)
                    async with httpx.AsyncClient(timeout=timeout) as http:
                        clients = [
                            asyncio.create_task(client(http, base, headers, tally, finished))
                            for headers in users
                        ]
                        await asyncio.sleep(1.0)
                        for instance in instances:  # one at a time, as scripts/update.sh does
                            await asyncio.to_thread(instance.stop)
                            await asyncio.to_thread(instance.start)
                            await asyncio.sleep(4.5)  # Caddy's health check sees it back
                        finished.set()
                        await asyncio.wait_for(asyncio.gather(*clients), 120)
            finally:
                for instance in instances:
                    instance.stop()

    assert tally.failures == []
    assert tally.moved > 0  # the restarts did meet answers being written
    assert len(tally.answers) >= 2 * CLIENTS
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(Message.id, Message.status, Message.content).where(
                    Message.role == "assistant"
                )
            )
        ).all()
    stored = {str(row.id): (row.status, row.content) for row in rows}
    for answer_id, text in tally.answers.items():
        assert stored[answer_id] == ("complete", text)
    assert all(status == "complete" for status, _ in stored.values())
