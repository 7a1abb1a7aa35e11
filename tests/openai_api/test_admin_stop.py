"""An admin stops API answers from the "Estado" tab (POST /admin/status/work/{id}/stop): the
streaming one ends with ``stopped_by_admin`` and gives its slot back, the one waiting for the
slot is answered 503 with that code, whether the admin's request reaches the process that
generates them or (with Redis) another one."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import LiveApp
from tests.chat.test_redis_broker import prefix
from tests.conftest import HeadersFactory, UserFactory
from tests.openai_api.conftest import new_key
from tests.openai_api.test_deactivation import apps_for, chunks_of, streaming_and_waiting

__all__ = ["prefix"]


@pytest.mark.parametrize("broker_kind", ["local", "redis"])
async def test_an_admin_stops_a_streaming_and_a_waiting_api_answer(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
    prefix: str,
    broker_kind: str,
) -> None:
    fake[1].config.tokens_per_second = 20
    fake[1].config.answer_tokens = 500
    admin = await auth_headers(await make_user("admin"))
    owner = await make_user()
    async with apps_for(live_app, prefix if broker_kind == "redis" else None) as (runs, admin_on):
        secret = await new_key(http, runs, await auth_headers(owner), "Script")
        key = {"Authorization": f"Bearer {secret}"}
        url = f"{runs}/v1/chat/completions"
        async with streaming_and_waiting(http, url, key) as (lines, first, queued):
            await asyncio.sleep(0.2)  # the board is published (one Redis write)
            status = await http.get(f"{admin_on}/admin/status", headers=admin)
            queue = status.json()["queue"]
            assert [(w["kind"], w["stoppable"]) for w in queue["running"] + queue["waiting"]] == [
                ("api", True),
                ("api", True),
            ]
            (waiting,) = queue["waiting"]
            stop = f"{admin_on}/admin/status/work/{waiting['id']}/stop"
            said = await http.post(stop, headers=admin)
            assert said.status_code == 200 and said.json()["status"] == "stopped", said.text
            waited = await asyncio.wait_for(queued, timeout=10)
            (running,) = queue["running"]
            stop = f"{admin_on}/admin/status/work/{running['id']}/stop"
            said = await http.post(stop, headers=admin)
            assert said.status_code == 200 and said.json()["status"] == "stopped", said.text
            rest = await asyncio.wait_for(chunks_of(lines, 10**6), timeout=10)
        after = (await http.get(f"{admin_on}/admin/status", headers=admin)).json()["queue"]
    assert waited.status_code == 503 and waited.json()["error"]["code"] == "stopped_by_admin"
    assert waited.json()["error"]["message"] == "Un administrador detuvo esta respuesta."
    assert rest[-1]["error"]["code"] == "stopped_by_admin", first + rest
    assert after["running"] == [] and after["waiting"] == []
