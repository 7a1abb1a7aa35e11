"""Load test: N simulated users log in, list, read and chat against the stand-in Ollama for a
bounded time, then every accepted message is checked in the database. The report is printed
and kept in ``bench/results/`` (not committed).

    .venv/bin/python -m bench.load --users 200 --seconds 60

It starts the stand-in Ollama and the app (uvicorn, production settings except the stand-in) on a
throwaway PostgreSQL database on 127.0.0.1:5432 (``--sqlite`` for an SQLite file instead). The
chat limits are the production defaults, so 429 (rate limit, one answer at a time per user) and
503 (queue full) are expected and counted apart: they are the designed answers to overload.
Any other error status, a broken stream or a lost message fails the run (exit status 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.stream import PG_ADMIN, free_port, hardware, pct, pg, recorded, wait_http

PASSWORD = "Carga-contrasena-2026"  # a bench-only account on a throwaway database
# The designed answers to overload: any 429 (rate limit, one answer at a time per user, login
# throttle) and the chat queue's 503 ``busy``. A 503 ``db_unavailable`` is NOT designed.
DESIGNED_503 = {"busy"}


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    sent_messages: set[str] = field(default_factory=set)  # user_message_id of accepted chats
    answers: dict[str, str] = field(default_factory=dict)  # assistant id -> final status seen
    chat_seconds: list[float] = field(default_factory=list)

    def record(self, name: str, response: httpx.Response, seconds: float) -> None:
        code = ""
        if response.status_code >= 400:
            try:
                code = str(response.json().get("code", ""))
            except ValueError:
                code = "not_json"
        self.statuses[(name, response.status_code, code)] += 1
        if name != "POST /chat":
            self.latencies[name].append(seconds)
        designed = response.status_code == 429 or (
            response.status_code == 503 and code in DESIGNED_503
        )
        if response.status_code >= 400 and not designed:
            self.errors.append(f"{name}: {response.status_code} {response.text[:200]}")


async def timed(
    stats: Stats, client: httpx.AsyncClient, name: str, method: str, url: str, **kwargs: object
) -> httpx.Response:
    started = time.perf_counter()
    response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    stats.record(name, response, time.perf_counter() - started)
    return response


async def chat(
    stats: Stats, client: httpx.AsyncClient, headers: dict[str, str], conversation: str | None
) -> str | None:
    body: dict[str, object] = {"message": f"Pregunta de carga {secrets.token_hex(3)}"}
    if conversation:
        body["conversation_id"] = conversation
    started = time.perf_counter()
    async with client.stream("POST", "/chat", json=body, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            stats.record("POST /chat", response, time.perf_counter() - started)
            return conversation
        stats.record("POST /chat", response, 0.0)
        name, meta, done = "message", None, None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                if name == "meta":
                    meta = data
                    stats.sent_messages.add(data["user_message_id"])
                elif name == "done":
                    done = data
                elif name == "error":
                    stats.errors.append(f"chat error event: {data}")
    stats.chat_seconds.append(time.perf_counter() - started)
    if meta is None or done is None:
        stats.errors.append("chat stream ended without meta/done")
        return conversation
    stats.answers[meta["assistant_message_id"]] = done["status"]
    return str(meta["conversation_id"])


async def user_session(
    stats: Stats, base: str, email: str, ramp: float, deadline: float, think: tuple[float, float]
) -> None:
    limits = httpx.Limits(max_connections=4)
    async with httpx.AsyncClient(base_url=base, timeout=180, limits=limits) as client:
        # Users arrive over the ramp (a morning's logins), not all in the same millisecond:
        # each login is an argon2 verification, deliberately expensive.
        await asyncio.sleep(random.uniform(0, ramp))
        login = await timed(
            stats,
            client,
            "POST /auth/login",
            "POST",
            "/auth/login",
            json={"email": email, "password": PASSWORD},
        )
        if login.status_code != 200:
            return
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        conversation: str | None = None
        while time.monotonic() < deadline:
            await timed(
                stats, client, "GET /conversations", "GET", "/conversations", headers=headers
            )
            await timed(stats, client, "GET /auth/me", "GET", "/auth/me", headers=headers)
            if conversation:
                await timed(
                    stats,
                    client,
                    "GET /conversations/{id}/messages",
                    "GET",
                    f"/conversations/{conversation}/messages",
                    headers=headers,
                )
            new = random.random() < 0.3 or conversation is None
            conversation = await chat(stats, client, headers, None if new else conversation)
            await asyncio.sleep(random.uniform(*think))


async def guarded(stats: Stats, session: Coroutine[Any, Any, None]) -> None:
    """A transport failure (connection reset, server gone) is an error of the run, recorded,
    and ends that simulated user."""
    try:
        await session
    except httpx.HTTPError as exc:
        stats.errors.append(f"transport: {type(exc).__name__}: {exc}")
        stats.statuses[("transport", 0, type(exc).__name__)] += 1


async def make_users(db_url: str, count: int) -> list[str]:
    from energyapp.auth.models import User
    from energyapp.auth.security import password_hash
    from energyapp.db import create_engine, create_sessionmaker

    hashed = password_hash.hash(PASSWORD)
    engine = create_engine(db_url)
    emails = [f"carga{i:04d}@alvaradomazzei.cl" for i in range(count)]
    async with create_sessionmaker(engine)() as session:
        session.add_all(
            User(
                email=e, full_name=f"Usuario de carga {i}", password_hash=hashed, role="trabajador"
            )
            for i, e in enumerate(emails)
        )
        await session.commit()
    await engine.dispose()
    return emails


async def verify(db_url: str, stats: Stats) -> dict[str, object]:
    """Every accepted question stored; every answer that reported ``done`` stored complete."""
    from sqlalchemy import select

    from energyapp.conversations.models import Message
    from energyapp.db import create_engine, create_sessionmaker

    engine = create_engine(db_url)
    async with create_sessionmaker(engine)() as session:
        rows = (await session.execute(select(Message.id, Message.role, Message.status))).all()
    await engine.dispose()
    users = {str(r.id) for r in rows if r.role == "user"}
    status_of = {str(r.id): r.status for r in rows if r.role == "assistant"}
    missing = stats.sent_messages - users
    mismatched = {
        a: (s, status_of.get(a)) for a, s in stats.answers.items() if status_of.get(a) != s
    }
    return {
        "questions_accepted": len(stats.sent_messages),
        "questions_stored": len(stats.sent_messages & users),
        "questions_missing": len(missing),
        "answers_reported": len(stats.answers),
        "answers_complete_in_db": sum(1 for a in stats.answers if status_of.get(a) == "complete"),
        "answers_mismatched": len(mismatched),
        "answers_streaming_left": sum(1 for s in status_of.values() if s == "streaming"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0, help="activity after the ramp")
    parser.add_argument("--ramp", type=float, default=30.0, help="users arrive over this time")
    parser.add_argument("--answer-tokens", type=int, default=32)
    parser.add_argument("--tokens-per-second", type=float, default=100.0)
    parser.add_argument("--ollama-max-parallel", type=int, default=4)
    parser.add_argument("--think", type=float, nargs=2, default=(1.0, 4.0), metavar=("MIN", "MAX"))
    parser.add_argument("--sqlite", action="store_true", help="SQLite file instead of PostgreSQL")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    parser.add_argument("--db-pool-size", type=int, default=10, help="ENERGYAPP_DB_POOL_SIZE")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="energyapp-load-"))
    db_name = f"energyapp_load_{secrets.token_hex(4)}"
    if args.sqlite:
        db_url = f"sqlite:///{tmp / 'load.db'}"
    else:
        db_url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{db_name}"
        asyncio.run(pg(f'CREATE DATABASE "{db_name}"'))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        from energyapp.core.migrate import upgrade

        upgrade(db_url)
        emails = asyncio.run(make_users(db_url, args.users))
        fake_port, app_port = free_port(), free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "energyapp.llm.fake_server",
                    "--port",
                    str(fake_port),
                    "--tokens-per-second",
                    str(args.tokens_per_second),
                    "--answer-tokens",
                    str(args.answer_tokens),
                ],
                stderr=subprocess.DEVNULL,
            )
        )
        wait_http(f"http://127.0.0.1:{fake_port}/api/version", 20)
        env = dict(
            os.environ,
            ENERGYAPP_ENV="development",
            ENERGYAPP_SECRET_KEY=secrets.token_urlsafe(48),
            ENERGYAPP_DB_URL=db_url,
            ENERGYAPP_OLLAMA_URL=f"http://127.0.0.1:{fake_port}",
            ENERGYAPP_OLLAMA_MAX_PARALLEL=str(args.ollama_max_parallel),
            ENERGYAPP_FAKE_OLLAMA_AUTOSTART="false",
            ENERGYAPP_DB_POOL_SIZE=str(args.db_pool_size),
            ENERGYAPP_LOG_LEVEL="WARNING",
            # Every user logs in from this one address: the per-IP failure throttle counts
            # failures only, so a correct password is never throttled.
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "energyapp.cli", "serve", "--port", str(app_port)],
                env=env,
                stderr=subprocess.DEVNULL,
            )
        )
        base = f"http://127.0.0.1:{app_port}"
        wait_http(f"{base}/health", 30, procs[-1])

        stats = Stats()
        started = time.monotonic()
        deadline = started + args.ramp + args.seconds

        async def run_all() -> None:
            await asyncio.gather(
                *(
                    guarded(
                        stats, user_session(stats, base, e, args.ramp, deadline, tuple(args.think))
                    )
                    for e in emails
                )
            )

        asyncio.run(run_all())
        elapsed = time.monotonic() - started
        check = asyncio.run(verify(db_url, stats))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.sqlite:
            asyncio.run(pg(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))

    report = build_report(args, stats, elapsed, check)
    with recorded("load"):
        print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False))
    failed = (
        stats.errors
        or check["questions_missing"]
        or check["answers_mismatched"]
        or check["answers_streaming_left"]
    )
    return 1 if failed else 0


def build_report(
    args: argparse.Namespace, stats: Stats, elapsed: float, check: dict[str, object]
) -> dict[str, object]:
    by_status: dict[str, dict[str, int]] = defaultdict(dict)
    for (name, status, code), count in sorted(stats.statuses.items()):
        by_status[name][f"{status} {code}".strip()] = count
    endpoints = {
        name: {
            "requests": len(values),
            "p50_ms": round(pct(values, 0.50), 1),
            "p95_ms": round(pct(values, 0.95), 1),
            "p99_ms": round(pct(values, 0.99), 1),
            "max_ms": round(max(values) * 1000, 1),
        }
        for name, values in sorted(stats.latencies.items())
    }
    all_non_chat = [
        v for k, values in stats.latencies.items() if k != "POST /auth/login" for v in values
    ]
    return {
        "command": " ".join(sys.argv),
        "hardware": hardware(),
        "database": "sqlite" if args.sqlite else "postgresql",
        "users": args.users,
        "seconds": round(elapsed, 1),
        "ramp_seconds": args.ramp,
        "stand_in": f"{args.answer_tokens} tokens at {args.tokens_per_second} tokens/s",
        "ollama_max_parallel": args.ollama_max_parallel,
        "db_pool_size": args.db_pool_size,
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        "statuses": by_status,
        "endpoints": endpoints,
        "non_chat_p99_ms_excluding_login": round(pct(all_non_chat, 0.99), 1),
        "answers_per_second": round(len(stats.answers) / elapsed, 1),
        "chat_p50_s": round(pct(stats.chat_seconds, 0.5) / 1000, 2),
        "chat_p99_s": round(pct(stats.chat_seconds, 0.99) / 1000, 2),
        "unexpected_errors": len(stats.errors),
        "first_errors": stats.errors[:5],
        "database_check": check,
    }


def print_report(report: dict[str, object]) -> None:
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
