"""An account an admin deactivates gets nothing more from the model: its running answer stops
and its queued one never takes a slot, over real HTTP."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.chat import console
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import LiveApp, load_message, named, open_chat, read_until, text_of
from tests.chat.test_redis_broker import REDIS_URL, broker, prefix
from tests.cli.conftest import cli_env, run_cli
from tests.conftest import HeadersFactory, UserFactory, make_settings
from tests.openai_api.conftest import new_key
from tests.openai_api.test_deactivation import ASK

__all__ = ["cli_env", "prefix"]

Events = list[tuple[str, dict[str, object]]]


async def test_deactivation_stops_the_running_and_the_queued_answers(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    fake[1].config.tokens_per_second = 20
    fake[1].config.answer_tokens = 500
    admin = await auth_headers(await make_user("admin"))
    leaving, waiting = await make_user(), await make_user()
    async with live_app(max_queue=2) as (base, _app):
        running, running_stream = await open_chat(http, base, await auth_headers(leaving))
        first: Events = []
        await read_until(running_stream, first, "token")
        queued, queued_stream = await open_chat(http, base, await auth_headers(waiting))
        behind: Events = []
        await read_until(queued_stream, behind, "queue")

        for user in (waiting, leaving):
            off = await http.patch(
                f"{base}/admin/users/{user.id}", json={"is_active": False}, headers=admin
            )
            assert off.status_code == 200, off.text
        await read_until(running_stream, first, "done")
        await read_until(queued_stream, behind, "done")
        await running.aclose()
        await queued.aclose()
    assert named(first, "done")[0]["status"] == "stopped"
    answer = await load_message(sessionmaker, str(first[0][1]["assistant_message_id"]))
    assert answer.status == "stopped" and answer.content == text_of(first)
    assert len(answer.content.split()) < 500
    assert named(behind, "done")[0]["status"] == "stopped" and not named(behind, "token")
    never = await load_message(sessionmaker, str(behind[0][1]["assistant_message_id"]))
    assert never.status == "stopped" and never.content == ""


@pytest.mark.parametrize("broker_kind", ["local", "redis"])
async def test_the_console_deactivation_stops_the_answers_too(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
    cli_env: dict[str, str],
    db_url: str,
    prefix: str,
    broker_kind: str,
) -> None:
    """``energyapp deactivate-user``, another process: the running web answer stops through the
    database (with or without Redis); the API answer through Redis, or, without it, the command
    says it runs to its end and how to cut it short."""
    fake[1].config.tokens_per_second = 20
    fake[1].config.answer_tokens = 500
    leaving = await make_user()
    settings: dict[str, Any] = {"max_active_per_user": 2, "ollama_max_parallel": 2}
    env = cli_env | {"ENERGYAPP_DB_URL": db_url}
    if broker_kind == "redis":
        settings |= broker(prefix)
        env |= {"ENERGYAPP_REDIS_URL": REDIS_URL, "ENERGYAPP_REDIS_PREFIX": prefix}
    headers = await auth_headers(leaving)
    async with live_app(**settings) as (base, _app):
        secret = await new_key(http, base, headers, "Script")
        key = {"Authorization": f"Bearer {secret}"}
        running, running_stream = await open_chat(http, base, headers)
        web: Events = []
        await read_until(running_stream, web, "token")
        api = {**ASK, "stream": True}
        async with http.stream("POST", f"{base}/v1/chat/completions", json=api, headers=key) as v1:
            lines = v1.aiter_lines()
            await anext(lines)
            done = await asyncio.to_thread(run_cli, ["deactivate-user", leaving.email], env)
            assert done.returncode == 0, done.stderr
            await asyncio.wait_for(read_until(running_stream, web, "done"), timeout=10)
            await running.aclose()
            rest = [line async for line in lines] if broker_kind == "redis" else []
    assert named(web, "done")[0]["status"] == "stopped"
    answer = await load_message(sessionmaker, str(web[0][1]["assistant_message_id"]))
    assert answer.status == "stopped" and answer.content == text_of(web)
    assert len(answer.content.split()) < 500
    assert "1 respuesta(s) en curso en la web se detienen" in done.stdout
    if broker_kind == "redis":
        assert "Se pidió a 1 proceso(s)" in done.stdout
        assert any("api_access_disabled" in line for line in rest), rest
    else:
        assert "Sin Redis (ENERGYAPP_REDIS_URL)" in done.stdout
        assert "se cortan en 15 s como máximo" in done.stdout


@pytest.mark.no_database
async def test_the_console_says_what_to_do_when_redis_does_not_answer(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/x.db", redis_url="redis://127.0.0.1:1/0")
    said = await console.tell_the_app(settings, uuid.uuid4(), 0)
    assert said.startswith("No tenía respuestas en curso en la web. No se pudo avisar")
    assert "Repita el comando cuando Redis responda" in said
