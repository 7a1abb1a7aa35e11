"""Streaming benchmark: the stand-in Ollama called directly and the same answers through
``POST /chat`` of one or more checkouts of the app, in one run.

    .venv/bin/python -m bench.stream                  # this checkout
    .venv/bin/python -m bench.stream . /work/base     # A/B: this checkout and another one
        [--seconds 10] [--concurrency 50] [--ttft-samples 200] [--rounds 2] [--starts 3]

Starts the stand-in (this checkout's; 64-token answers, as fast as it can) and, for each
checkout, a throwaway PostgreSQL database migrated and filled with users by that checkout's own
code, and its app (``python -m energyapp.cli serve`` with ``PYTHONPATH=<checkout>/src``, cwd
there, one process, this interpreter and its packages) with the queue and per-user limits
raised. Then, for the stand-in and every app:

- start to healthy: each app is started ``--starts`` times, the apps taking turns;
- time to first token at one stream, in blocks of 20 requests, the targets taking turns, so that
  all of them meet the same moments of a machine whose speed drifts;
- answers per second at ``--concurrency`` streams, ``--rounds`` phases of ``--seconds`` each,
  the apps' order swapped every round;
- the app's memory idle and under load, its CPU per answer, and whether every answer the client
  saw finish is stored ``complete`` in its database.

The client is a few lines of raw asyncio HTTP/1.1 so that it costs as little CPU as possible:
every target is measured with the same client. The report is printed and kept in
``bench/results/`` (not committed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import asyncpg
import httpx
import psutil
import uvloop

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = Path(os.environ.get("ENERGYAPP_BENCH_RESULTS", ROOT / "bench" / "results"))
PG_ADMIN = os.environ.get("ENERGYAPP_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Shared with the processes that make each checkout's users (``--prepare``).
SECRET = os.environ.get("ENERGYAPP_BENCH_SECRET") or secrets.token_urlsafe(48)
MODEL = "qwen2.5:3b-instruct"
BLOCK = 20  # one-stream requests in a row per target before the next target's turn
MB = 10**6  # the unit of the memory bounds (issue 5, issue 20)


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
                return Result(True, ttft, time.perf_counter() - started)
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
    phases: list[float] = field(default_factory=list)  # answers/s of each phase added

    def add(self, other: Load) -> None:
        self.phases.append(other.completed / other.seconds)
        self.completed += other.completed
        self.errors += other.errors
        self.seconds += other.seconds
        self.ttfts += other.ttfts
        self.cpu_seconds += other.cpu_seconds


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


def prepare(db_url: str, users: int) -> None:
    """``--prepare``: migrate ``db_url`` and make its users with the code on ``PYTHONPATH``; the
    tokens go to stdout as JSON."""
    from energyapp.core.migrate import upgrade

    upgrade(db_url)
    print(json.dumps(asyncio.run(make_users(db_url, users))))


def checkout_env(checkout: Path, **extra: str) -> dict[str, str]:
    """An environment in which ``import energyapp`` imports ``checkout``'s app."""
    # ``extra`` may be a copy of the environment (``app_env``), PYTHONPATH included.
    env = {**os.environ, "ENERGYAPP_BENCH_SECRET": SECRET, **extra}
    return {**env, "PYTHONPATH": str(checkout / "src")}


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
    # enough CPU to delay each poll and to slow down the app that is starting.
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
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = psutil.virtual_memory().total / 2**30
    return (
        f"{model}, {psutil.cpu_count()} logical CPUs, {ram:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


class _Tee(io.TextIOBase):
    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@contextlib.contextmanager
def recorded(name: str) -> Iterator[Path]:
    """Print to the terminal and to ``bench/results/<name>-<UTC time>.txt``, which starts with
    the command, the time and the commit."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    path = RESULTS / f"{name}-{now:%Y-%m-%d-%H%M%S}.txt"
    with (
        path.open("w", encoding="utf-8") as file,
        contextlib.redirect_stdout(_Tee(sys.stdout, file)),
    ):
        command = " ".join([f"bench/{name}.py", *sys.argv[1:]])
        print(f"$ {command}   # {now:%Y-%m-%dT%H:%M:%SZ}, at {revision(ROOT)}")
        yield path
    print(f"(kept in {path})", file=sys.stderr)


def revision(checkout: Path) -> str:
    """The commit of ``checkout``, with ``-dirty`` when its tracked files have changed."""
    done = subprocess.run(
        ["git", "-C", str(checkout), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "?"


@contextlib.contextmanager
def bench_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped at the end; its URL."""
    db_name = f"{prefix}_{secrets.token_hex(4)}"
    db_url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{db_name}?sslmode=disable"
    asyncio.run(pg(f'CREATE DATABASE "{db_name}"'))
    try:
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


# --- one app under test ----------------------------------------------------------------------


@dataclass
class App:
    """One checkout's app and what was measured of it."""

    name: str
    checkout: Path
    db_url: str
    tokens: list[str]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    rss: RssSampler | None = None
    starts: list[float] = field(default_factory=list)
    idle: int = 0
    ttft: list[float] = field(default_factory=list)
    sequential_cpu: float = 0.0
    split: dict[str, float] = field(default_factory=dict)
    load: Load = field(default_factory=Load)
    statuses: dict[str, int] = field(default_factory=dict)

    def start(self, stand_in_port: int, pool_size: int) -> None:
        """(Re)start the app; records the seconds to a healthy ``/health``."""
        self.stop()
        self.port = free_port()
        env = checkout_env(
            self.checkout,
            **app_env(
                self.db_url,
                stand_in_port,
                ENERGYAPP_DB_POOL_SIZE=str(pool_size),
                ENERGYAPP_DB_MAX_OVERFLOW="20",
            ),
        )
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "energyapp.cli", "serve", "--port", str(self.port)],
            env=env,
            cwd=self.checkout,
        )
        wait_http(f"http://127.0.0.1:{self.port}/health", 30, self.proc)
        self.starts.append(time.perf_counter() - started)
        self.rss = RssSampler(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None:
            stop_all([self.proc])
            self.proc = None

    def target(self) -> ThroughApp:
        return ThroughApp(self.port, self.tokens)

    @property
    def sampler(self) -> RssSampler:
        assert self.rss is not None, "the app is not running"
        return self.rss


def turns(apps: list[App], round_: int) -> list[App]:
    """The apps in the order of this round: swapped every round."""
    return apps if round_ % 2 == 0 else apps[::-1]


@dataclass
class Run:
    direct_ttft: list[float] = field(default_factory=list)
    direct_load: Load = field(default_factory=Load)


async def measure(
    args: argparse.Namespace, apps: list[App], stand_in: RssSampler, port: int
) -> Run:
    run = Run()
    direct = Direct(port)
    pause = args.pause_ms / 1000
    await sequential_ttft(direct, BLOCK)  # warm-up of every path
    for app in apps:
        await sequential_ttft(app.target(), BLOCK)
        app.idle = app.sampler.now()

    before = {
        app.name: (app.sampler.cpu_seconds(), await histogram_totals(app.port)) for app in apps
    }
    for block in range(-(-args.ttft_samples // BLOCK)):
        samples = min(BLOCK, args.ttft_samples - block * BLOCK)
        run.direct_ttft += await sequential_ttft(direct, samples, pause)
        for app in turns(apps, block):
            app.ttft += await sequential_ttft(app.target(), samples, pause)
    await asyncio.sleep(0.5)  # the last automatic titles
    for app in apps:
        cpu, split = before[app.name]
        app.sequential_cpu = (app.sampler.cpu_seconds() - cpu) / args.ttft_samples
        after = await histogram_totals(app.port)
        app.split = {k: after[k] - split.get(k, 0.0) for k in after}

    for round_ in range(args.rounds):
        cpu = stand_in.cpu_seconds()
        load = await concurrent_load(direct, args.concurrency, args.seconds)
        load.cpu_seconds = stand_in.cpu_seconds() - cpu
        run.direct_load.add(load)
        for app in turns(apps, round_):
            await asyncio.sleep(1.0)  # the previous phase's last saves and titles
            spy = None
            if args.profile and round_ == 0 and app is apps[0]:
                pid = app.sampler.process.pid
                spy = start_py_spy(pid, args.profile, args.seconds, args.profile_rate)
            cpu = app.sampler.cpu_seconds()
            load = await concurrent_load(app.target(), args.concurrency, args.seconds, app.rss)
            load.cpu_seconds = app.sampler.cpu_seconds() - cpu
            app.load.add(load)
            if spy is not None:
                spy.wait(timeout=60)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "checkouts",
        nargs="*",
        type=Path,
        default=[ROOT],
        help="checkouts of the app to measure (default: this one)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of a load phase")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--ttft-samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="load phases per target")
    parser.add_argument("--starts", type=int, default=3, help="starts per app")
    parser.add_argument("--answer-tokens", type=int, default=64)
    parser.add_argument(
        "--db-pool-size",
        type=int,
        default=25,
        help="ENERGYAPP_DB_POOL_SIZE of each app (overflow 20): two apps at 50 streams stay "
        "under PostgreSQL's default of 100 connections",
    )
    parser.add_argument("--pause-ms", type=float, default=0.0, help="between one-stream requests")
    parser.add_argument(
        "--profile", metavar="SVG", help="py-spy of the first app during its first load phase"
    )
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--prepare", nargs=2, metavar=("DB_URL", "USERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare[0], int(args.prepare[1]))
        return
    checkouts = [Path(c).resolve() for c in args.checkouts]
    for checkout in checkouts:
        if not (checkout / "src" / "energyapp").is_dir():
            parser.error(f"{checkout} is not a checkout of this project (no src/energyapp)")

    with contextlib.ExitStack() as stack:
        apps = []
        for index, checkout in enumerate(checkouts):
            db_url = stack.enter_context(bench_database("energyapp_bench_stream"))
            # This file, by its path: ``-m bench.stream`` in the other checkout would be its own.
            done = subprocess.run(
                [
                    sys.executable,
                    Path(__file__).resolve(),
                    "--prepare",
                    db_url,
                    str(args.concurrency),
                ],
                env=checkout_env(checkout),
                cwd=checkout,
                stdout=subprocess.PIPE,
                check=True,
            )
            name = chr(ord("A") + index)
            apps.append(App(name, checkout, db_url, json.loads(done.stdout)))
        stand_in_proc, stand_in_port = start_stand_in(args.answer_tokens)
        stack.callback(stop_all, [stand_in_proc])
        for app in apps:
            stack.callback(app.stop)
        load_before = os.getloadavg()
        for round_ in range(args.starts):
            for app in turns(apps, round_):
                app.start(stand_in_port, args.db_pool_size)
        stand_in = RssSampler(stand_in_proc.pid)
        run = uvloop.run(measure(args, apps, stand_in, stand_in_port))
        time.sleep(1.0)  # let the last answers' final saves land
        for app in apps:
            app.stop()  # and its pooled connections closed
            app.statuses = asyncio.run(answer_statuses(app.db_url))
        with recorded("stream"):
            print_report(args, apps, run, load_before)


