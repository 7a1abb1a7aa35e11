"""An answer cut by the length cap (``finish_reason`` "length", docs/chat.md) says so under it,
live and after a reload; "Continuar" under the last one asks the server to go on with it, in
the same bubble."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from energyapp.auth.models import User
from energyapp.conversations.models import Message
from energyapp.db import create_engine, create_sessionmaker
from energyapp.usage.quota import quota_day_bounds
from tests.ui.conftest import (
    LiveApp,
    _arun,
    _database,
    _free_port,
    _seed,
    _serve,
    _stop,
    _wait_http,
    login,
)

pytestmark = pytest.mark.browser

ANSWER = ".msg-assistant"
CUT = "La respuesta llegó al largo máximo."
NUM_CTX = 256  # the answer's room: 64 tokens; the stand-in writes 150


@pytest.fixture(scope="module")
def cut_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """An app on a database of its own whose stand-in Ollama writes longer answers than the
    small num_ctx leaves room for: every answer is cut."""
    logs = tmp_path_factory.mktemp("ui-length-logs")
    port = _free_port()
    ollama_url = f"http://127.0.0.1:{port}"
    fake = subprocess.Popen(
        [
            sys.executable, "-m", "energyapp.llm.fake_server", "--port", str(port),
            "--tokens-per-second", "60", "--answer-tokens", "150",
            "--model", "qwen2.5:3b-instruct",
        ],
        stdout=(logs / "ollama.log").open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_http(f"{ollama_url}/api/version", fake)
        with _database(tmp_path_factory.mktemp("ui-length")) as db_url:
            _seed(db_url)
            env = {"ENERGYAPP_NUM_CTX": str(NUM_CTX)}
            with _serve(db_url, ollama_url, logs, env) as base:
                yield LiveApp(base_url=base, db_url=db_url, ollama_url=ollama_url)
    finally:
        _stop([fake])


def _stream_over(page: Page) -> None:
    page.wait_for_function("() => sessionStorage.getItem('energyapp.streaming') === null")
    expect(page.locator("#send-btn")).to_be_visible()


def test_a_cut_answer_says_so_live_and_after_a_reload(page: Page, cut_app: LiveApp) -> None:
    user = cut_app.create_user(full_name="Laura Largo")
    login(page, cut_app.base_url, user["email"], user["password"])
    page.fill("#composer-input", "Explíqueme la red eléctrica con detalle")
    page.keyboard.press("Enter")
    answer = page.locator(ANSWER).last
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.locator(".msg-cut")).to_contain_text(CUT)
    _stream_over(page)
    page.reload()
    answer = page.locator(ANSWER).last
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.locator(".msg-cut")).to_contain_text(CUT)


def test_continuar_writes_on_the_same_answer(page: Page, cut_app: LiveApp) -> None:
    user = cut_app.create_user(full_name="Carlos Continuar")
    login(page, cut_app.base_url, user["email"], user["password"])
    page.fill("#composer-input", "Explíqueme la red eléctrica con detalle")
    page.keyboard.press("Enter")
    answer = page.locator(ANSWER).last
    expect(answer.locator(".msg-cut")).to_contain_text(CUT)
    _stream_over(page)
    first = answer.locator(".md").inner_text()
    answer_id = answer.get_attribute("data-id")

    answer.get_by_role("button", name="Continuar").click()
    # The same bubble grows, and is cut again (the stand-in writes more than the room).
    expect(page.locator(ANSWER)).to_have_count(1)
    expect(answer).to_have_attribute("data-status", "complete")
    _stream_over(page)
    grown = answer.locator(".md").inner_text()
    assert grown.startswith(first.rstrip(".")[:40]) and len(grown) > len(first)
    assert answer.get_attribute("data-id") == answer_id
    expect(answer.get_by_role("button", name="Continuar")).to_be_visible()
    # Its speed (both parts', from the server's times in ``done``) shows without a reload.
    expect(answer.locator(".msg-stats")).to_contain_text("tokens/s")

    # Reloaded while a continuation is written: the whole answer is followed again.
    answer.get_by_role("button", name="Continuar").click()
    expect(answer).to_have_attribute("data-status", "streaming")
    page.reload()
    answer = page.locator(ANSWER).last
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.locator(".msg-cut")).to_contain_text(CUT)
    _stream_over(page)
    final = answer.locator(".md").inner_text()
    assert final.startswith(grown[:40]) and len(final) > len(grown)
    expect(answer.locator(".msg-stats")).to_contain_text("tokens/s")

    # A question below it: the answer above no longer offers "Continuar", its note stays.
    page.fill("#composer-input", "Gracias")
    page.keyboard.press("Enter")
    expect(page.locator(ANSWER)).to_have_count(2)
    expect(page.locator(ANSWER).first.get_by_role("button", name="Continuar")).to_have_count(0)
    expect(page.locator(ANSWER).first.locator(".msg-cut")).to_contain_text(CUT)


def test_a_continuation_that_ends_in_a_hidden_tab_notifies_again(
    page: Page, cut_app: LiveApp
) -> None:
    # The browser already told the end of the answer it continues (the same message): the
    # continuation's end is told too.
    from tests.ui.test_notify_ui import _hide, _prepare, _shown, _turn_on, _wait_shown

    _prepare(page, "granted")
    user = cut_app.create_user(full_name="Nina Notas")
    login(page, cut_app.base_url, user["email"], user["password"])
    _turn_on(page)
    page.goto(f"{cut_app.base_url}/#/chat")
    _hide(page)
    page.fill("#composer-input", "Explíqueme la red eléctrica con detalle")
    page.keyboard.press("Enter")
    answer = page.locator(ANSWER).last
    expect(answer.locator(".msg-cut")).to_contain_text(CUT)
    _wait_shown(page, 1)
    _stream_over(page)
    _hide(page, False)

    _hide(page)
    answer.get_by_role("button", name="Continuar").click()
    expect(answer).to_have_attribute("data-status", "streaming")
    expect(answer).to_have_attribute("data-status", "complete")
    _stream_over(page)
    page.wait_for_function("() => window.__notifications.length >= 2", timeout=5000)
    assert [n["body"] for n in _shown(page)] == ["La respuesta está lista."] * 2


def _written_yesterday(app: LiveApp, question_id: str, answer_id: str) -> None:
    """The question and its answer moved to the minutes before today's quota day, in order."""

    async def _update() -> None:
        engine = create_engine(app.db_url)
        try:
            async with create_sessionmaker(engine)() as session:
                start, _ = quota_day_bounds()
                for message_id, minutes in ((question_id, 2), (answer_id, 1)):
                    await session.execute(
                        update(Message)
                        .where(Message.id == uuid.UUID(message_id))
                        .values(created_at=start - timedelta(minutes=minutes))
                    )
                await session.commit()
        finally:
            await engine.dispose()

    _arun(_update())


