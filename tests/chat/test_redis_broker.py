"""The chat broker on a real Redis: two app instances (each its own broker, lease and queue,
served over real HTTP) share one chat runtime: re-attach, stop, fairness, Redis away."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.chat.redis_broker import RedisBroker
from energyapp.chat.redis_keys import BrokerKeys
from energyapp.core.redis import async_redis
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import (
    Event,
    LiveApp,
    collect,
    load_message,
    named,
    open_chat,
    read_until,
    sse_events,
    text_of,
)
from tests.conftest import TEST_SECRET, HeadersFactory, UserFactory
from tests.llm.stand_in import free_port
from tests.private_redis import private_redis

REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the shared Redis, removed afterwards."""
    name = f"test-{uuid.uuid4().hex[:8]}:"
    yield name
    client = async_redis(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(f"{name}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def broker(prefix: str, **extra: Any) -> dict[str, Any]:
    return {"redis_url": REDIS_URL, "redis_prefix": prefix, **extra}


@contextlib.asynccontextmanager
async def two_apps(live_app: LiveApp, **settings: Any) -> AsyncIterator[tuple[str, str]]:
    async with live_app(**settings) as (base_a, _), live_app(**settings) as (base_b, _):
        yield base_a, base_b


async def test_an_answer_started_on_one_process_is_followed_and_stopped_on_another(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
    prefix: str,
) -> None:
    fake[1].config.tokens_per_second = 40
    fake[1].config.answer_tokens = 400
    headers = await auth_headers(await make_user())
    async with two_apps(live_app, **broker(prefix)) as (base_a, base_b):
        response, stream = await open_chat(http, base_a, headers)
        events: list[Event] = []
        while len(text_of(events)) < 20:
            events.append(await anext(stream))
        answer_id = events[0][1]["assistant_message_id"]

        # B replays the whole text so far, then follows live, with stream ids for resuming.
        async with http.stream(
            "GET", f"{base_b}/chat/{answer_id}/stream", headers=headers
        ) as follower:
            assert follower.status_code == 200
            seen: list[Event] = []
            ids: list[str] = []
            b_stream = sse_events(follower, ids)
            while len(text_of(seen)) <= len(text_of(events)) + 10:
                seen.append(await anext(b_stream))
            assert text_of(seen).startswith(text_of(events))

            # Resuming after an event id gives only what came after it.
            async with http.stream(
                "GET",
                f"{base_b}/chat/{answer_id}/stream",
                headers={**headers, "Last-Event-ID": ids[0]},
            ) as resumed:
                resumed_stream = sse_events(resumed)
                resumed_events = [await anext(resumed_stream) for _ in range(2)]
            assert resumed_events[0][0] == "meta"
            assert resumed_events[1][0] == "token"

            # A stop sent to B stops the generation on A.
            stop = await http.post(f"{base_b}/chat/{answer_id}/stop", headers=headers)
            assert stop.status_code == 200 and stop.json()["status"] == "stopped"
            async for event in b_stream:
                seen.append(event)
        await read_until(stream, events, "done")
        await response.aclose()

    assert named(seen, "done")[0]["status"] == "stopped"
    assert named(events, "done")[0]["status"] == "stopped"
    saved = await load_message(sessionmaker, answer_id)
    assert saved.status == "stopped"
    assert saved.content == text_of(seen) == text_of(events)
    assert 0 < len(saved.content) < 400 * 3


async def test_users_on_two_processes_are_served_round_robin(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
    prefix: str,
) -> None:
    """One slot for everyone: Ana's three answers and Beto's one, sent through two processes,
    are served Ana, Ana, Beto, Ana — not in the order they were sent. Each answer takes 2 s:
    on a loaded machine (CI beside other work) sending the four took longer than a 0.4-s
    answer, and Ana's first ended before Beto had asked."""
    fake[1].config.tokens_per_second = 10
    fake[1].config.answer_tokens = 20
    ana = await auth_headers(await make_user())
    beto = await auth_headers(await make_user())
    settings = broker(prefix, max_active_per_user=3, ollama_max_parallel=1)
    finished: list[str] = []
    positions: dict[str, list[int]] = {}

    async def ask(base: str, headers: dict[str, str], name: str, queued: bool) -> None:
        response, stream = await open_chat(http, base, headers, message=name)
        events: list[Event] = []
        # Sent in order: the next one is sent once this one is running or in the queue.
        await read_until(stream, events, "queue" if queued else "token")
        started.set()
        await read_until(stream, events, "done")
        await response.aclose()
        positions[name] = [data["position"] for data in named(events, "queue")]
        assert named(events, "done")[0]["status"] == "complete"
        finished.append(name)

    async with two_apps(live_app, **settings) as (base_a, base_b):
        tasks = []
        for base, headers, name in [
            (base_a, ana, "ana1"),
            (base_b, ana, "ana2"),
            (base_a, ana, "ana3"),
            (base_b, beto, "beto1"),
        ]:
            started = asyncio.Event()
            tasks.append(asyncio.create_task(ask(base, headers, name, name != "ana1")))
            await started.wait()
        await asyncio.gather(*tasks)

    assert finished == ["ana1", "ana2", "beto1", "ana3"]
    assert positions["ana1"] == []
    assert positions["ana2"][0] == 1
    assert positions["beto1"][0] == 2  # ahead of ana3, which was sent before it
    assert positions["ana3"][:2] == [2, 3]  # moved back when Beto arrived


async def test_with_redis_away_chat_says_so_and_the_rest_works(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    headers = await auth_headers(await make_user())
    async with live_app(redis_url="redis://127.0.0.1:9/0") as (base, _):
        response = await http.post(f"{base}/chat", json={"message": "Hola"}, headers=headers)
        listed = await http.get(f"{base}/conversations", headers=headers)
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "broker_unavailable" and "intente de nuevo" in body["detail"]
    assert int(response.headers["Retry-After"]) > 0
    assert listed.status_code == 200 and listed.json()["items"] == []  # nothing half-written


@contextlib.asynccontextmanager
async def app_process(db_url: str, ollama_url: str, **settings: Any) -> AsyncIterator[Any]:
    """The app as a real uvicorn process of its own (so it can be killed); yields
    ``(base_url, process)``."""
    port = free_port()
    env = {
        **os.environ,
        "ENERGYAPP_ENV": "test",
        "ENERGYAPP_DB_URL": db_url,
        "ENERGYAPP_SECRET_KEY": TEST_SECRET,
        "ENERGYAPP_OLLAMA_URL": ollama_url,
        "ENERGYAPP_FAKE_OLLAMA_AUTOSTART": "false",
        "ENERGYAPP_CHAT_RATE_LIMIT_PER_MINUTE": "1000",
        **{f"ENERGYAPP_{name.upper()}": str(value) for name, value in settings.items()},
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "energyapp.main:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as probe:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get(f"{base}/health")).status_code in (200, 503):
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the app process did not start")
        yield base, process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_a_killed_process_s_answer_is_interrupted_by_another_within_the_lease(
    live_app: LiveApp,
    db_url: str,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
    prefix: str,
) -> None:
    lease = 2.0
    settings = broker(prefix, broker_lease_seconds=lease, ollama_max_parallel=1)
    fake[1].config.tokens_per_second = 20
    fake[1].config.answer_tokens = 2000
    headers = await auth_headers(await make_user())
    async with (
        live_app(**settings) as (base_b, _),
        app_process(db_url, fake[0], **settings) as (
            base_a,
            process_a,
        ),
    ):
        response, stream = await open_chat(http, base_a, headers)
        events: list[Event] = []
        while len(events) < 40:  # about two seconds of text: some of it saved
            events.append(await anext(stream))
        answer_id = events[0][1]["assistant_message_id"]
        follower = await http.send(
            http.build_request("GET", f"{base_b}/chat/{answer_id}/stream", headers=headers),
            stream=True,
        )
        process_a.kill()  # SIGKILL: no shutdown, no lease given back
        killed_at = time.monotonic()
        await response.aclose()
        while (await load_message(sessionmaker, answer_id)).status == "streaming":
            assert time.monotonic() - killed_at < lease + 5, "not interrupted within lease + 5 s"
            await asyncio.sleep(0.1)
        followed = await collect(follower)

        # A's slot is free again: B answers at once with the only slot.
        fake[1].config.answer_tokens = 5
        fake[1].config.tokens_per_second = 0
        async with http.stream(
            "POST", f"{base_b}/chat", json={"message": "¿Sigue ahí?"}, headers=headers
        ) as after:
            after_events = await collect(after)

    saved = await load_message(sessionmaker, answer_id)
    assert saved.status == "interrupted" and saved.error_code == "app_restarted"
    # Its text as last saved (about a second behind what was streamed) is kept.
    assert saved.content and text_of(followed).startswith(saved.content)
    assert named(followed, "done")[0]["status"] == "interrupted"
    assert named(followed, "error")[0]["code"] == "app_restarted"
    assert named(after_events, "done")[0]["status"] == "complete"


async def test_sigterm_drains_and_the_client_re_attaches_through_another_process(
    live_app: LiveApp,
    db_url: str,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
    prefix: str,
) -> None:
    """A rolling update: the process told to stop hints its client to re-attach, finishes the
    answer, and the client gets the rest of it from another process, without a gap."""
    settings = broker(prefix, drain_timeout=60)
    fake[1].config.tokens_per_second = 25
    fake[1].config.answer_tokens = 120
    headers = await auth_headers(await make_user())
    async with (
        live_app(**settings) as (base_b, _),
        app_process(db_url, fake[0], **settings) as (
            base_a,
            process_a,
        ),
    ):
        response = await http.send(
            http.build_request("POST", f"{base_a}/chat", json={"message": "Hola"}, headers=headers),
            stream=True,
        )
        ids: list[str] = []
        stream = sse_events(response, ids)
        first: list[Event] = []
        while len(first) < 10:
            first.append(await anext(stream))
        process_a.send_signal(signal.SIGTERM)
        async for event in stream:
            first.append(event)
        answer_id = first[0][1]["assistant_message_id"]
        assert first[-1][0] == "reconnect" and not named(first, "done")
        async with http.stream(
            "GET",
            f"{base_b}/chat/{answer_id}/stream",
            headers={**headers, "Last-Event-ID": ids[-1]},
        ) as resumed:
            rest = await collect(resumed)
        # uvicorn re-raises the signal once its graceful shutdown is over.
        assert await asyncio.wait_for(process_a.wait(), 30) in (0, -signal.SIGTERM)

    saved = await load_message(sessionmaker, answer_id)
    assert named(rest, "done")[0]["status"] == "complete" == saved.status
    assert text_of(first) + text_of(rest) == saved.content
    assert saved.completion_tokens == 120


async def test_a_redis_restart_mid_answer_loses_nothing(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.tokens_per_second = 30
    fake[1].config.answer_tokens = 90
    headers = await auth_headers(await make_user())
    async with (
        private_redis() as (url, restart),
        live_app(redis_url=url, broker_lease_seconds=1.5) as (base, _),
    ):
        response, stream = await open_chat(http, base, headers)
        events: list[Event] = []
        while len(events) < 10:
            events.append(await anext(stream))
        answer_id = events[0][1]["assistant_message_id"]
        await restart()  # the data is gone: no lease, no queue, no stream
        async for event in stream:
            events.append(event)
        await response.aclose()
        while (await load_message(sessionmaker, answer_id)).status == "streaming":
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # a heartbeat has written the lease again
        fake[1].config.tokens_per_second = 0
        async with http.stream(
            "POST", f"{base}/chat", json={"message": "¿Y ahora?"}, headers=headers
        ) as after:
            assert after.status_code == 200
            after_events = await collect(after)

    saved = await load_message(sessionmaker, answer_id)
    assert saved.status == "complete" and saved.completion_tokens == 90
    # The watcher followed to the end (the title may come after `done`), or was told why its
    # stream ended: Redis unreachable, or a stream lost for long (it re-attaches then).
    last = events[-1]
    assert (
        named(events, "done")
        or last[0] == "reconnect"
        or (last[0] == "error" and last[1]["code"] == "broker_unavailable")
    ), [name for name, _ in events[-3:]]
    assert named(after_events, "done")[0]["status"] == "complete"


async def test_a_stream_lost_mid_answer_is_followed_again_once_it_is_written_again(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
    prefix: str,
) -> None:
    """A restarted Redis loses an answer's stream. Its watcher found no stream within a second
    and ended quietly, as if the answer had ended long ago: no `done`, no reason."""
    fake[1].config.tokens_per_second = 0.6  # the next token after more than a second
    fake[1].config.answer_tokens = 3
    headers = await auth_headers(await make_user())
    redis = async_redis(REDIS_URL)
    try:
        async with live_app(**broker(prefix)) as (base, _):
            response, stream = await open_chat(http, base, headers)
            events: list[Event] = []
            await read_until(stream, events, "token")
            answer_id = events[0][1]["assistant_message_id"]
            assert await redis.delete(BrokerKeys(prefix, "").stream(uuid.UUID(answer_id))) == 1
            async for event in stream:
                events.append(event)
            await response.aclose()
    finally:
        await redis.aclose()
    saved = await load_message(sessionmaker, answer_id)
    assert named(events, "done")[0]["status"] == "complete" == saved.status
    assert text_of(events) == saved.content  # nothing was written while it was gone


async def test_redis_losing_its_data_during_a_recovery_round_interrupts_no_running_answer(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by the restart test under load: the recovery read the owners, Redis restarted, and
    then the owners' leases were missing, so the live answer was marked ``interrupted``. Here
    the data goes after each of the round's first commands in turn."""
    fake[1].config.tokens_per_second = 2
    fake[1].config.answer_tokens = 100
    headers = await auth_headers(await make_user())
    wiper = async_redis(REDIS_URL)
    try:
        async with live_app(**broker(prefix, broker_lease_seconds=60)) as (base, app):
            response, stream = await open_chat(http, base, headers)
            events: list[Event] = []
            await read_until(stream, events, "token")
            answer_id = events[0][1]["assistant_message_id"]
            redis_broker: RedisBroker = app.state.chat.broker
            sent = redis_broker.redis.execute_command
            for wipe_after in (1, 2, 3):
                await wiper.delete(redis_broker.keys.recovery_lock)
                count = 0

                async def command(*args: Any, **options: Any) -> Any:
                    nonlocal count
                    result = await sent(*args, **options)
                    count += 1
                    if count == wipe_after:  # noqa: B023 (read while this round runs)
                        keys = [key async for key in wiper.scan_iter(f"{prefix}*")]
                        await wiper.delete(*keys)
                    return result

                monkeypatch.setattr(redis_broker.redis, "execute_command", command)
                await redis_broker._recover()
                monkeypatch.setattr(redis_broker.redis, "execute_command", sent)
                await redis_broker._heartbeat()  # writes the owner and the lease again
                assert (await load_message(sessionmaker, answer_id)).status == "streaming"
            await response.aclose()
    finally:
        await wiper.aclose()
