"""deploy/redis-energyapp.conf loaded by a real redis-server the way scripts/deploy.sh installs
it: included last from Debian's /etc/redis/redis.conf."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.deploy.conftest import DEPLOY, SCRIPTS, need
from tests.multiproc import free_port, start, stop

pytestmark = [pytest.mark.deploy, pytest.mark.no_database]

DEBIAN_CONF = Path("/etc/redis/redis.conf")


@pytest.fixture
def kit_redis(tmp_path: Path) -> Iterator[redis.Redis]:
    need("redis-server")
    conf = tmp_path / "redis.conf"
    base = DEBIAN_CONF.read_text() if DEBIAN_CONF.exists() else ""
    include = (SCRIPTS / "deploy.sh").read_text()
    assert "include /etc/redis/energyapp.conf" in include, "deploy.sh no longer includes the kit's"
    conf.write_text(f"{base}\ninclude {DEPLOY / 'redis-energyapp.conf'}\n")
    port = free_port()
    # Only what a test must change, after the files: port, no daemon, files in the test's dir.
    args: list[str | Path] = ["redis-server", conf, "--port", str(port), "--daemonize", "no"]
    args += ["--dir", tmp_path, "--pidfile", tmp_path / "redis.pid", "--logfile", ""]
    log = tmp_path / "redis.log"
    proc = start(args, log)
    client = redis.Redis(port=port)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(log.read_text()[-2000:])
                time.sleep(0.05)
        yield client
    finally:
        client.close()
        stop(proc)


def test_redis_is_bounded_loopback_and_never_evicts(kit_redis: redis.Redis) -> None:
    config = kit_redis.config_get("*")
    assert config["bind"] == "127.0.0.1 -::1"
    assert config["protected-mode"] == "yes"
    assert int(config["maxmemory"]) == 256 * 1024 * 1024
    assert config["maxmemory-policy"] == "noeviction"
    assert config["save"] == "" and config["appendonly"] == "no"


def test_full_redis_refuses_writes_instead_of_dropping_keys(kit_redis: redis.Redis) -> None:
    """A lease (a key with a TTL) is kept when memory runs out; the new write is refused."""
    kit_redis.set("lease", "owner", ex=60)
    kit_redis.config_set("maxmemory", str(kit_redis.info("memory")["used_memory"] + 64 * 1024))
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        for i in range(10_000):
            kit_redis.xadd("answer", {"token": "x" * 512, "i": i})
    assert kit_redis.get("lease") == b"owner"
