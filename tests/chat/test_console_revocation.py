"""A console command that ends a person's sessions (``reset-2fa``) or API keys (``set-role``
to a role without them) tells the app's processes through Redis once committed
(``chat/console.py``): their open streams end at once, as after the same change made on the
web. (``reset-password`` ends nothing: it prints a link, and the
sessions end when the link is used, on the web, which tells the streams itself.)

The periodic check is set to an hour: without the notice the stream runs to its ``done``
(about 12 s) and the test fails."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.chat.conftest import LiveApp
from tests.chat.test_redis_broker import REDIS_URL, broker, prefix
from tests.chat.test_revocation import (
    HOUR,
    _recheck,
    assert_cut,
    assert_v1_cut,
    bearer,
    login,
    slow_answers,
    started,
)
from tests.cli.conftest import cli_env, run_cli
from tests.conftest import HeadersFactory, UserFactory

__all__ = ["cli_env", "prefix", "slow_answers"]


@contextlib.asynccontextmanager
async def redis_app(live_app: LiveApp, prefix: str, **extra: Any) -> AsyncIterator[str]:
    """One app process sharing its runtime through Redis, its periodic check an hour."""
    settings: dict[str, Any] = {"max_active_per_user": 3, "drain_timeout": 0, **extra}
    async with live_app(**broker(prefix), **settings) as (base, app):
        _recheck(app, HOUR)
        yield base


def console_env(cli_env: dict[str, str], db_url: str, prefix: str) -> dict[str, str]:
    """The console's environment: the app's database and Redis."""
    redis = {"ENERGYAPP_REDIS_URL": REDIS_URL, "ENERGYAPP_REDIS_PREFIX": prefix}
    return cli_env | {"ENERGYAPP_DB_URL": db_url} | redis


async def test_a_console_2fa_reset_ends_the_web_stream_at_once(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    cli_env: dict[str, str],
    db_url: str,
    prefix: str,
) -> None:
    user = await make_user()
    async with redis_app(live_app, prefix) as base:
        tokens = await login(http, base, user.email)
        response, stream, events = await started(http, base, bearer(tokens))
        done = await asyncio.to_thread(
            run_cli, ["reset-2fa", user.email], console_env(cli_env, db_url, prefix)
        )
        assert done.returncode == 0, done.stderr
        assert "Aviso" not in done.stderr
        await asyncio.wait_for(assert_cut(stream, events, sessionmaker), timeout=30)
        await response.aclose()


async def test_a_console_role_without_api_keys_ends_the_v1_stream_at_once(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    cli_env: dict[str, str],
    db_url: str,
    prefix: str,
) -> None:
    user = await make_user("supervisor")
    headers = await auth_headers(user)
    env = console_env(cli_env, db_url, prefix)
    async with redis_app(live_app, prefix, api_keys_roles=["supervisor"]) as base:
        created = await http.post(f"{base}/api-keys", json={"name": "Script"}, headers=headers)
        assert created.status_code == 201, created.text

        async def demote() -> None:
            args = ["set-role", user.email, "trabajador"]
            done = await asyncio.to_thread(run_cli, args, env)
            assert done.returncode == 0, done.stderr
            assert "Aviso" not in done.stderr

        await asyncio.wait_for(assert_v1_cut(http, base, created.json()["key"], demote), 30)


async def test_with_redis_away_the_command_still_succeeds_and_says_so(
    make_user: UserFactory, cli_env: dict[str, str], db_url: str, prefix: str
) -> None:
    user = await make_user()
    env = console_env(cli_env, db_url, prefix) | {"ENERGYAPP_REDIS_URL": "redis://127.0.0.1:1/0"}
    done = await asyncio.to_thread(run_cli, ["reset-2fa", user.email], env)
    assert done.returncode == 0, done.stderr
    assert "sus sesiones fueron cerradas" in done.stdout
    assert "Aviso: No se pudo avisar a la aplicación por Redis" in done.stderr
    assert "se cortan en 15 s como máximo" in done.stderr
