"""The harness itself (tests/multiproc.py): instances share the database and Redis, and can be
killed and restarted."""

from __future__ import annotations

import signal

import httpx
import pytest
import redis

from tests.conftest import UserFactory
from tests.multiproc import ClusterFactory

pytestmark = pytest.mark.postgres_only

PASSWORD = "Clave-de-prueba-42"


async def test_instances_share_database_and_redis_and_survive_a_kill(
    start_cluster: ClusterFactory, make_user: UserFactory
) -> None:
    cluster = start_cluster(2)
    first, second = cluster.instances
    user = await make_user(password=PASSWORD)
    # A session opened through one instance is valid on the other (same database and key).
    headers = await cluster.login(user.email, PASSWORD, via=0)
    async with httpx.AsyncClient(base_url=second.url) as client:
        me = await client.get("/auth/me", headers=headers)
        health = (await client.get("/health")).json()
    assert me.status_code == 200 and me.json()["email"] == user.email
    assert health["redis"] == "ok"
    # The claimed Redis database is the instances' own: a failed login is counted there.
    assert cluster.redis_url.rsplit("/", 1)[1] != "0"
    async with httpx.AsyncClient(base_url=second.url) as client:
        wrong = await client.post("/auth/login", json={"email": user.email, "password": "x" * 12})
    assert wrong.status_code == 401
    with redis.Redis.from_url(cluster.redis_url) as shared:
        assert shared.dbsize() > 0

    first.kill()
    assert first.wait_exit(10) == -signal.SIGKILL and not first.alive
    restarted = cluster.restart(first)
    assert restarted.port == first.port and restarted.alive
    assert cluster.instances == [restarted, second]
    async with httpx.AsyncClient(base_url=restarted.url) as client:
        assert (await client.get("/auth/me", headers=headers)).status_code == 200
