"""Streaming benchmark: the stand-in Ollama called directly vs the same answers through
``POST /chat`` (authentication, queue, persistence), in one run.

    .venv/bin/python bench/stream.py [--seconds 10] [--concurrency 50] [--ttft-samples 200]

Starts a throwaway PostgreSQL database (dropped at the end), the stand-in with 64-token answers
(as fast as it can) and the app (``energyapp serve``, one process) with the queue and per-user
limits raised; then measures time to first token at one stream, throughput at N concurrent
streams, the app's memory idle and under load and its start-up time, and checks that every
answer the clients saw finish is ``complete`` in the database.

The client is a few lines of raw asyncio HTTP/1.1 so that it costs as little CPU as possible:
both paths are measured with the same client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("ENERGYAPP_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = secrets.token_urlsafe(48)
MODEL = "qwen2.5:3b-instruct"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- a minimal HTTP client -------------------------------------------------------------------


@dataclass
class Result:
    ok: bool
    ttft: float = 0.0
    total: float = 0.0
    answer_id: str | None = None


async def stream_once(
    port: int, path: str, body: bytes, headers: str, first: bytes, last: bytes
) -> Result:
    """POST ``body``; time until ``first`` appears and until ``last`` appears, then close."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{headers}Connection: close\r\n\r\n"
            ).encode()
            + body
        )
        seen = b""
        ttft = 0.0
        while True:
            data = await reader.read(65536)
            if not data:
                return Result(False)
            seen = seen[-256:] + data if ttft else seen + data
            if not ttft and first in seen:
                ttft = time.perf_counter() - started
                if not seen.startswith(b"HTTP/1.1 200"):
                    return Result(False)
            if ttft and last in seen:
                total = time.perf_counter() - started
                answer_id = None
                return Result(True, ttft, total, answer_id)
    finally:
        writer.close()


class Target:
    def __init__(self, port: int, path: str, first: bytes, last: bytes) -> None:
        self.port, self.path, self.first, self.last = port, path, first, last

    def body(self, i: int) -> bytes:
        raise NotImplementedError

    def headers(self, i: int) -> str:
        return ""

    async def once(self, i: int) -> Result:
        return await stream_once(
            self.port, self.path, self.body(i), self.headers(i), self.first, self.last
        )


class Direct(Target):
    def __init__(self, port: int) -> None:
        super().__init__(port, "/api/chat", b'"done":false', b'"done":true')

    def body(self, i: int) -> bytes:
        messages = [{"role": "user", "content": f"¿Cuánto consume la planta {i}?"}]
        return json.dumps({"model": MODEL, "messages": messages, "stream": True}).encode()


class ThroughApp(Target):
    def __init__(self, port: int, tokens: list[str]) -> None:
        super().__init__(port, "/chat", b"event: token", b"event: done")
        self.tokens = tokens

    def body(self, i: int) -> bytes:
        return json.dumps({"message": f"¿Cuánto consume la planta {i}?"}).encode()

    def headers(self, i: int) -> str:
        return f"Authorization: Bearer {self.tokens[i % len(self.tokens)]}\r\n"


@dataclass
class Load:
    completed: int = 0
    errors: int = 0
    seconds: float = 0.0
    ttfts: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0


async def sequential_ttft(target: Target, samples: int, pause: float = 0.0) -> list[float]:
    values = []
    for i in range(samples):
        if pause:
            await asyncio.sleep(pause)
        result = await target.once(i)
        if not result.ok:
            raise RuntimeError(f"request failed during the TTFT run ({target.path})")
        values.append(result.ttft)
    return values


async def concurrent_load(
    target: Target, concurrency: int, seconds: float, rss: RssSampler | None = None
) -> Load:
    load = Load()
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        i = w
        while time.perf_counter() < deadline:
            result = await target.once(i)
            i += concurrency
            if result.ok:
                load.completed += 1
                load.ttfts.append(result.ttft)
            else:
                load.errors += 1

    started = time.perf_counter()
    sampler = asyncio.create_task(rss.run()) if rss else None
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    load.seconds = time.perf_counter() - started
    if sampler:
        sampler.cancel()
    return load


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0

    def now(self) -> int:
        return int(self.process.memory_info().rss)

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    async def run(self) -> None:
        while True:
            self.peak = max(self.peak, self.now())
            await asyncio.sleep(0.1)