def print_report(
    args: argparse.Namespace, apps: list[App], run: Run, load_before: tuple[float, ...]
) -> None:
    direct_p50 = pct(run.direct_ttft, 0.5)
    print(f"hardware: {hardware()}; PostgreSQL {asyncio.run(pg_version())}")
    print(f"load on the machine (1/5/15 min): before {load_before}, after {os.getloadavg()}")
    print(
        f"answers: {args.answer_tokens} tokens, stand-in as fast as it can; one stream: "
        f"{args.ttft_samples} answers per target in blocks of {BLOCK}; {args.concurrency} "
        f"streams: {args.rounds} phases of {args.seconds:g} s per target; database pool "
        f"{args.db_pool_size} + 20 per app"
    )
    print(
        f"stand-in directly: TTFT p50/p90 {direct_p50:.2f}/{pct(run.direct_ttft, 0.9):.2f} ms; "
        f"{answers_line(run.direct_load)}"
    )
    if run.direct_load.completed:
        per_answer = run.direct_load.cpu_seconds / run.direct_load.completed * 1000
        print(f"  stand-in CPU per direct answer: {per_answer:.2f} ms (calibration)")
    rows = []
    for app in apps:
        print(f"\n{app.name} = {app.checkout} at {revision(app.checkout)}")
        starts = ", ".join(f"{s:.2f}" for s in app.starts)
        start = statistics.median(app.starts)
        print(f"  start to healthy /health: median {start:.2f} s ({starts})")
        overhead = pct(app.ttft, 0.5) - direct_p50
        mean = (statistics.mean(app.ttft) - statistics.mean(run.direct_ttft)) * 1000
        print(
            f"  TTFT one stream via /chat, p50/p90 {pct(app.ttft, 0.5):.2f}/"
            f"{pct(app.ttft, 0.9):.2f} ms: overhead p50 {overhead:.2f} ms (mean {mean:.2f})"
        )
        means = [
            app.split[f"{name}_sum"] / max(1.0, app.split[f"{name}_count"]) * 1000 for name in SPLIT
        ]
        print(
            f"  inside the app, mean ms: handler to first token {means[0]:.2f} = waiting for a "
            f"slot {means[1]:.2f} + request to Ollama until its first token {means[2]:.2f} + the "
            f"rest {means[0] - means[1] - means[2]:.2f} (/metrics)"
        )
        print(f"  {answers_line(app.load)}")
        if app.load.completed:
            per_answer = app.load.cpu_seconds / app.load.completed * 1000
            print(
                f"  app CPU per answer: {app.sequential_cpu * 1000:.2f} ms one stream at a time, "
                f"{per_answer:.2f} ms under load (one core: about {1000 / per_answer:.0f} "
                "answers/s)"
            )
        peak = app.sampler.peak
        print(f"  RSS: idle {app.idle / MB:.0f} MB, peak under load {peak / MB:.0f} MB")
        expected = BLOCK + args.ttft_samples + app.load.completed  # warm-up, one stream, load
        complete = app.statuses.get("complete", 0)
        verdict = "OK" if complete >= expected and len(app.statuses) == 1 else "MISMATCH"
        print(
            f"  database after the run: {app.statuses} (expected >= {expected} complete: {verdict})"
        )
        throughput = app.load.completed / app.load.seconds if app.load.seconds else 0.0
        rows.append(
            f"| {app.name} `{revision(app.checkout)}` | {overhead:.2f} ms | {throughput:.0f} | "
            f"{app.idle / MB:.0f} MB | {peak / MB:.0f} MB | {start:.2f} s | "
            f"{app.load.errors} | {verdict} |"
        )
        if app is not apps[0] and apps[0].load.completed:
            share = throughput / (apps[0].load.completed / apps[0].load.seconds) * 100
            print(f"  answers/s at {args.concurrency} streams: {share:.0f} % of A's")
    print(
        "\n| app | TTFT overhead p50 | answers/s at "
        f"{args.concurrency} streams | idle RSS | load RSS | start to healthy | errors | database |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


def answers_line(load: Load) -> str:
    rate = load.completed / load.seconds if load.seconds else 0.0
    phases = ", ".join(f"{phase:.0f}" for phase in load.phases)
    return (
        f"{rate:.0f} answers/s ({load.completed} in {load.seconds:.1f} s; phases {phases}), "
        f"{load.errors} errors, TTFT p50 {pct(load.ttfts, 0.5):.1f} ms p99 "
        f"{pct(load.ttfts, 0.99):.1f} ms"
    )


if __name__ == "__main__":
    main()
