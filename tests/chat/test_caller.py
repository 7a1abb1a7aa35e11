"""``POST /chat`` checks its caller as every route does: the same refusals, nothing stored when
refused, and the request's connection back in the pool before the answer streams."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from energyapp.auth.models import AuthSession, User
from energyapp.conversations.models import Conversation, Message
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import Event, LiveApp, named, open_chat, read_until
from tests.conftest import HeadersFactory, UserFactory


async def _stored(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessionmaker() as session:
        conversations = await session.scalar(select(func.count()).select_from(Conversation))
        messages = await session.scalar(select(func.count()).select_from(Message))
    return int(conversations or 0), int(messages or 0)


async def test_refused_callers_get_401_and_store_nothing(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    revoked_user, disabled_user = await make_user(), await make_user()
    revoked, disabled = await auth_headers(revoked_user), await auth_headers(disabled_user)
    async with sessionmaker() as session:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == revoked_user.id)
            .values(revoked_at=datetime.now(UTC), revoked_reason="logout")
        )
        await session.execute(
            update(User).where(User.id == disabled_user.id).values(is_active=False)
        )
        await session.commit()
    cases = {
        "not_authenticated": {},
        "invalid_token": {"Authorization": "Bearer not-a-token"},
        "session_revoked": revoked,
        "account_disabled": disabled,
    }
    async with live_app() as (base, _app):
        for code, headers in cases.items():
            for body in ({"message": "Hola"}, {}, {"message": "x", "unknown": 1}):
                # The credentials are checked before the body: a stranger learns nothing of
                # what a valid request looks like.
                response = await http.post(f"{base}/chat", json=body, headers=headers)
                assert response.status_code == 401, (code, body, response.text)
                assert response.json()["code"] == code, (code, body)
    assert await _stored(sessionmaker) == (0, 0)


async def test_the_request_connection_is_back_before_the_answer_streams(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.tokens_per_second = 20
    fake[1].config.answer_tokens = 10
    headers = await auth_headers(await make_user())
    async with live_app() as (base, app):
        engine: AsyncEngine = app.state.engine
        # On PostgreSQL the chat runtime's ownership lock holds one connection for the app's life.
        idle = engine.pool.checkedout()  # type: ignore[attr-defined]
        _response, stream = await open_chat(http, base, headers)
        events: list[Event] = []
        await read_until(stream, events, "token")
        # Mid-answer: the request's connection went back to the pool, and the answer holds
        # none between its saves.
        assert engine.pool.checkedout() == idle  # type: ignore[attr-defined]
        events.extend([event async for event in stream])
    assert named(events, "done")[0]["status"] == "complete"