def test_an_answer_of_an_earlier_day_offers_no_continuar(page: Page, cut_app: LiveApp) -> None:
    """The server continues only an answer of today's quota day (continue_too_late): an older
    cut answer keeps its note, without a button that could only be refused."""
    question_id, answer_id = _a_cut_answer(page, cut_app, "Ayer Largo")
    _written_yesterday(cut_app, question_id, answer_id)
    _no_continuar_after_a_reload(page)


def _a_cut_answer(page: Page, app: LiveApp, name: str) -> tuple[str, str]:
    """A new person's first answer, cut and offered "Continuar": its question's id and its."""
    user = app.create_user(full_name=name)
    login(page, app.base_url, user["email"], user["password"])
    page.fill("#composer-input", "Explíqueme la red eléctrica con detalle")
    page.keyboard.press("Enter")
    answer = page.locator(ANSWER).last
    expect(answer.get_by_role("button", name="Continuar")).to_be_visible()
    _stream_over(page)
    answer_id, question_id = answer.get_attribute("data-id"), answer.get_attribute("data-parent")
    assert answer_id and question_id
    return question_id, answer_id


def _no_continuar_after_a_reload(page: Page) -> None:
    page.reload()
    answer = page.locator(ANSWER).last
    expect(answer.locator(".msg-cut")).to_contain_text(CUT)
    expect(answer.get_by_role("button", name="Continuar")).to_have_count(0)


def test_an_answer_written_for_an_earlier_owner_offers_no_continuar(
    page: Page, cut_app: LiveApp
) -> None:
    """In a conversation an administrator reassigned, the earlier owner's cut answer is not
    continued by the new one (answer_of_another): no button that could only be refused."""
    earlier = cut_app.create_user(full_name="Antiguo Dueño")
    _question_id, answer_id = _a_cut_answer(page, cut_app, "Nueva Dueña")
    _written_for(cut_app, answer_id, earlier["email"])
    _no_continuar_after_a_reload(page)


def _written_for(app: LiveApp, answer_id: str, email: str) -> None:
    """The answer marked as written for another person (as after a reassignment)."""

    async def _update() -> None:
        engine = create_engine(app.db_url)
        try:
            async with create_sessionmaker(engine)() as session:
                other = (await session.execute(select(User.id).where(User.email == email))).one()
                await session.execute(
                    update(Message)
                    .where(Message.id == uuid.UUID(answer_id))
                    .values(user_id=other.id)
                )
                await session.commit()
        finally:
            await engine.dispose()

    _arun(_update())
