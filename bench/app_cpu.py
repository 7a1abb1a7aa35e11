"""The app's own CPU per request, in process: no HTTP server, no client, no other process's noise.

    .venv/bin/python bench/app_cpu.py [--db-url ...] [--rounds 5] [case ...]

Cases: ``404`` (the framework's floor), ``me`` (``GET /auth/me``), ``conversations``
(``GET /conversations``, the heavy user's first page), ``admin_users`` (the admin's first page),
``admin_conversations`` (the admin's first page of the heavy user's conversations: it writes the
audit record), ``chat`` (``POST /chat`` against a stand-in Ollama started here, read to ``done``;
the answer's final save and its title are included because the next request waits for them).

Calls the ASGI app directly and reads ``time.process_time()`` around blocks of sequential
requests: the figure excludes uvicorn's HTTP parsing (about 0.1-0.3 ms) and PostgreSQL's own
time, and it is stable enough to compare two versions of the code run alternately, which the
end-to-end benchmarks (``stream.py``, ``list_endpoints.py``) are not on this drifting VM. Needs
the ``energyapp_bench`` database of ``bench/generate_data.py``; ``chat`` adds conversations to
one extra user of it (``app-cpu@alvaradomazzei.cl``), which the list benchmarks never read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from asgi_lifespan import LifespanManager

from energyapp.config import Settings, load_settings
from energyapp.db import utcnow
from energyapp.main import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent))
from list_endpoints import (  # noqa: E402
    SECRET,
    calibration_ms,
    hardware,
    mint_tokens,
    open_session,
)

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/energyapp_bench"
CHAT_EMAIL = "app-cpu@alvaradomazzei.cl"
STAND_IN_PORT = 18998
CASES = ("404", "me", "conversations", "admin_users", "admin_conversations", "chat")


async def call(
    app: Any,
    method: str,
    path: str,
    *,
    query: bytes = b"",
    body: bytes = b"",
    token: str,
    until: bytes | None = None,
) -> int:
    """One request straight into the ASGI app; with ``until``, wait until the streamed body
    contains it and then disconnect (as a browser tab closing after ``done``)."""
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"authorization", b"Bearer " + token.encode()),
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8001), "state": {},
    }  # fmt: skip
    body_sent = False
    seen = asyncio.Event()
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await seen.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif until is not None and until in message.get("body", b""):
            seen.set()

    task = asyncio.ensure_future(app(scope, receive, send))
    if until is not None:
        await seen.wait()
    await task
    return status


async def chat_token(db_url: str, settings: Settings) -> str:
    """A session for the chat user (created on first use)."""
    conn = await asyncpg.connect(db_url)
    try:
        user_id = await conn.fetchval("SELECT id FROM users WHERE email = $1", CHAT_EMAIL)
        if user_id is None:
            user_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO users (id, email, full_name, password_hash, role, is_active, "
                "totp_enabled, created_at, updated_at, last_active_at, conversation_count, "
                "message_count) VALUES ($1, $2, 'App CPU bench', '!', 'trabajador', true, false, "
                "$3, $3, $3, 0, 0)",
                user_id,
                CHAT_EMAIL,
                utcnow(),
            )
        return await open_session(conn, settings, user_id)
    finally:
        await conn.close()


async def measure(args: argparse.Namespace) -> None:
    settings = load_settings(
        db_url=args.db_url,
        secret_key=SECRET,
        env="development",
        log_level="WARNING",
        ollama_url=f"http://127.0.0.1:{STAND_IN_PORT}",
        ollama_max_parallel=64,
        max_active_per_user=1000,
        max_queue=100000,
        chat_rate_limit_per_minute=100000,
        fake_ollama_autostart=False,
    )
    tokens = await mint_tokens(args.db_url, settings)
    heavy_id, heavy = tokens["trabajador"]
    admin = tokens["admin"][1]
    chatter = await chat_token(args.db_url, settings)
    app = create_app(settings)
    question = json.dumps({"message": "¿Cuánto consumió la planta este mes?"}).encode()
    requests: dict[str, Callable[[], Awaitable[int]]] = {
        "404": lambda: call(app, "GET", "/no-existe", token=heavy),
        "me": lambda: call(app, "GET", "/auth/me", token=heavy),
        "conversations": lambda: call(app, "GET", "/conversations", query=b"limit=50", token=heavy),
        "admin_users": lambda: call(app, "GET", "/admin/users", query=b"limit=50", token=admin),
        "admin_conversations": lambda: call(
            app,
            "GET",
            "/admin/conversations",
            query=f"limit=50&user_id={heavy_id}".encode(),
            token=admin,
        ),
        "chat": lambda: call(
            app, "POST", "/chat", body=question, token=chatter, until=b"event: done"
        ),
    }
    print(f"hardware: {hardware()}; calibration loop {calibration_ms():.1f} ms")
    async with LifespanManager(app):
        for case in args.cases:
            request = requests[case]
            expected = 404 if case == "404" else 200
            for _ in range(30):  # warm-up: caches, prepared statements, pooled connections
                if (status := await request()) != expected:
                    raise SystemExit(f"{case}: status {status}")
            block = 100 if case == "chat" else 300
            rounds = []
            for _ in range(args.rounds):
                started = time.process_time()
                for _ in range(block):
                    await request()
                if case == "chat":
                    await asyncio.sleep(0.05)  # the last title, inside the block's CPU
                rounds.append((time.process_time() - started) / block * 1000)
            print(
                f"{case:20s} app CPU per request, ms: median {statistics.median(rounds):.2f}"
                f"  min {min(rounds):.2f}  ({' '.join(f'{r:.2f}' for r in rounds)})",
                flush=True,
            )


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"the stand-in did not listen on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default=DEFAULT_DB)
    parser.add_argument("--rounds", type=int, default=5, help="blocks of requests per case")
    parser.add_argument("cases", nargs="*", metavar="case", help=f"any of {', '.join(CASES)}")
    args = parser.parse_args()
    if unknown := set(args.cases) - set(CASES):
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    args.cases = args.cases or list(CASES)
    stand_in = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "energyapp.llm.fake_server",
            "--port",
            str(STAND_IN_PORT),
            "--tokens-per-second",
            "0",
            "--answer-tokens",
            "64",
        ],  # fmt: skip
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(STAND_IN_PORT)
        try:
            import uvloop

            uvloop.run(measure(args))
        except ImportError:
            asyncio.run(measure(args))
    finally:
        stand_in.terminate()
        stand_in.wait(timeout=10)


if __name__ == "__main__":
    main()
