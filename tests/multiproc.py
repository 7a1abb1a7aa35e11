"""Several real app processes sharing one PostgreSQL database and one Redis: the harness for the
multi-process tests (the chat broker, /metrics across workers, Caddy in front of several
instances).

What it starts, every process in its own session and every wait bounded:

* a stand-in Ollama (``python -m energyapp.llm.fake_server``) that every app process talks to;
* N ``energyapp serve`` processes on free loopback ports, each a separate instance as the systemd
  template runs them (``energyapp@8001``, ``energyapp@8002``...), on the test run's migrated
  database (``db_url``) with ``ENERGYAPP_REDIS_URL`` pointing at a Redis database number claimed
  for this cluster alone (``redis://127.0.0.1:6379/<n>``): it is emptied before and after, and
  no other run on the machine uses it meanwhile.

Use it through the ``start_cluster`` fixture (a factory: ``await``-free, returns a ``Cluster``)
or the ``cluster`` fixture (two instances with the defaults). Both are registered for every test
by ``pytest_plugins`` in tests/conftest.py and need ``ENERGYAPP_TEST_DB=postgres`` (mark the test
``postgres_only``)::

    pytestmark = pytest.mark.postgres_only

    async def test_reattach_elsewhere(start_cluster: ClusterFactory, make_user: UserFactory):
        cluster = start_cluster(2, env={"ENERGYAPP_MAX_QUEUE": "5"}, answer_tokens=64)
        user = await make_user(password=PASSWORD)
        a, b = cluster.instances
        headers = await cluster.login(user.email, PASSWORD)      # through instance 0
        async with httpx.AsyncClient(base_url=a.url) as client:
            ...
        a.kill()                      # SIGKILL: as `kill -9` (a.terminate() is SIGTERM)
        a.wait_exit()
        cluster.restart(a)            # a new process on the same port, waits for /health

Each instance writes its Prometheus files to ``<workdir>/metrics-<port>`` (what
``energyapp@<port>`` gets under /run). ``Instance.terminate()`` sends SIGTERM to the process
(uvicorn's graceful shutdown, and the chat engine's drain), ``Instance.kill()`` SIGKILL;
``Instance.log`` holds its output, which ``Cluster.logs()`` gathers for an assertion message.
``Cluster.redis_url`` and ``Cluster.ollama`` are there for tests that look at Redis or the
stand-in directly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

ENERGYAPP_BIN = Path(sys.executable).parent / "energyapp"
REDIS_BASE_URL = os.environ.get("ENERGYAPP_TEST_REDIS_URL", "redis://127.0.0.1:6379")
CLUSTER_SECRET = "cluster-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
# Claims of Redis database numbers, kept in database 0 so that parallel runs never share one.
_CLAIM_KEY = "energyapp-tests:claim:db{}"
_CLAIM_SECONDS = 3600


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(args: list[str | Path], log: Path, **kwargs: object) -> subprocess.Popen[bytes]:
    """A process in its own session (so that stop() ends its children too), output to ``log``."""
    handle = log.open("ab")
    try:
        return subprocess.Popen(  # noqa: S603 - our own servers
            [str(a) for a in args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kwargs,  # type: ignore[call-overload]
        )
    finally:
        handle.close()


def stop(
    proc: subprocess.Popen[bytes], timeout: float = 15, sig: signal.Signals = signal.SIGTERM
) -> None:
    """``sig`` (SIGTERM) to the process group, SIGKILL after ``timeout``."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{url}: the process exited {proc.returncode}\n{log.read_text()[-3000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {timeout} s\n{log.read_text()[-3000:]}")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def running_fake_ollama(
    workdir: Path, tokens_per_second: float = 25, answer_tokens: int = 24
) -> Iterator[Server]:
    """The stand-in Ollama on a free port, stopped on exit."""
    log = workdir / "fake-ollama.log"
    port = free_port()
    args: list[str | Path] = [sys.executable, "-m", "energyapp.llm.fake_server"]
    args += ["--port", str(port), "--tokens-per-second", str(tokens_per_second)]
    args += ["--answer-tokens", str(answer_tokens)]
    proc = start(args, log)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/api/version", proc, log)
        yield Server(proc, port, log)
    finally:
        # Its streams keep pacing out tokens nobody reads once the app has left, and uvicorn's
        # graceful shutdown would wait for the longest (up to the 15 s before SIGKILL).
        stop(proc, timeout=2)


@contextmanager
def claimed_redis_db() -> Iterator[str]:
    """The URL of a Redis database number (1-15) no other test run uses meanwhile, emptied
    before and after."""
    admin = redis.Redis.from_url(f"{REDIS_BASE_URL}/0")
    try:
        for number in range(1, 16):
            key = _CLAIM_KEY.format(number)
            if admin.set(key, os.getpid(), nx=True, ex=_CLAIM_SECONDS):
                break
        else:
            pytest.fail("every Redis database 1-15 is claimed by other test runs")
        url = f"{REDIS_BASE_URL}/{number}"
        own = redis.Redis.from_url(url)
        try:
            own.flushdb()
            yield url
        finally:
            own.flushdb()
            own.close()
            admin.delete(key)
    finally:
        admin.close()


