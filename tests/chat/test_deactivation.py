"""An account an admin deactivates gets nothing more from the model: its running answer stops
and its queued one never takes a slot, over real HTTP."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import LiveApp, load_message, named, open_chat, read_until, text_of
from tests.conftest import HeadersFactory, UserFactory

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
