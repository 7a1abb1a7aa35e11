"""The cap on the live answers a person follows at once (``max_streams_per_user``): over real
HTTP on one process (in-process or Redis broker, whichever the pass runs), on two processes
sharing Redis, and the Redis count itself (dead processes, a Redis that lost its data)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from energyapp.chat.redis_keys import BrokerKeys
from energyapp.chat.redis_watchers import RedisWatchers
from energyapp.core.redis import async_redis
from energyapp.errors import TooManyRequests
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import Event, LiveApp, collect, named, open_chat, read_until
from tests.chat.test_redis_broker import REDIS_URL, broker, prefix, two_apps
from tests.conftest import HeadersFactory, UserFactory

__all__ = ["prefix"]


async def _open(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> httpx.Response:
    """A tab following ``url``, left open (``aclose`` closes it)."""
    return await http.send(http.build_request("GET", url, headers=headers), stream=True)


async def _open_once_allowed(
    http: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> httpx.Response:
    """A closed tab's place comes back once the server notices that its client left."""
    for _ in range(100):
        response = await _open(http, url, headers)
        if response.status_code != 429:
            return response
        await response.aclose()
        await asyncio.sleep(0.05)
    raise AssertionError("the place of a closed stream never came back")


async def _refused(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
    response = await http.get(url, headers=headers)
    assert response.status_code == 429, response.text
    assert response.json() == {
        "detail": "Ya sigue 2 respuestas abiertas a la vez, el máximo. Cierre las pestañas o "
        "ventanas de EnergyApp que no use e intente de nuevo.",
        "code": "too_many_streams",
    }
    assert response.headers["Retry-After"] == "10"


async def _live_answer(
    http: httpx.AsyncClient, base: str, headers: dict[str, str]
) -> tuple[str, httpx.Response, AsyncIterator[Event]]:
    """A new answer being written (POST /chat left open): its id, the response, its events."""
    response, stream = await open_chat(http, base, headers)
    meta = await anext(stream)
    return meta[1]["assistant_message_id"], response, stream


async def _stop(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], answer_id: str
) -> None:
    stopped = await http.post(f"{base}/chat/{answer_id}/stop", headers=headers)
    assert stopped.status_code == 200, stopped.text


async def test_a_person_follows_a_few_live_answers_at_most_and_gets_the_places_back(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.tokens_per_second = 50
    fake[1].config.answer_tokens = 2000
    headers = await auth_headers(await make_user())
    async with live_app(max_streams_per_user=2) as (base, _app):
        answer_id, response, stream = await _live_answer(http, base, headers)
        url = f"{base}/chat/{answer_id}/stream"
        # POST /chat's own stream is not counted: two tabs more, not a third.
        tabs = [await _open(http, url, headers) for _ in range(2)]
        assert [tab.status_code for tab in tabs] == [200, 200]
        await _refused(http, url, headers)
        # Someone else is not held back by these (their own answer, their own count).
        other = await auth_headers(await make_user())
        other_id, other_response, _ = await _live_answer(http, base, other)
        other_url = f"{base}/chat/{other_id}/stream"
        other_tab = await _open(http, other_url, other)
        assert other_tab.status_code == 200
        await other_tab.aclose()
        await _stop(http, base, other, other_id)
        await other_response.aclose()

        await tabs[0].aclose()  # a tab closed
        tabs[0] = await _open_once_allowed(http, url, headers)
        assert tabs[0].status_code == 200
        # The answer ends: the streams following it end, and give their places back.
        await _stop(http, base, headers, answer_id)
        for tab in tabs:
            assert named(await collect(tab), "done")[0]["status"] == "stopped"
        await read_until(stream, [], "done")
        await response.aclose()

        next_id, response, _ = await _live_answer(http, base, headers)
        next_url = f"{base}/chat/{next_id}/stream"
        tabs = [await _open(http, next_url, headers) for _ in range(2)]
        assert [tab.status_code for tab in tabs] == [200, 200]
        await _stop(http, base, headers, next_id)
        for tab in tabs:
            await tab.aclose()
        await response.aclose()


async def test_the_cap_counts_the_streams_of_every_process(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
    prefix: str,
) -> None:
    fake[1].config.tokens_per_second = 50
    fake[1].config.answer_tokens = 2000
    headers = await auth_headers(await make_user())
    settings = broker(prefix, max_streams_per_user=2)
    async with two_apps(live_app, **settings) as (base_a, base_b):
        answer_id, response, stream = await _live_answer(http, base_a, headers)
        on_a, on_b = (f"{base}/chat/{answer_id}/stream" for base in (base_a, base_b))
        tabs = [await _open(http, on_a, headers), await _open(http, on_b, headers)]
        assert [tab.status_code for tab in tabs] == [200, 200]
        await _refused(http, on_a, headers)
        await _refused(http, on_b, headers)
        await tabs[1].aclose()  # the tab on B closed: A may open one more
        tabs[1] = await _open_once_allowed(http, on_a, headers)
        assert tabs[1].status_code == 200
        await _stop(http, base_b, headers, answer_id)
        for tab in tabs:
            await tab.aclose()
        await read_until(stream, [], "done")
        await response.aclose()


@pytest.mark.no_database
async def test_redis_counts_live_processes_only_and_the_heartbeat_heals_it(prefix: str) -> None:
    """A process whose lease expired (it died) holds no place; a Redis that lost its data gets
    this process's open streams again from its heartbeat, and a place given back while Redis
    was away is taken out by it too."""
    client = async_redis(REDIS_URL, decode_responses=True)
    try:
        first, second = BrokerKeys(prefix, "proceso-a"), BrokerKeys(prefix, "proceso-b")
        for keys in (first, second):
            await client.set(keys.lease(keys.process), "1")
        dying, living = RedisWatchers(client, first, 2), RedisWatchers(client, second, 2)
        user = uuid.uuid4()
        key = f"{prefix}watch:{user}"
        await dying.open(user)
        kept = await living.open(user)
        with pytest.raises(TooManyRequests):
            await living.open(user)
        await client.delete(first.lease(first.process))  # the first process died
        ended = await living.open(user)
        assert await client.scard(key) == 2  # the dead one's member was dropped

        await client.delete(key)  # Redis lost its data
        await living.sync()
        assert await client.scard(key) == 2
        with pytest.raises(TooManyRequests):
            await living.open(user)

        await client.sadd(key, f"{second.process}|w|gone")  # a give-back that failed
        await ended.end()
        await ended.end()  # once only
        await living.sync()
        assert await client.smembers(key) == set(living._held[user])
        await kept.end()
        assert await client.exists(key) == 0
    finally:
        await client.aclose()
