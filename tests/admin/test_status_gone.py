"""GET /admin/status never keeps an answer that ended: one stopped while it waits, one whose API
client left while it waited or while it was written, leave the board at once (a leaked entry
would show a ghost "Escribiendo" for ever)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx

from energyapp.chat.redis_broker import RedisBroker
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import LiveApp, open_chat, read_until
from tests.chat.test_redis_broker import broker, prefix  # noqa: F401 - prefix: the fixture
from tests.conftest import HeadersFactory, UserFactory

API_BODY = {"model": "qwen2.5:3b-instruct", "messages": [{"role": "user", "content": "Hola"}]}


async def _queue_until(
    http: httpx.AsyncClient, url: str, admin: dict[str, str], names: tuple[str, ...]
) -> dict[str, Any]:
    """The status's queue once its people's answers (titles aside) are ``names``, running
    first, then waiting; the last one read after 10 s."""
    queue: dict[str, Any] = {}
    for _ in range(100):
        queue = (await http.get(url, headers=admin)).json()["queue"]
        if _people(queue) == names:
            break
        await asyncio.sleep(0.1)
    return queue


def _people(queue: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        f"{w['full_name']}:{w['kind']}:{w['state']}"
        for w in queue["running"] + queue["waiting"]
        if w["kind"] != "title"
    )


async def test_an_answer_stopped_while_it_waits_leaves_the_board(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.tokens_per_second = 4
    fake[1].config.answer_tokens = 200
    ana = await auth_headers(await make_user(full_name="Ana"))
    beto = await auth_headers(await make_user(full_name="Beto"))
    admin = await auth_headers(await make_user("admin"))
    async with live_app(ollama_max_parallel=1) as (base, _):
        status = f"{base}/admin/status"
        first, first_events = await open_chat(http, base, ana)
        await read_until(first_events, events := [], "token")
        second, second_events = await open_chat(http, base, beto)
        await read_until(second_events, waited := [], "queue")
        both = ("Ana:chat:writing", "Beto:chat:waiting")
        assert _people(await _queue_until(http, status, admin, both)) == both
        answer = waited[0][1]["assistant_message_id"]
        stop = await http.post(f"{base}/chat/{answer}/stop", headers=beto)
        assert stop.status_code == 200, stop.text
        ana_alone = ("Ana:chat:writing",)
        assert _people(await _queue_until(http, status, admin, ana_alone)) == ana_alone
        answer = events[0][1]["assistant_message_id"]
        assert (await http.post(f"{base}/chat/{answer}/stop", headers=ana)).status_code == 200
        assert _people(await _queue_until(http, status, admin, ())) == ()
        await first.aclose()
        await second.aclose()


async def test_an_api_client_that_leaves_takes_its_answer_off_the_board(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    """One slot: Carla's API request waits behind Ana's web answer, then leaves (the client
    disconnects); later her request is written and she leaves again."""
    fake[1].config.tokens_per_second = 4
    fake[1].config.answer_tokens = 200
    ana = await auth_headers(await make_user(full_name="Ana"))
    carla = await auth_headers(await make_user(full_name="Carla"))
    admin = await auth_headers(await make_user("admin"))
    async with live_app(ollama_max_parallel=1) as (base, _):
        status = f"{base}/admin/status"
        key = (await http.post(f"{base}/api-keys", json={"name": "S"}, headers=carla)).json()
        bearer = {"Authorization": f"Bearer {key['key']}"}
        first, first_events = await open_chat(http, base, ana)
        await read_until(first_events, events := [], "token")

        async def ask_api() -> None:
            body = {**API_BODY, "stream": True}
            async with http.stream(
                "POST", f"{base}/v1/chat/completions", json=body, headers=bearer
            ) as response:
                async for _ in response.aiter_lines():
                    pass

        waiting = asyncio.create_task(ask_api())
        both = ("Ana:chat:writing", "Carla:api:waiting")
        assert _people(await _queue_until(http, status, admin, both)) == both
        waiting.cancel()  # the client leaves while its answer waits
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        ana_alone = ("Ana:chat:writing",)
        assert _people(await _queue_until(http, status, admin, ana_alone)) == ana_alone
        answer = events[0][1]["assistant_message_id"]
        assert (await http.post(f"{base}/chat/{answer}/stop", headers=ana)).status_code == 200
        await first.aclose()
        writing = asyncio.create_task(ask_api())
        carla_alone = ("Carla:api:writing",)
        assert _people(await _queue_until(http, status, admin, carla_alone)) == carla_alone
        writing.cancel()  # the client leaves while its answer is written
        with contextlib.suppress(asyncio.CancelledError):
            await writing
        assert _people(await _queue_until(http, status, admin, ())) == ()


async def test_the_recovery_round_drops_a_dead_process_board(
    live_app: LiveApp,
    prefix: str,  # noqa: F811 - the fixture of tests/chat/test_redis_broker.py
) -> None:
    """A process that died (its lease gone) left its board behind: the broker's recovery round
    deletes it, with no admin reading the status."""
    async with live_app(**broker(prefix)) as (_, app):
        redis_broker: RedisBroker = app.state.chat.broker
        keys = redis_broker.keys
        await redis_broker.redis.hset(keys.board, "died", "[]")
        await redis_broker.redis.delete(keys.recovery_lock)
        await redis_broker._recover()
        assert "died" not in await redis_broker.redis.hkeys(keys.board)
