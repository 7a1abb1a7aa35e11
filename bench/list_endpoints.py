"""Latency of the list endpoints at scale, at the first page and deep in each list.

    .venv/bin/python -m bench.generate_data          # once: fills energyapp_bench
    .venv/bin/python -m bench.list_endpoints --requests 300

Starts the app with uvicorn (a subprocess, one worker, access log off) on the bench database,
mints access tokens for an admin, a supervisor and the heavy trabajador (sessions inserted
directly, no login), walks each list by its cursors to a deep page, measures the app's CPU per
request of each row (first and deep page) over a block of requests, then times N sequential
requests per row, interleaved across the rows, from an HTTP client on the same machine (so the
figures include HTTP, authentication, the query and JSON). Prints p50/p95/p99/max in ms, a
calibration loop's CPU time before and after (the VM's speed drifts), the hardware, and
EXPLAIN (ANALYZE, BUFFERS) of every list query as the app really sends it (captured with
SQLAlchemy's ``before_cursor_execute`` event from an in-process instance of the app). The
report is printed and kept in ``bench/results/`` (not committed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import psutil
from asgi_lifespan import LifespanManager
from sqlalchemy import event

from bench.generate_data import ADMIN_EMAIL, HEAVY_EMAIL, SUPERVISOR_EMAIL
from bench.stream import free_port, hardware, recorded
from energyapp.auth.security import create_access_token
from energyapp.config import Settings, load_settings
from energyapp.db import utcnow
from energyapp.main import create_app

SECRET = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


@dataclass
class Scenario:
    name: str
    role: str
    url: str
    # pages to walk (with walk_limit) before the deep page is measured
    depth_rows: int
    walk_limit: int = 200
    filters: dict[str, str] | None = None


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def calibration_ms() -> float:
    """CPU time of a fixed pure-Python loop: this VM's speed drifts by up to ±40 % within
    minutes, and this says where in that range a run was."""
    start = time.process_time()
    total = 0
    for i in range(1_000_000):
        total += i
    return (time.process_time() - start) * 1000


async def mint_tokens(db_url: str, settings: Settings) -> dict[str, tuple[uuid.UUID, str]]:
    """Insert one session per bench account and sign access tokens for them."""
    conn = await asyncpg.connect(db_url)
    tokens: dict[str, tuple[uuid.UUID, str]] = {}
    try:
        for role, email in (
            ("admin", ADMIN_EMAIL),
            ("supervisor", SUPERVISOR_EMAIL),
            ("trabajador", HEAVY_EMAIL),
        ):
            user_id = await conn.fetchval("SELECT id FROM users WHERE email = $1", email)
            tokens[role] = (user_id, await open_session(conn, settings, user_id))
    finally:
        await conn.close()
    return tokens


async def open_session(conn: asyncpg.Connection, settings: Settings, user_id: uuid.UUID) -> str:
    """A new session of ``user_id`` (a day long) and a signed access token for it."""
    session_id = uuid.uuid4()
    now = utcnow()
    await conn.execute(
        "INSERT INTO auth_sessions (id, user_id, created_at, expires_at, last_used_at) "
        "VALUES ($1, $2, $3, $4, $3)",
        session_id,
        user_id,
        now,
        now + timedelta(days=1),
    )
    return create_access_token(settings, user_id, session_id)[0]


async def scenarios(db_url: str, tokens: dict[str, tuple[uuid.UUID, str]]) -> list[Scenario]:
    conn = await asyncpg.connect(db_url)
    try:
        heavy_id = tokens["trabajador"][0]
        heavy_conversation = await conn.fetchval(
            "SELECT id FROM conversations WHERE user_id = $1 ORDER BY message_count DESC LIMIT 1",
            heavy_id,
        )
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM users) AS users, "
            "(SELECT count(*) FROM conversations) AS conversations, "
            "(SELECT count(*) FROM messages) AS messages, "
            "(SELECT message_count FROM conversations WHERE id = $1) AS heavy_messages, "
            "(SELECT count(*) FROM conversations WHERE user_id = $2 AND NOT archived) AS heavy",
            heavy_conversation,
            heavy_id,
        )
    finally:
        await conn.close()
    print(
        f"data: {counts['users']:,} users, {counts['conversations']:,} conversations, "
        f"{counts['messages']:,} messages; heavy user: {counts['heavy']:,} active conversations; "
        f"heavy conversation: {counts['heavy_messages']:,} messages"
    )
    deep = 0.9
    return [
        Scenario("GET /conversations", "trabajador", "/conversations", int(counts["heavy"] * deep)),
        Scenario(
            "GET /conversations/{id}/messages",
            "trabajador",
            f"/conversations/{heavy_conversation}/messages",
            int(counts["heavy_messages"] * deep),
        ),
        Scenario("GET /admin/users (admin)", "admin", "/admin/users", int(counts["users"] * deep)),
        Scenario(
            "GET /admin/users (supervisor)",
            "supervisor",
            "/admin/users",
            int(counts["users"] * deep),
        ),
        Scenario(
            "GET /admin/conversations (admin)",
            "admin",
            "/admin/conversations",
            int(counts["conversations"] * 0.75),
        ),
        Scenario(
            "GET /admin/conversations (supervisor)",
            "supervisor",
            "/admin/conversations",
            int(counts["conversations"] * 0.75),
        ),
        Scenario(
            "GET /admin/conversations?user_id= (admin)",
            "admin",
            "/admin/conversations",
            int(counts["heavy"] * deep),
            filters={"user_id": str(heavy_id)},
        ),
        # Searches ignore case and accents (core/search.py): the first page of each.
        Scenario(
            "GET /conversations?q=MANTENCIÓN",
            "trabajador",
            "/conversations",
            0,
            filters={"q": "MANTENCIÓN"},
        ),
        Scenario(
            "GET /admin/users?q=PRUEBÁ 00042 (admin)",
            "admin",
            "/admin/users",
            0,
            filters={"q": "PRUEBÁ 00042"},
        ),
    ]


async def deep_cursor(client: httpx.AsyncClient, scenario: Scenario, headers: Any) -> str | None:
    """Follow next_cursor until ``depth_rows`` rows have gone by."""
    cursor: str | None = None
    passed = 0
    while passed < scenario.depth_rows:
        params: dict[str, Any] = {"limit": scenario.walk_limit, **(scenario.filters or {})}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(scenario.url, params=params, headers=headers)
        response.raise_for_status()
        page = response.json()
        passed += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return cursor


class RawClient:
    """A keep-alive HTTP/1.1 GET client in a few lines of asyncio: it costs the shared CPUs far
    less than httpx (about 1 ms per request here), so the timings are the server's, as with
    wrk. ``--client httpx`` times the same requests with httpx instead."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, url: str, params: dict[str, Any], headers: dict[str, str]) -> bytes:
        target = f"{url}?{urlencode(params)}"
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = f"GET {target} HTTP/1.1\r\nHost: bench\r\n{lines}\r\n".encode()
        try:
            head = await self._send(request)
        except (asyncio.IncompleteReadError, ConnectionError):
            # uvicorn closes a connection idle for 5 s (the walk to a deep page takes longer)
            await self.close()
            head = await self._send(request)
        assert self.reader is not None
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await self.reader.readexactly(length)
        if status != 200:
            raise RuntimeError(f"{url}: HTTP {status}: {body[:200]!r}")
        return body

    async def _send(self, request: bytes) -> bytes:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(request)
        return await self.reader.readuntil(b"\r\n\r\n")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def time_requests(
    client: httpx.AsyncClient | RawClient,
    url: str,
    params: dict[str, Any],
    headers: dict[str, str],
    n: int,
) -> list[float]:
    async def get() -> bytes:
        if isinstance(client, RawClient):
            return await client.get(url, params, headers)
        response = await client.get(url, params=params, headers=headers)
        response.raise_for_status()
        return response.content

    timings = []
    for _ in range(n):
        start = time.perf_counter()
        body = await get()
        timings.append((time.perf_counter() - start) * 1000)
        items = len(json.loads(body)["items"])
        # A list fills its page; a search returns what matches, which must be something.
        assert items == params["limit"] or ("q" in params and items > 0), url
    return timings


