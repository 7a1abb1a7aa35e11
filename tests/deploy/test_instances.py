"""Several instances behind a real Caddy started from deploy/Caddyfile: two real app processes
sharing PostgreSQL and Redis (tests/multiproc.py). Requests go on succeeding while one instance
is stopped, and an instance whose /health is not 2xx (draining) gets no new requests."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import UserFactory
from tests.deploy.conftest import running_caddy
from tests.multiproc import ClusterFactory, free_port, start, stop, wait_until_up

pytestmark = [pytest.mark.deploy, pytest.mark.postgres_only]

PASSWORD = "Clave-de-prueba-42"
HEALTH_INTERVAL = 2.0  # health_interval in deploy/Caddyfile

# An instance that is draining: /health answers 503, anything else says who answered.
DRAINING_STUB = """\
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        draining = self.path == "/health"
        body = b'{"status":"draining","draining":true}' if draining else b'{"served_by":"stub"}'
        self.send_response(503 if draining else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _served_config(metrics: str) -> float:
    """/config/public requests an instance counted (its own /metrics, scraped directly)."""
    prefix = 'energyapp_http_requests_total{method="GET",route="/config/public",status="200"}'
    lines = [line for line in metrics.splitlines() if line.startswith(prefix)]
    return float(lines[0].split()[-1]) if lines else 0.0


async def test_requests_survive_a_stopped_instance(
    start_cluster: ClusterFactory, make_user: UserFactory, tmp_path: Path
) -> None:
    cluster = start_cluster(2)
    user = await make_user(password=PASSWORD)
    first, second = cluster.instances
    with running_caddy([first.port, second.port], tmp_path) as proxy:
        async with httpx.AsyncClient(base_url=proxy.url, timeout=30) as client:
            health = (await client.get("/health")).json()
            assert health["redis"] == "ok" and health["db"] == "ok", health
            # Both instances take part: least_conn over fresh connections reaches each.
            limits = httpx.Limits(max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=proxy.url, limits=limits) as fresh:
                spread = await asyncio.gather(*(fresh.get("/config/public") for _ in range(20)))
            assert {r.status_code for r in spread} == {200}
            async with httpx.AsyncClient() as direct:
                counts = [
                    _served_config((await direct.get(f"{i.url}/metrics")).text)
                    for i in cluster.instances
                ]
            assert all(counts) and sum(counts) == 20, counts

            # One instance goes away (SIGTERM, as systemd stops it). Requests without a body are
            # retried on the other one at once, before Caddy's health check has noticed...
            first.terminate()
            # uvicorn ends a clean shutdown by re-raising the signal, as systemd expects.
            assert first.wait_exit(60) == -signal.SIGTERM, first.log.read_text()[-2000:]
            reads = [(await client.get("/config/public")).status_code for _ in range(10)]
            assert reads == [200] * 10, (reads, cluster.logs())
            # ...and once it has (one health interval plus its timeout), every request, a login
            # (a POST) included, goes to the instance left.
            await asyncio.sleep(2 * HEALTH_INTERVAL + 0.5)
            statuses = []
            for _ in range(10):
                statuses.append((await client.get("/config/public")).status_code)
                login = await client.post(
                    "/auth/login", json={"email": user.email, "password": PASSWORD}
                )
                statuses.append(login.status_code)
            assert statuses == [200] * 20, (statuses, cluster.logs())
            assert (await client.get("/health")).status_code == 200


async def test_a_draining_instance_gets_no_new_requests(
    start_cluster: ClusterFactory, tmp_path: Path
) -> None:
    """Caddy's active health check takes an instance whose /health is 503 (draining for an
    update) out of the rotation, though it still accepts connections."""
    cluster = start_cluster(1)
    (tmp_path / "stub.py").write_text(DRAINING_STUB)
    stub_port = free_port()
    log = tmp_path / "stub.log"
    stub = start([sys.executable, tmp_path / "stub.py", str(stub_port)], log)
    try:
        wait_until_up(f"http://127.0.0.1:{stub_port}/config/public", stub, log)
        upstreams = [cluster.instances[0].port, stub_port]
        (tmp_path / "caddy").mkdir()
        with running_caddy(upstreams, tmp_path / "caddy") as proxy:
            # The first health checks run as Caddy starts; leave them a round to finish.
            await asyncio.sleep(HEALTH_INTERVAL + 0.5)
            limits = httpx.Limits(max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=proxy.url, limits=limits, timeout=30) as client:
                answers = await asyncio.gather(*(client.get("/config/public") for _ in range(20)))
    finally:
        stop(stub)
    assert {r.status_code for r in answers} == {200}
    assert not [r for r in answers if "served_by" in r.text], "the draining instance was used"
