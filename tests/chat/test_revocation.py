"""An open answer stream ends when the session (or, on ``/v1``, the API key) that opened it
ends; the answer goes on and is saved, and another session of the same person keeps its stream.

Each notice test sets the periodic check to an hour: the stream must end on the notice itself,
on this process or (``two``, with Redis) on another one. Without the guard the stream runs to
its ``done`` and the tests fail."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import AuthSession, User
from energyapp.chat.revocation import SESSION_ENDED_DETAIL
from energyapp.db import utcnow
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import (
    Event,
    LiveApp,
    load_message,
    named,
    open_chat,
    read_until,
    sse_events,
)
from tests.chat.test_redis_broker import broker, prefix
from tests.conftest import HeadersFactory, UserFactory
from tests.openai_api.test_deactivation import ASK

__all__ = ["prefix"]

PASSWORD = "Contrasena-segura-1"
ENDED = ("error", {"detail": SESSION_ENDED_DETAIL, "code": "session_ended"})
HOUR = 3600.0


@pytest.fixture(autouse=True)
def slow_answers(fake: tuple[str, FakeOllama]) -> None:
    """Answers of about 12 s: a stream that is not cut reads ``done`` long after a cut one."""
    fake[1].config.tokens_per_second = 40
    fake[1].config.answer_tokens = 500


@contextlib.asynccontextmanager
async def apps(
    live_app: LiveApp, where: str, shared: str, recheck: float = HOUR, **extra: Any
) -> AsyncIterator[tuple[str, str]]:
    """(where the answers stream, where the session or key is ended): one process (with the
    run's broker), or two processes sharing Redis."""
    settings: dict[str, Any] = {"max_active_per_user": 3, "drain_timeout": 0, **extra}
    if where == "one":
        async with live_app(**settings) as (base, app):
            _recheck(app, recheck)
            yield base, base
        return
    async with (
        live_app(**broker(shared), **settings) as (streams, app_a),
        live_app(**broker(shared), **settings) as (ends, app_b),
    ):
        _recheck(app_a, recheck)
        _recheck(app_b, recheck)
        yield streams, ends


def _recheck(app: FastAPI, seconds: float) -> None:
    app.state.chat.guards.recheck_seconds = seconds


async def login(http: httpx.AsyncClient, base: str, email: str) -> dict[str, Any]:
    response = await http.post(f"{base}/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def read_to_end(stream: AsyncIterator[Event], events: list[Event]) -> None:
    """Events until the stream's end (the client keeps reading after ``done``: the title)."""
    async for event in stream:
        events.append(event)


@contextlib.asynccontextmanager
async def reattached(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], answer_id: str
) -> AsyncIterator[AsyncIterator[Event]]:
    url = f"{base}/chat/{answer_id}/stream"
    async with http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        yield sse_events(response)


async def started(
    http: httpx.AsyncClient, base: str, headers: dict[str, str]
) -> tuple[httpx.Response, AsyncIterator[Event], list[Event]]:
    """``POST /chat`` with its first token read."""
    response, stream = await open_chat(http, base, headers)
    events: list[Event] = []
    await read_until(stream, events, "token")
    return response, stream, events


async def assert_cut(
    stream: AsyncIterator[Event],
    events: list[Event],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The stream ends with ``session_ended`` while its answer is still being written."""
    await read_to_end(stream, events)
    assert events[-1] == ENDED, events[-3:]
    assert not named(events, "done")
    answer = await load_message(sessionmaker, str(events[0][1]["assistant_message_id"]))
    assert answer.status == "streaming"


@pytest.mark.parametrize("where", ["one", "two"])
@pytest.mark.parametrize("everywhere", [False, True], ids=["logout", "logout_all"])
async def test_logout_ends_that_sessions_streams_and_logout_all_every_one(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    prefix: str,
    where: str,
    everywhere: bool,
) -> None:
    """Session A asks; A and B follow the answer. A's logout cuts A's stream only: B reads the
    whole answer to its end, and it is saved whole. Logout-all (from B) cuts both."""
    user = await make_user()
    async with apps(live_app, where, prefix) as (streams, ends):
        a, b = await login(http, streams, user.email), await login(http, streams, user.email)
        response, stream, events = await started(http, streams, bearer(a))
        answer_id = str(events[0][1]["assistant_message_id"])
        async with reattached(http, streams, bearer(b), answer_id) as other:
            others: list[Event] = []
            await read_until(other, others, "token")
            if everywhere:
                out = await http.post(f"{ends}/auth/logout-all", headers=bearer(b))
            else:
                logout = {"refresh_token": a["refresh_token"]}
                out = await http.post(f"{ends}/auth/logout", json=logout)
            assert out.status_code == 204
            await assert_cut(stream, events, sessionmaker)
            await response.aclose()
            if everywhere:
                await assert_cut(other, others, sessionmaker)
                return
            await read_to_end(other, others)
    assert named(others, "done")[0]["status"] == "complete"
    assert ENDED not in others
    answer = await load_message(sessionmaker, answer_id)
    assert answer.status == "complete" and len(answer.content.split()) >= 400


@dataclass(frozen=True)
class Ending:
    """What a way of ending the streaming session needs."""

    http: httpx.AsyncClient
    base: str  # the process that ends it
    tokens: dict[str, Any]  # the streaming session's
    user: User
    admin: dict[str, str]


async def change_password(end: Ending) -> None:
    """From another session, which stays open."""
    other = await login(end.http, end.base, end.user.email)
    changed = await end.http.post(
        f"{end.base}/auth/change-password",
        json={"current_password": PASSWORD, "new_password": "Faro-del-sur-2031"},
        headers=bearer(other),
    )
    assert changed.status_code == 204, changed.text


async def reset_password(end: Ending) -> None:
    url = f"{end.base}/admin/users/{end.user.id}/password-reset"
    link = await end.http.post(url, headers=end.admin)
    assert link.status_code == 201, link.text
    reset = await end.http.post(
        f"{end.base}/auth/password-reset",
        json={"token": link.json()["token"], "new_password": "Puerto-Montt-lluvia-42"},
    )
    assert reset.status_code == 204, reset.text


async def reuse_refresh_token(end: Ending) -> None:
    spent = {"refresh_token": end.tokens["refresh_token"]}
    renewed = await end.http.post(f"{end.base}/auth/refresh", json=spent)
    assert renewed.status_code == 200
    # Its successor used: the old token replayed now is theft, not the retry of a lost answer
    # that refresh_reuse_grace_seconds lets through.
    successor = {"refresh_token": renewed.json()["refresh_token"]}
    assert (await end.http.post(f"{end.base}/auth/refresh", json=successor)).status_code == 200
    again = await end.http.post(f"{end.base}/auth/refresh", json=spent)
    assert again.json()["code"] == "refresh_token_reused"


@pytest.mark.parametrize("where", ["one", "two"])
@pytest.mark.parametrize("ending", [change_password, reset_password, reuse_refresh_token])
async def test_a_password_change_or_reset_or_a_refresh_reuse_ends_the_stream(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    prefix: str,
    where: str,
    ending: Callable[[Ending], Awaitable[None]],
) -> None:
    user = await make_user(email=f"fin-{prefix[5:13]}@inacapmail.cl")
    admin = await auth_headers(await make_user("admin"))
    async with apps(live_app, where, prefix) as (streams, ends):
        tokens = await login(http, streams, user.email)
        response, stream, events = await started(http, streams, bearer(tokens))
        await ending(Ending(http, ends, tokens, user, admin))
        await assert_cut(stream, events, sessionmaker)
        await response.aclose()


@pytest.mark.parametrize("where", ["one", "two"])
@pytest.mark.parametrize("ending", ["key_revoked", "keys_turned_off", "role_without_keys"])
async def test_revoking_an_api_key_or_turning_keys_off_ends_the_v1_stream_only(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    prefix: str,
    where: str,
    ending: str,
) -> None:
    """The key's stream ends with OpenAI's error event (``api_key_revoked``) when the key is
    revoked, and when an admin turns its owner's keys off or gives them a role that may not
    use keys (``api_keys_roles``; the key row untouched: the check asks whether the key would
    still be accepted); the person's web session is not touched."""
    user = await make_user("supervisor")
    headers = await auth_headers(user)
    admin = await auth_headers(await make_user("admin"))
    roles = {"api_keys_roles": ["admin", "supervisor"]}
    async with apps(live_app, where, prefix, **roles) as (streams, ends):
        created = await http.post(f"{streams}/api-keys", json={"name": "Script"}, headers=headers)
        assert created.status_code == 201, created.text

        async def end() -> None:
            if ending == "key_revoked":
                done = await http.delete(f"{ends}/api-keys/{created.json()['id']}", headers=headers)
            elif ending == "keys_turned_off":
                access = f"{ends}/admin/users/{user.id}/api-access"
                done = await http.put(access, json={"enabled": False}, headers=admin)
            else:
                role = {"role": "trabajador"}
                done = await http.patch(f"{ends}/admin/users/{user.id}", json=role, headers=admin)
            assert done.status_code == 200, done.text

        await assert_v1_cut(http, streams, created.json()["key"], end)
        assert (await http.get(f"{ends}/auth/me", headers=headers)).status_code == 200


async def assert_v1_cut(
    http: httpx.AsyncClient, base: str, secret: str, end: Callable[[], Awaitable[None]]
) -> None:
    """A ``/v1`` stream with ``secret``, then ``end()``: the stream ends with OpenAI's error
    event ``api_key_revoked``, without ``[DONE]``."""
    key = {"Authorization": f"Bearer {secret}"}
    url = f"{base}/v1/chat/completions"
    async with http.stream("POST", url, json={**ASK, "stream": True}, headers=key) as v1:
        assert v1.status_code == 200
        lines = v1.aiter_lines()
        chunks = [await anext(line async for line in lines if line.startswith("data: "))]
        await end()
        chunks += [line async for line in lines if line.startswith("data: ")]
    assert "data: [DONE]" not in chunks
    last = json.loads(chunks[-1][6:])
    assert last["error"]["code"] == "api_key_revoked", chunks[-3:]
    assert last["error"]["type"] == "authentication_error"


async def test_without_a_notice_the_periodic_check_ends_the_stream(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    prefix: str,
) -> None:
    """A session ended where no notice is sent (the console, Redis away): the stream's own
    periodic check of its row ends it (here every 0.2 s instead of every 15)."""
    user = await make_user()
    async with apps(live_app, "one", prefix, recheck=0.2) as (streams, _ends):
        tokens = await login(http, streams, user.email)
        response, stream, events = await started(http, streams, bearer(tokens))
        async with sessionmaker() as session:
            await session.execute(
                update(AuthSession)
                .where(AuthSession.user_id == user.id)
                .values(revoked_at=utcnow(), revoked_reason="password_reset")
            )
            await session.commit()
        await assert_cut(stream, events, sessionmaker)
        await response.aclose()
