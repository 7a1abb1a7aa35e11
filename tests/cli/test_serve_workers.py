"""`energyapp serve --workers 2` with Redis: two real uvicorn worker processes, and /metrics sums
what both counted (prometheus-client's multiprocess mode), whichever worker answers the scrape."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.multiproc import claimed_redis_db, free_port, start, stop, wait_until_up

ENERGYAPP_BIN = Path(sys.executable).parent / "energyapp"
HEALTH = 'energyapp_http_requests_total{method="GET",route="/health",status="200"}'


def _health_count(path: Path) -> float:
    """/health requests counted in one worker's file (none yet: a worker still starting)."""
    total = 0.0
    if not path.exists():
        return total
    for metric in MultiProcessCollector.merge([str(path)], accumulate=True):
        for sample in metric.samples:
            if (
                sample.name == "energyapp_http_requests_total"
                and sample.labels["route"] == "/health"
            ):
                total += sample.value
    return total


def _per_worker(metrics_dir: Path, worker_pids: set[int]) -> dict[int, float]:
    return {pid: _health_count(metrics_dir / f"counter_{pid}.db") for pid in worker_pids}


def _scraped(text: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(HEALTH))
    return float(line.split()[-1])


def _is_worker(child: psutil.Process) -> bool:
    """A uvicorn worker (not multiprocessing's resource tracker), alive."""
    try:
        return "spawn_main" in " ".join(child.cmdline())
    except psutil.Error:  # a worker just killed: a zombie until uvicorn reaps it
        return False


def _worker_pids(serve: psutil.Process, count: int) -> set[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = {child.pid for child in serve.children() if _is_worker(child)}
        if len(pids) == count:
            return pids
        time.sleep(0.1)
    pytest.fail(f"expected {count} workers, found {serve.children()}")


async def _burst(url: str, n: int) -> None:
    """``n`` requests at once, each on its own connection, so the kernel spreads them."""
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        responses = await asyncio.gather(*(client.get("/health") for _ in range(n)))
    assert {r.status_code for r in responses} == {200}


@pytest.fixture
def two_workers(db_url: str, tmp_path: Path) -> Iterator[tuple[str, psutil.Process, Path]]:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # Left by an earlier run: `serve` must start from an empty directory, or it would be summed.
    (metrics_dir / "counter_4242.db").write_bytes(b"stale values of a previous run")
    port = free_port()
    with claimed_redis_db() as redis_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")}
        env |= {
            "ENERGYAPP_DB_URL": db_url,
            "ENERGYAPP_REDIS_URL": redis_url,
            "ENERGYAPP_FAKE_OLLAMA_AUTOSTART": "false",
            "ENERGYAPP_OLLAMA_URL": "http://127.0.0.1:9",
            "ENERGYAPP_LOG_LEVEL": "WARNING",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        args: list[str | Path] = [ENERGYAPP_BIN, "serve", "--port", str(port), "--workers", "2"]
        log = tmp_path / "serve.log"
        proc = start(args, log, cwd=tmp_path, env=env)
        try:
            wait_until_up(f"http://127.0.0.1:{port}/health", proc, log)
            yield f"http://127.0.0.1:{port}", psutil.Process(proc.pid), metrics_dir
        finally:
            stop(proc, timeout=40)
    assert proc.returncode == 0, log.read_text()[-3000:]


async def test_metrics_sum_both_workers(two_workers: tuple[str, psutil.Process, Path]) -> None:
    url, serve, metrics_dir = two_workers
    assert not (metrics_dir / "counter_4242.db").exists()
    workers = _worker_pids(serve, 2)
    await asyncio.sleep(0.5)  # the readiness probe above may have been counted by either worker
    sent = sum(_per_worker(metrics_dir, workers).values())
    # Until each worker has served some: the kernel hands connections out unevenly.
    for _ in range(20):
        await _burst(url, 20)
        sent += 20
        counts = _per_worker(metrics_dir, workers)
        if all(counts.values()):
            break
    assert all(counts.values()), counts
    assert sum(counts.values()) == sent
    async with httpx.AsyncClient(
        base_url=url, limits=httpx.Limits(max_keepalive_connections=0)
    ) as c:
        scrapes = [(await c.get("/metrics")).text for _ in range(6)]
    # Every scrape, whichever worker answered it, shows the requests of both.
    assert {_scraped(text) for text in scrapes} == {sent}
    assert "energyapp_generations_running 0.0" in scrapes[0]

    # A worker killed outright: uvicorn starts another; its counts stay in the sum, and its live
    # gauges are dropped when the new worker starts (it could not do it itself).
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    replacement = _wait_replaced(serve, workers, victim, metrics_dir)
    assert (metrics_dir / f"counter_{victim}.db").exists()
    assert (metrics_dir / f"gauge_livesum_{replacement}.db").exists()
    async with httpx.AsyncClient(base_url=url) as client:
        after = _scraped((await client.get("/metrics")).text)
    assert after >= sent


def _wait_replaced(serve: psutil.Process, workers: set[int], victim: int, metrics_dir: Path) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = _worker_pids(serve, 2) - workers
        if new and not (metrics_dir / f"gauge_livesum_{victim}.db").exists():
            return new.pop()
        time.sleep(0.1)
    pytest.fail(f"the killed worker was not replaced and forgotten: {os.listdir(metrics_dir)}")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_removes_the_metrics_dir_it_made(db_url: str, tmp_path: Path, workers: int) -> None:
    """Without PROMETHEUS_MULTIPROC_DIR, `serve` makes a temporary directory and removes it on
    SIGTERM, also with one worker, whose uvicorn ends by re-raising the signal."""
    port = free_port()
    with claimed_redis_db() as redis_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env |= {
            "ENERGYAPP_DB_URL": db_url,
            "ENERGYAPP_REDIS_URL": redis_url,
            "ENERGYAPP_FAKE_OLLAMA_AUTOSTART": "false",
            "ENERGYAPP_LOG_LEVEL": "WARNING",
            "TMPDIR": str(tmp_path),
        }
        args: list[str | Path] = [ENERGYAPP_BIN, "serve", "--port", str(port)]
        log = tmp_path / "serve.log"
        proc = start([*args, "--workers", str(workers)], log, cwd=tmp_path, env=env)
        try:
            wait_until_up(f"http://127.0.0.1:{port}/health", proc, log)
            made = list(tmp_path.glob("energyapp-metrics-*"))
            assert len(made) == 1 and list(made[0].glob("counter_*.db")), made
            proc.send_signal(signal.SIGTERM)
            status = proc.wait(40)
        finally:
            stop(proc)
    # One worker: killed by the re-raised SIGTERM, as systemd expects; several: the supervisor
    # returns.
    assert status == (-signal.SIGTERM if workers == 1 else 0), log.read_text()[-2000:]
    assert not made[0].exists()