def serve(db_url: str, port: int) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        ENERGYAPP_DB_URL=db_url,
        ENERGYAPP_SECRET_KEY=SECRET,
        ENERGYAPP_ENV="development",
        ENERGYAPP_LOG_LEVEL="WARNING",
        ENERGYAPP_FAKE_OLLAMA_AUTOSTART="false",
    )
    return subprocess.Popen(  # noqa: ASYNC220 - started once, before any timing
        [
            sys.executable,
            "-m",
            "uvicorn",
            "energyapp.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--no-proxy-headers",  # as `energyapp serve` (the app reads X-Forwarded-For itself)
            "--log-level",
            "warning",
        ],
        env=env,
    )


async def wait_ready(client: httpx.AsyncClient) -> None:
    for _ in range(600):
        try:
            await client.get("/conversations")
            return
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    raise RuntimeError("uvicorn did not start")


async def measure(
    args: argparse.Namespace, settings: Settings
) -> list[tuple[str, str, dict[str, Any]]]:
    tokens = await mint_tokens(args.db_url, settings)
    plan = await scenarios(args.db_url, tokens)
    port = free_port()  # never a fixed one: another server there would answer in its place
    server = serve(args.db_url, port)
    queries: list[tuple[str, str, dict[str, Any]]] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            await wait_ready(client)
            timer: httpx.AsyncClient | RawClient = (
                client if args.client == "httpx" else RawClient(port)
            )
            process = psutil.Process(server.pid)
            header = (
                f"{'endpoint':<44} {'page':<5} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} "
                f"{'app CPU':>8}"
            )
            calibration = calibration_ms()
            print(
                f"\n{args.requests} sequential requests per row, interleaved across the rows, "
                f"limit={args.limit}, {args.client} client, ms:"
            )
            print(header)
            rows: list[tuple[str, str, str, dict[str, Any], dict[str, str]]] = []
            for scenario in plan:
                headers = {"Authorization": f"Bearer {tokens[scenario.role][1]}"}
                deep = await deep_cursor(client, scenario, headers)
                pages = [("first", None), ("deep", deep)][: 2 if scenario.depth_rows else 1]
                for label, cursor in pages:
                    params: dict[str, Any] = {"limit": args.limit, **(scenario.filters or {})}
                    if cursor:
                        params["cursor"] = cursor
                    rows.append((scenario.name, label, scenario.url, params, headers))
                    queries.append((f"{scenario.name} [{label}]", scenario.url, {**params}))
                    queries[-1][2]["__role"] = scenario.role
            # App CPU per request of each row, from a block of sequential requests (the process's
            # CPU clock ticks every 10 ms: a single request cannot be measured on its own).
            cpu_ms: list[float] = []
            block = max(30, args.requests // 10)
            for _name, _label, url, params, headers in rows:
                cpu_before = sum(process.cpu_times()[:2])
                await time_requests(timer, url, params, headers, block)
                cpu_ms.append((sum(process.cpu_times()[:2]) - cpu_before) * 1000 / block)
            # Timed requests interleaved across the rows (one of each row per round), so that
            # every row meets the same moments of this VM, whose speed drifts within minutes.
            timings: list[list[float]] = [[] for _ in rows]
            for _ in range(args.requests):
                for index, (_name, _label, url, params, headers) in enumerate(rows):
                    timings[index].extend(await time_requests(timer, url, params, headers, 1))
            for (name, label, *_), row_timings, cpu in zip(rows, timings, cpu_ms, strict=True):
                print(
                    f"{name:<44} {label:<5} {statistics.median(row_timings):7.2f} "
                    f"{percentile(row_timings, 95):7.2f} {percentile(row_timings, 99):7.2f} "
                    f"{max(row_timings):7.2f} {cpu:8.2f}",
                    flush=True,
                )
            print(f"calibration after: {calibration_ms():.1f} ms (before: {calibration:.1f} ms)")
    finally:
        server.terminate()
        server.wait(timeout=10)
    await explain(args, settings, tokens, queries)
    return queries


async def explain(
    args: argparse.Namespace,
    settings: Settings,
    tokens: dict[str, tuple[uuid.UUID, str]],
    queries: list[tuple[str, str, dict[str, Any]]],
) -> None:
    """Replay each request in-process, capture its list query and EXPLAIN ANALYZE it."""
    app = create_app(settings)
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    query_times: list[tuple[str, list[float]]] = []
    conn = await asyncpg.connect(args.db_url)
    try:
        async with LifespanManager(app):
            event.listen(app.state.engine.sync_engine, "before_cursor_execute", capture)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                for title, url, params in queries:
                    role = params.pop("__role")
                    headers = {"Authorization": f"Bearer {tokens[role][1]}"}
                    captured.clear()
                    (await client.get(url, params=params, headers=headers)).raise_for_status()
                    print(f"\n=== {title}")
                    lists = [(sql, values) for sql, values in captured if is_list_query(sql)]
                    if not lists:
                        print("    (no list query went through SQLAlchemy's engine)")
                    for statement, parameters in lists:
                        plan = await conn.fetch(
                            "EXPLAIN (ANALYZE, BUFFERS) " + statement, *parameters
                        )
                        print(statement.strip())
                        for row in plan:
                            print("   ", row[0])
                        timings = []
                        for _ in range(args.requests):
                            start = time.perf_counter()
                            await conn.fetch(statement, *parameters)
                            timings.append((time.perf_counter() - start) * 1000)
                        query_times.append((title, timings))
    finally:
        await conn.close()
    print(f"\nThe list query alone (asyncpg, prepared, {args.requests} runs), ms:")
    print(f"{'endpoint':<52} {'p50':>7} {'p99':>7}")
    for title, timings in query_times:
        print(f"{title:<52} {statistics.median(timings):7.2f} {percentile(timings, 99):7.2f}")


def is_list_query(statement: str) -> bool:
    head = statement.lstrip().upper()
    # The authentication lookup (users JOIN auth_sessions) and audit inserts are not list queries.
    return head.startswith("SELECT") and "AUTH_SESSIONS" not in head and "LIMIT" in head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default="postgresql://postgres@127.0.0.1:5432/energyapp_bench")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="HTTP client of the timed requests (raw: minimal keep-alive asyncio client)",
    )
    args = parser.parse_args()
    settings = load_settings(
        db_url=args.db_url,
        secret_key=SECRET,
        env="development",
        log_level="WARNING",
        fake_ollama_autostart=False,
    )
    with recorded("list_endpoints"):
        print(f"hardware: {hardware()}; load (1/5/15 min) {os.getloadavg()}")
        asyncio.run(measure(args, settings))


if __name__ == "__main__":
    main()
