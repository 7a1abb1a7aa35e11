"""POST /admin/status/work/{id}/stop: an admin stops an answer from the "Estado" tab. A running
answer gives its slot to the next in line, a waiting one leaves the queue; each person's stream
ends with ``stopped_by_admin`` and the answer is saved ``stopped`` with that code; the stop is
audited; an ended one is 404 ``work_not_found``; only admins may stop."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any, cast
from unittest.mock import AsyncMock, MagicMock

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.admin import status_stop
from energyapp.audit.labels import ACTION_NAMES, EventFacts, Names, Person, describe
from energyapp.chat.board import LocalStopClaims, Work
from energyapp.errors import AppError
from energyapp.llm.fake_server import FakeOllama
from tests.admin.conftest import audit_events
from tests.chat.conftest import LiveApp, load_message, named, open_chat, read_until
from tests.conftest import HeadersFactory, UserFactory


async def _queue(http: httpx.AsyncClient, base: str, admin: dict[str, str]) -> dict[str, Any]:
    response = await http.get(f"{base}/admin/status", headers=admin)
    assert response.status_code == 200, response.text
    queue: dict[str, Any] = response.json()["queue"]
    return queue


def _of(queue: dict[str, Any], full_name: str) -> dict[str, Any]:
    (work,) = [w for w in queue["running"] + queue["waiting"] if w["full_name"] == full_name]
    return work


async def test_an_admin_stops_a_running_and_a_waiting_answer(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """One slot, a slow model: Ana writes, Beto and Cira wait. The admin stops Ana's answer
    (Beto gets the slot) and Cira's (she leaves the queue)."""
    fake[1].config.tokens_per_second = 4
    fake[1].config.answer_tokens = 400
    ana = await make_user(full_name="Ana Araya")
    beto = await make_user(full_name="Beto Bravo")
    cira = await make_user(full_name="Cira Cruz")
    admin_user = await make_user("admin")
    admin = await auth_headers(admin_user)
    async with live_app(ollama_max_parallel=1) as (base, _):
        first, ana_stream = await open_chat(http, base, await auth_headers(ana))
        await read_until(ana_stream, ana_events := [], "token")
        second, beto_stream = await open_chat(http, base, await auth_headers(beto))
        await read_until(beto_stream, beto_events := [], "queue")
        third, cira_stream = await open_chat(http, base, await auth_headers(cira))
        await read_until(cira_stream, cira_events := [], "queue")
        queue = await _queue(http, base, admin)
        running, waiting = _of(queue, "Ana Araya"), _of(queue, "Cira Cruz")
        assert running["state"] == "writing" and running["stoppable"]
        assert (waiting["state"], waiting["position"], waiting["stoppable"]) == ("waiting", 2, True)

        stopped = await http.post(f"{base}/admin/status/work/{running['id']}/stop", headers=admin)
        assert stopped.status_code == 200, stopped.text
        assert stopped.json() == {"id": running["id"], "status": "stopped"}
        await read_until(ana_stream, ana_events, "done")
        await read_until(beto_stream, beto_events, "token")  # the slot went to the next

        stopped = await http.post(f"{base}/admin/status/work/{waiting['id']}/stop", headers=admin)
        assert stopped.status_code == 200, stopped.text
        await read_until(cira_stream, cira_events, "done")
        queue = await _queue(http, base, admin)
        assert [w["full_name"] for w in queue["running"] + queue["waiting"]] == ["Beto Bravo"]

        again = await http.post(f"{base}/admin/status/work/{running['id']}/stop", headers=admin)
        assert again.status_code == 404 and again.json()["code"] == "work_not_found"
        for response in (first, second, third):
            await response.aclose()
    for events in (ana_events, cira_events):
        (error,) = named(events, "error")
        assert error == {
            "code": "stopped_by_admin",
            "detail": "Un administrador detuvo esta respuesta.",
        }
        assert named(events, "done")[0]["status"] == "stopped"
        saved = await load_message(sessionmaker, events[0][1]["assistant_message_id"])
        assert (saved.status, saved.error_code) == ("stopped", "stopped_by_admin")
    assert not named(cira_events, "token")
    trail = await audit_events(sessionmaker, "work.stopped")
    assert [(e.actor_id, e.target_type, e.target_id) for e in trail] == [
        (admin_user.id, "user", str(ana.id)),
        (admin_user.id, "user", str(cira.id)),
    ]
    assert [e.details for e in trail] == [
        {"kind": "chat", "state": "writing"},
        {"kind": "chat", "state": "waiting"},
    ]