# --- set-up ----------------------------------------------------------------------------------


async def pg(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def pg_version() -> str:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def make_users(db_url: str, count: int) -> list[str]:
    """Users with an open session each; returns their access tokens."""
    from energyapp.auth.models import AuthSession, User
    from energyapp.auth.security import create_access_token
    from energyapp.config import load_settings
    from energyapp.db import create_engine, create_sessionmaker, utcnow

    settings = load_settings(db_url=db_url, secret_key=SECRET, env="development")
    engine = create_engine(db_url)
    tokens = []
    async with create_sessionmaker(engine)() as session:
        for i in range(count):
            user = User(
                email=f"bench{i}@alvaradomazzei.cl",
                full_name=f"Bench {i}",
                password_hash="!",
                role="trabajador",
            )
            session.add(user)
            await session.flush()
            auth = AuthSession(
                id=uuid.uuid4(), user_id=user.id, expires_at=utcnow() + timedelta(days=1)
            )
            session.add(auth)
            tokens.append(create_access_token(settings, user.id, auth.id)[0])
        await session.commit()
    await engine.dispose()
    return tokens


async def answer_statuses(db_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT status, count(*) FROM messages WHERE role = 'assistant' GROUP BY status"
        )
        return {r["status"]: r["count"] for r in rows}
    finally:
        await conn.close()


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> float:
    """Poll ``url`` every 10 ms until it answers 200; the seconds that took."""
    started = time.perf_counter()
    # One client for every poll: ``httpx.get`` builds a client (and its TLS context) per call,
    # about 90 ms of CPU here, which made each poll late and took a core from the app starting.
    with httpx.Client(timeout=0.5) as client:
        while time.perf_counter() - started < timeout:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"the app exited with status {proc.returncode}")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


SPLIT = (
    "energyapp_time_to_first_token_seconds",
    "energyapp_queue_wait_seconds",
    "energyapp_llm_first_token_seconds",
)


async def histogram_totals(port: int) -> dict[str, float]:
    """The ``_sum`` and ``_count`` of the histograms that split the time to first token."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    wanted = {f"{name}{suffix}" for name in SPLIT for suffix in ("_sum", "_count")}
    totals = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in wanted:
            totals[name] = float(value)
    return totals


def hardware() -> str:
    model = "?"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = psutil.virtual_memory().total / 2**30
    return (
        f"{model}, {psutil.cpu_count()} logical CPUs, {ram:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


@contextlib.contextmanager
def bench_database(prefix: str) -> Iterator[str]:
    """A throwaway PostgreSQL database with the app's schema, dropped at the end; its URL."""
    db_name = f"{prefix}_{secrets.token_hex(4)}"
    db_url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{db_name}?sslmode=disable"
    asyncio.run(pg(f'CREATE DATABASE "{db_name}"'))
    try:
        from energyapp.core.migrate import upgrade

        upgrade(db_url)
        yield db_url
    finally:
        asyncio.run(pg(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))


def start_stand_in(answer_tokens: int) -> tuple[subprocess.Popen[bytes], int]:
    """The stand-in Ollama answering ``answer_tokens`` tokens as fast as it can; its port."""
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "energyapp.llm.fake_server"),
            *("--port", str(port), "--tokens-per-second", "0"),
            *("--answer-tokens", str(answer_tokens)),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/api/version", 20, proc)
    except BaseException:
        stop_all([proc])
        raise
    return proc, port


