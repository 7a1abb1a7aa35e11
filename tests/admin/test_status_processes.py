"""GET /admin/status with several app processes (the Redis broker): each process's answers,
running and waiting, are seen from every process, in the shared queue's order."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.admin.conftest import audit_events
from tests.chat.conftest import sse_events
from tests.conftest import UserFactory
from tests.multiproc import ClusterFactory

pytestmark = pytest.mark.postgres_only

PASSWORD = "Clave-de-prueba-42"


async def test_every_process_sees_the_whole_queue(
    start_cluster: ClusterFactory, make_user: UserFactory
) -> None:
    cluster = start_cluster(
        2, env={"ENERGYAPP_OLLAMA_MAX_PARALLEL": "1"}, tokens_per_second=4, answer_tokens=60
    )
    first, second = cluster.instances
    ana = await make_user(full_name="Ana Araya", password=PASSWORD)
    beto = await make_user(full_name="Beto Bravo", password=PASSWORD)
    cira = await make_user("supervisor", full_name="Cira Cruz", password=PASSWORD)
    admin = await make_user("admin", password=PASSWORD)
    asking = [(ana, first, "token"), (beto, second, "queue"), (cira, first, "queue")]
    stops: list[tuple[str, dict[str, str]]] = []  # stopped at the end: no drain to wait for
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
        for user, instance, wait_for in asking:
            headers = await cluster.login(user.email, PASSWORD)
            response = await stack.enter_async_context(
                client.stream(
                    "POST", f"{instance.url}/chat", json={"message": "Hola"}, headers=headers
                )
            )
            assert response.status_code == 200
            events = sse_events(response)
            name, data = await anext(events)
            stops.append((f"{instance.url}/chat/{data['assistant_message_id']}/stop", headers))
            while name != wait_for:
                name, data = await anext(events)
        await asyncio.sleep(0.5)  # the last place is published (one Redis write)
        headers = await cluster.login(admin.email, PASSWORD, via=1)
        seen = [
            (await client.get(f"{i.url}/admin/status", headers=headers)).json()["queue"]
            for i in (first, second)
        ]
        for url, headers in stops:
            assert (await client.post(url, headers=headers)).status_code == 200
    for queue in seen:
        assert queue["broker"] == "redis" and queue["available"], cluster.logs()
        assert [_who(w) for w in queue["running"]] == [("Ana Araya", None)]
        assert [_who(w) for w in queue["waiting"]] == [("Beto Bravo", 1), ("Cira Cruz", 2)]


def _who(work: dict[str, Any]) -> tuple[str, int | None]:
    return work["full_name"], work["position"]


async def test_an_admin_stops_an_answer_another_process_writes(
    start_cluster: ClusterFactory, make_user: UserFactory
) -> None:
    """Ana's answer is written by the first process; the admin, served by the second, stops it:
    her stream ends with ``stopped_by_admin`` and the slot goes to Beto."""
    cluster = start_cluster(
        2, env={"ENERGYAPP_OLLAMA_MAX_PARALLEL": "1"}, tokens_per_second=4, answer_tokens=400
    )
    first, second = cluster.instances
    ana = await make_user(full_name="Ana Araya", password=PASSWORD)
    beto = await make_user(full_name="Beto Bravo", password=PASSWORD)
    admin = await make_user("admin", password=PASSWORD)
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
        streams = []
        for user, wait_for in ((ana, "token"), (beto, "queue")):
            headers = await cluster.login(user.email, PASSWORD)
            response = await stack.enter_async_context(
                client.stream(
                    "POST", f"{first.url}/chat", json={"message": "Hola"}, headers=headers
                )
            )
            events = sse_events(response)
            name, _ = await anext(events)
            while name != wait_for:
                name, _ = await anext(events)
            streams.append(events)
        await asyncio.sleep(0.5)  # the board is published (one Redis write)
        headers = await cluster.login(admin.email, PASSWORD, via=1)
        queue = (await client.get(f"{second.url}/admin/status", headers=headers)).json()["queue"]
        (running,) = queue["running"]
        url = f"{second.url}/admin/status/work/{running['id']}/stop"
        stopped = await client.post(url, headers=headers)
        ana_events = [event async for event in streams[0]]
        name = ""
        while name != "token":  # Beto's answer is written now
            name, _ = await anext(streams[1])
    assert stopped.status_code == 200, cluster.logs()
    assert stopped.json()["status"] == "stopped"
    assert [d["code"] for n, d in ana_events if n == "error"] == ["stopped_by_admin"]
    assert [d["status"] for n, d in ana_events if n == "done"] == ["stopped"]


async def test_two_admins_on_two_processes_stop_an_answer_once(
    start_cluster: ClusterFactory,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Two admins (or a double click reaching two processes) stop Ana's answer at once, each
    through another process than the one writing it: the claim of the stop is shared through
    Redis, so exactly one stops it (200, one ``work.stopped`` row) and the other is 404
    ``work_not_found``. The writing process is paused meanwhile (SIGSTOP), so that both stops
    see the answer on the board and wait for it to end: no luck of timing decides."""
    cluster = start_cluster(3, tokens_per_second=4, answer_tokens=400)
    writer, second, third = cluster.instances
    ana = await make_user(full_name="Ana Araya", password=PASSWORD)
    admins = [await make_user("admin", password=PASSWORD) for _ in range(2)]
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
        headers = await cluster.login(ana.email, PASSWORD)
        response = await stack.enter_async_context(
            client.stream("POST", f"{writer.url}/chat", json={"message": "Hola"}, headers=headers)
        )
        events = sse_events(response)
        name, _ = await anext(events)
        while name != "token":
            name, _ = await anext(events)
        await asyncio.sleep(0.5)  # the board is published (one Redis write)
        via = ((second, await cluster.login(admins[0].email, PASSWORD, via=1)),)
        via += ((third, await cluster.login(admins[1].email, PASSWORD, via=2)),)
        queue = (await client.get(f"{second.url}/admin/status", headers=via[0][1])).json()
        (running,) = queue["queue"]["running"]
        path = f"/admin/status/work/{running['id']}/stop"

        async def resume_writer() -> None:
            await asyncio.sleep(1.0)  # both stops are under way by now
            writer.proc.send_signal(signal.SIGCONT)

        writer.proc.send_signal(signal.SIGSTOP)
        try:
            said = await asyncio.gather(
                *(client.post(f"{i.url}{path}", headers=h) for i, h in via), resume_writer()
            )
        finally:
            writer.proc.send_signal(signal.SIGCONT)
        ana_events = [event async for event in events]
    codes = sorted((r.status_code, r.json().get("code")) for r in said[:2])
    assert codes == [(200, None), (404, "work_not_found")], (codes, cluster.logs())
    assert [d["code"] for n, d in ana_events if n == "error"] == ["stopped_by_admin"]
    assert len(await audit_events(sessionmaker, "work.stopped")) == 1