async def test_only_admins_stop_answers(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A supervisor or a worker gets 403 and the answer goes on; an unknown id is 404."""
    fake[1].config.tokens_per_second = 4
    fake[1].config.answer_tokens = 60
    ana = await make_user(full_name="Ana Araya")
    admin = await auth_headers(await make_user("admin"))
    async with live_app(ollama_max_parallel=1) as (base, _):
        response, stream = await open_chat(http, base, await auth_headers(ana))
        await read_until(stream, events := [], "token")
        work = _of(await _queue(http, base, admin), "Ana Araya")
        url = f"{base}/admin/status/work/{work['id']}/stop"
        for role in ("supervisor", "trabajador"):
            refused = await http.post(url, headers=await auth_headers(await make_user(role)))
            assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        assert (await http.post(url, headers=await auth_headers(ana))).status_code == 403
        assert (await http.post(url)).status_code == 401
        unknown = await http.post(f"{base}/admin/status/work/{'0' * 32}/stop", headers=admin)
        assert unknown.status_code == 404 and unknown.json()["code"] == "work_not_found"
        await read_until(stream, events, "done")
        await response.aclose()
    assert named(events, "done")[0]["status"] == "complete" and not named(events, "error")
    assert await audit_events(sessionmaker, "work.stopped") == []


async def test_a_title_is_not_stopped(make_user: UserFactory) -> None:
    """A title yields its slot to anyone who asks already: 409 ``work_not_stoppable``."""
    title = Work(None, "title", running=True)
    engine = SimpleNamespace(broker=SimpleNamespace(work=AsyncMock(return_value=[title])))
    app = cast(FastAPI, SimpleNamespace(state=SimpleNamespace(chat=engine)))
    admin = await make_user("admin")
    with pytest.raises(AppError) as refused:
        await status_stop.stop_work(app, cast(AsyncSession, None), admin, title.id, cast(Any, None))
    assert (refused.value.status_code, refused.value.code) == (409, "work_not_stoppable")


def test_the_trail_says_whose_answer_was_stopped() -> None:
    ana = str(uuid.uuid4())
    names = Names(people={ana: Person("Ana Araya", "ana@alvaradomazzei.cl")})
    for details, said in (
        ({"kind": "chat", "state": "writing"}, "del chat de Ana Araya (mientras se escribía)"),
        ({"kind": "api", "state": "waiting"}, "de la API de Ana Araya (en espera)"),
    ):
        event = EventFacts("work.stopped", "user", ana, details)
        assert describe(event, names) == f"Detuvo una respuesta {said}"
    assert ACTION_NAMES["work.stopped"] == "Detención de una respuesta desde Estado"


def _stub_app(work: Work, stop_answer: Any) -> FastAPI:
    engine = SimpleNamespace(
        broker=SimpleNamespace(
            work=AsyncMock(return_value=[work]), shared=False, stops=LocalStopClaims()
        ),
        stop_answer=stop_answer,
    )
    return cast(FastAPI, SimpleNamespace(state=SimpleNamespace(chat=engine)))


@pytest.mark.parametrize("ended", ["complete", "error", None])
async def test_an_answer_that_ended_meanwhile_is_not_claimed_stopped(
    make_user: UserFactory, ended: str | None
) -> None:
    """The answer ended on its own between the tab's read and the stop (or nothing runs it any
    more): 404 ``work_not_found``, no audit row saying it was stopped, and the claim of the stop
    is given back."""
    work = Work(uuid.uuid4(), "chat", running=True, answer_id=uuid.uuid4())
    app = _stub_app(work, AsyncMock(return_value=ended))
    session = MagicMock()
    with pytest.raises(AppError) as refused:
        await status_stop.stop_work(app, session, await make_user("admin"), work.id, None)
    assert (refused.value.status_code, refused.value.code) == (404, "work_not_found")
    session.add.assert_not_called()
    assert await app.state.chat.broker.stops.claim(work.id)  # no stop happened: released


async def test_two_admins_stopping_at_once_leave_one_audit_row(make_user: UserFactory) -> None:
    """Two stops of the same answer at once (two admins, a double click): the first stops it
    and is audited; the second is 404 ``work_not_found``, not a second "Detuvo"."""
    work = Work(uuid.uuid4(), "chat", running=True, answer_id=uuid.uuid4())

    async def stop_answer(answer_id: uuid.UUID, reason: str) -> str:
        await asyncio.sleep(0.05)  # the save of the stopped answer
        return "stopped"

    app = _stub_app(work, stop_answer)
    session = MagicMock()
    admin = await make_user("admin")
    results = await asyncio.gather(
        status_stop.stop_work(app, session, admin, work.id, None),
        status_stop.stop_work(app, session, admin, work.id, None),
        return_exceptions=True,
    )
    assert sum(isinstance(r, AppError) and r.code == "work_not_found" for r in results) == 1
    assert session.add.call_count == 1


@pytest.mark.parametrize(
    ("shared", "stays", "said"),
    [(True, False, "stopped"), (True, True, "stopping"), (False, False, None)],
)
@pytest.mark.parametrize("kind", ["api", "chat"])
async def test_an_answer_elsewhere_is_said_stopped_once_it_left_the_board(
    make_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    shared: bool,
    stays: bool,
    said: str | None,
) -> None:
    """An answer another process generates is only asked to stop: an API one's notice gets no
    answer; a web one's gets none from a process of an older release (it ignores an admin's
    notice). The stop says ``stopped`` once it left the board, ``stopping`` while it is still
    there (not "ya terminó"); with no other process, an answer nothing stops here has ended."""
    monkeypatch.setattr(status_stop, "STOP_CONFIRM_SECONDS", 0.3)
    work = Work(uuid.uuid4(), cast(Any, kind), running=True, answer_id=uuid.uuid4())
    app = _stub_app(work, AsyncMock(return_value=None))
    engine = app.state.chat
    engine.broker.shared = shared
    engine.broker.work = AsyncMock(side_effect=[[work]] + [[work] if stays else []] * 100)
    session = MagicMock()
    admin = await make_user("admin")
    if said is None:
        with pytest.raises(AppError) as refused:
            await status_stop.stop_work(app, session, admin, work.id, None)
        assert refused.value.code == "work_not_found" and not session.add.called
        return
    out = await status_stop.stop_work(app, session, admin, work.id, None)
    assert out.status == said and session.add.call_count == 1