@dataclass
class Instance(Server):
    """One ``energyapp serve`` process of a cluster."""

    def terminate(self) -> None:
        """SIGTERM, as systemd stops a unit: graceful shutdown (returns at once)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the whole process group, as ``kill -9`` or a crash (returns at once)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)

    def wait_exit(self, timeout: float = 60) -> int:
        """Wait for the process to end and return its exit status."""
        return self.proc.wait(timeout)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Cluster:
    db_url: str
    redis_url: str
    ollama: Server
    workdir: Path
    env: dict[str, str]
    instances: list[Instance] = field(default_factory=list)

    def launch(self, port: int | None = None) -> Instance:
        """A new instance (on ``port``, or a free one) serving once this returns."""
        port = port or free_port()
        log = self.workdir / f"instance-{port}.log"
        args: list[str | Path] = [ENERGYAPP_BIN, "serve", "--host", "127.0.0.1"]
        args += ["--port", str(port)]
        # Each instance's own metrics directory, as the systemd template gives it (kept after a
        # kill, for a test to look at; emptied when an instance starts on the port again).
        env = self.env | {"PROMETHEUS_MULTIPROC_DIR": str(self.workdir / f"metrics-{port}")}
        proc = start(args, log, cwd=self.workdir, env=env)
        instance = Instance(proc, port, log)
        try:
            wait_until_up(f"{instance.url}/health", proc, log)
        except BaseException:
            stop(proc)
            raise
        self.instances.append(instance)
        return instance

    def restart(self, instance: Instance, timeout: float = 60) -> Instance:
        """Stop ``instance`` (SIGTERM, then SIGKILL after ``timeout``) and start a new process on
        its port, which takes its place in ``instances``."""
        stop(instance.proc, timeout)
        index = self.instances.index(instance)
        self.instances.remove(instance)
        new = self.launch(instance.port)
        self.instances.remove(new)
        self.instances.insert(index, new)
        return new

    async def login(self, email: str, password: str, via: int = 0) -> dict[str, str]:
        """The Authorization header of a fresh session, logged in through instance ``via``."""
        async with httpx.AsyncClient(base_url=self.instances[via].url, timeout=30) as client:
            response = await client.post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def logs(self) -> str:
        """The tail of every instance's output, for an assertion message."""
        return "\n".join(
            f"--- {i.log.name}\n{i.log.read_text()[-2000:]}"
            for i in self.instances
            if i.log.exists()
        )

    def stop_all(self) -> None:
        """The end of a test: every instance told at once, with SIGINT. That is uvicorn's
        graceful shutdown and the answers' drain without the pause for Caddy that SIGTERM starts
        first (``shutdown_delay``, 5 s an instance); tests about that pause use ``terminate()``."""
        running = [i.proc for i in self.instances if i.proc.poll() is None]
        for proc in running:
            os.killpg(proc.pid, signal.SIGINT)
        for proc in running:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def cluster_env(
    db_url: str, redis_url: str, ollama: Server, extra: dict[str, str]
) -> dict[str, str]:
    """What every instance of a cluster shares: database, Redis, secret key and model server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENERGYAPP_", "PROMETHEUS_"))}
    env |= {
        "ENERGYAPP_ENV": "test",
        "ENERGYAPP_SECRET_KEY": CLUSTER_SECRET,
        "ENERGYAPP_DB_URL": db_url,
        "ENERGYAPP_REDIS_URL": redis_url,
        "ENERGYAPP_OLLAMA_URL": ollama.url,
        "ENERGYAPP_FAKE_OLLAMA_AUTOSTART": "false",
        "ENERGYAPP_LOG_LEVEL": "WARNING",
    }
    return env | extra


ClusterFactory = Callable[..., Cluster]


@pytest.fixture
def start_cluster(
    db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClusterFactory]:
    """``start_cluster(n=2, env={...}, tokens_per_second=25, answer_tokens=24)``: a stand-in
    Ollama, a claimed Redis database and ``n`` app instances; all stopped after the test."""
    with ExitStack() as stack:

        def _start(
            n: int = 2,
            env: dict[str, str] | None = None,
            tokens_per_second: float = 25,
            answer_tokens: int = 24,
        ) -> Cluster:
            workdir = tmp_path_factory.mktemp("cluster")
            ollama = stack.enter_context(
                running_fake_ollama(workdir, tokens_per_second, answer_tokens)
            )
            redis_url = stack.enter_context(claimed_redis_db())
            cluster = Cluster(
                db_url,
                redis_url,
                ollama,
                workdir,
                cluster_env(db_url, redis_url, ollama, env or {}),
            )
            stack.callback(cluster.stop_all)
            for _ in range(n):
                cluster.launch()
            return cluster

        yield _start


@pytest.fixture
def cluster(start_cluster: ClusterFactory) -> Cluster:
    """Two app instances sharing the test database, a Redis database and a stand-in Ollama."""
    return start_cluster(2)