def start_py_spy(
    pid: int, output: str | Path, seconds: float, rate: int
) -> subprocess.Popen[bytes]:
    """Record process ``pid`` with py-spy for ``seconds`` (it stops by itself) at ``rate``
    samples/s: raw collapsed stacks into a ``.txt`` output, a flame graph otherwise."""
    return subprocess.Popen(
        [str(BIN / "py-spy"), "record", "--pid", str(pid), "--output", str(output)]
        + ["--duration", str(int(seconds)), "--nonblocking", "--rate", str(rate)]
        + ["--format", "raw" if str(output).endswith(".txt") else "flamegraph"],
        stdout=subprocess.DEVNULL,
    )


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the benchmark's processes, newest first (killed after 15 s)."""
    for proc in reversed(procs):
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def app_env(db_url: str, stand_in_port: int, **extra: str) -> dict[str, str]:
    """The app's environment for a benchmark: the stand-in, the queue and the per-user limits
    raised so that only the machine limits the load."""
    return dict(
        os.environ,
        ENERGYAPP_ENV="development",
        ENERGYAPP_SECRET_KEY=SECRET,
        ENERGYAPP_DB_URL=db_url,
        ENERGYAPP_OLLAMA_URL=f"http://127.0.0.1:{stand_in_port}",
        ENERGYAPP_OLLAMA_MAX_PARALLEL="64",
        ENERGYAPP_MAX_ACTIVE_PER_USER="1000",
        ENERGYAPP_MAX_QUEUE="100000",
        ENERGYAPP_CHAT_RATE_LIMIT_PER_MINUTE="100000",
        ENERGYAPP_LOG_LEVEL="WARNING",
        ENERGYAPP_FAKE_OLLAMA_AUTOSTART="false",
        **extra,
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--ttft-samples", type=int, default=200)
    parser.add_argument("--answer-tokens", type=int, default=64)
    parser.add_argument("--pause-ms", type=float, default=0.0)
    parser.add_argument(
        "--profile", metavar="SVG", help="record the app with py-spy during the /chat load phase"
    )
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--skip-direct", action="store_true", help="only the /chat path")
    args = parser.parse_args()

    procs: list[subprocess.Popen[bytes]] = []
    with bench_database("energyapp_bench") as db_url:
        try:
            tokens = asyncio.run(make_users(db_url, args.concurrency))
            stand_in, fake_port = start_stand_in(args.answer_tokens)
            procs.append(stand_in)
            app_port = free_port()
            env = app_env(
                db_url,
                fake_port,
                # Enough pooled connections for 50 streams: overflow connections are closed on
                # return, and a new asyncpg connection costs a handshake and cold statement caches.
                ENERGYAPP_DB_POOL_SIZE=str(max(10, args.concurrency)),
                ENERGYAPP_DB_MAX_OVERFLOW="20",
            )
            started = time.perf_counter()
            app = subprocess.Popen(  # stops the run early when the app exits at start-up
                [str(BIN / "energyapp"), "serve", "--port", str(app_port)], env=env, cwd=ROOT
            )
            procs.append(app)
            wait_http(f"http://127.0.0.1:{app_port}/health", 30, app)
            startup = time.perf_counter() - started
            rss = RssSampler(app.pid)
            fake_cpu = RssSampler(procs[0].pid)

            direct = Direct(fake_port)
            through = ThroughApp(app_port, tokens)

            async def run() -> dict[str, object]:
                await sequential_ttft(direct, 20)  # warm-up of both paths
                await sequential_ttft(through, 20)
                idle = rss.now()
                pause = args.pause_ms / 1000
                ttft_direct = await sequential_ttft(direct, args.ttft_samples, pause)
                cpu_before = rss.cpu_seconds()
                split_before = await histogram_totals(app_port)
                ttft_app = await sequential_ttft(through, args.ttft_samples, pause)
                split_after = await histogram_totals(app_port)
                await asyncio.sleep(0.5)  # the last title
                sequential_cpu = (rss.cpu_seconds() - cpu_before) / args.ttft_samples
                load_direct = Load(seconds=1.0, ttfts=[0.0])
                if not args.skip_direct:
                    fake_before = fake_cpu.cpu_seconds()
                    load_direct = await concurrent_load(direct, args.concurrency, args.seconds)
                    load_direct.cpu_seconds = fake_cpu.cpu_seconds() - fake_before
                spy = None
                if args.profile:
                    spy = start_py_spy(app.pid, args.profile, args.seconds, args.profile_rate)
                cpu_before = rss.cpu_seconds()
                load_app = await concurrent_load(through, args.concurrency, args.seconds, rss)
                load_app.cpu_seconds = rss.cpu_seconds() - cpu_before
                if spy is not None:
                    spy.wait(timeout=60)
                return {
                    "idle": idle,
                    "sequential_cpu": sequential_cpu,
                    "ttft_direct": ttft_direct,
                    "ttft_app": ttft_app,
                    "split": {k: split_after[k] - split_before.get(k, 0.0) for k in split_after},
                    "load_direct": load_direct,
                    "load_app": load_app,
                }

            try:
                import uvloop

                results = uvloop.run(run())
            except ImportError:
                results = asyncio.run(run())
            time.sleep(1.0)  # let the last answers' final saves land
            statuses = asyncio.run(answer_statuses(db_url))
            print_report(args, startup, rss, results, statuses)
        finally:
            stop_all(procs)


def print_report(
    args: argparse.Namespace,
    startup: float,
    rss: RssSampler,
    r: dict[str, object],
    statuses: dict[str, int],
) -> None:
    ttft_direct: list[float] = r["ttft_direct"]  # type: ignore[assignment]
    ttft_app: list[float] = r["ttft_app"]  # type: ignore[assignment]
    load_direct: Load = r["load_direct"]  # type: ignore[assignment]
    load_app: Load = r["load_app"]  # type: ignore[assignment]
    idle: int = r["idle"]  # type: ignore[assignment]
    mib = 2**20
    warm = 20 + args.ttft_samples  # answers before the load phase, all complete
    print(f"hardware: {hardware()}; PostgreSQL {asyncio.run(pg_version())}")
    print(f"load on the machine now (1/5/15 min): {os.getloadavg()}")
    print(f"answers: {args.answer_tokens} tokens, stand-in as fast as it can")
    print(f"start to healthy /health: {startup:.2f} s")
    print(
        "TTFT one stream, p50/p90 ms: "
        f"direct {pct(ttft_direct, 0.5):.2f}/{pct(ttft_direct, 0.9):.2f}"
        f"  via /chat {pct(ttft_app, 0.5):.2f}/{pct(ttft_app, 0.9):.2f}"
        f"  overhead p50 {pct(ttft_app, 0.5) - pct(ttft_direct, 0.5):.2f} ms"
        f"  (mean {statistics.mean(ttft_app) * 1000 - statistics.mean(ttft_direct) * 1000:.2f})"
    )
    split: dict[str, float] = r["split"]  # type: ignore[assignment]
    means = [split[f"{name}_sum"] / max(1.0, split[f"{name}_count"]) * 1000 for name in SPLIT]
    print(
        f"  inside the app, mean ms: handler to first token {means[0]:.2f} = waiting for a slot "
        f"{means[1]:.2f} + request to Ollama until its first token {means[2]:.2f} + the rest "
        f"{means[0] - means[1] - means[2]:.2f} (/metrics)"
    )
    for name, load in (("direct", load_direct), ("via /chat", load_app)):
        print(
            f"{args.concurrency} concurrent streams, {name}: {load.completed / load.seconds:.0f} "
            f"answers/s ({load.completed} in {load.seconds:.1f} s), {load.errors} errors, "
            f"TTFT p50 {pct(load.ttfts, 0.5):.1f} ms p99 {pct(load.ttfts, 0.99):.1f} ms"
        )
    sequential_cpu: float = r["sequential_cpu"]  # type: ignore[assignment]
    print(f"app CPU per answer, one stream at a time: {sequential_cpu * 1000:.2f} ms")
    if load_direct.completed:
        per_direct = load_direct.cpu_seconds / load_direct.completed * 1000
        print(f"stand-in CPU per direct answer: {per_direct:.2f} ms (calibration)")
    if load_app.completed:
        per_answer = load_app.cpu_seconds / load_app.completed * 1000
        print(
            f"app CPU during the /chat load: {load_app.cpu_seconds:.1f} s, {per_answer:.2f} ms per "
            f"answer (one core would sustain about {1000 / per_answer:.0f} answers/s)"
        )
    print(f"app RSS: idle {idle / mib:.0f} MiB, peak under load {rss.peak / mib:.0f} MiB")
    complete = statuses.get("complete", 0)
    print(
        f"database after the run: {statuses} (expected >= {warm + load_app.completed} complete;"
        f" {'OK' if complete >= warm + load_app.completed and len(statuses) == 1 else 'MISMATCH'})"
    )


if __name__ == "__main__":
    main()
