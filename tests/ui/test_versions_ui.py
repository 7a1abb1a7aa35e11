"""Edit, regenerate and versions in the browser; each message's time, an answer's tokens and
speed; export from the UI."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from tests.ui.conftest import LiveApp, login, quick_login

pytestmark = pytest.mark.browser

ANSWER = ".msg-assistant"
QUESTION = ".msg-user"
CHILE = ZoneInfo("America/Santiago")
MESSAGES = re.compile(r".*/conversations/[^/]+/messages(\?.*)?$")


def _login_new_worker(page: Page, live_app: LiveApp) -> dict[str, str]:
    user = live_app.create_user(full_name="Valentina Versiones")
    login(page, live_app.base_url, user["email"], user["password"])
    return user


def _send(page: Page, text: str) -> None:
    page.fill("#composer-input", text)
    page.keyboard.press("Enter")


def _assert_chile_time(message: Locator) -> None:
    """The message's time is its instant written dd-mm-aaaa HH:MM in Chile's time."""
    stamp = message.locator(".msg-time")
    expect(stamp).to_have_text(re.compile(r"^\d{2}-\d{2}-\d{4} \d{2}:\d{2}$"))
    moment = datetime.fromisoformat(str(stamp.get_attribute("datetime")).replace("Z", "+00:00"))
    assert stamp.inner_text() == moment.astimezone(CHILE).strftime("%d-%m-%Y %H:%M")


def _versions(message: Locator) -> Locator:
    return message.locator(".versions .version-count")


def test_regenerate_edit_and_version_navigation(page: Page, live_app: LiveApp) -> None:
    _login_new_worker(page, live_app)
    _send(page, "Primera pregunta")
    answer = page.locator(ANSWER).last
    expect(answer).to_have_attribute("data-status", "complete")
    # Time on both, tokens and speed on the answer (the stand-in writes 60 tokens).
    _assert_chile_time(page.locator(QUESTION).last)
    _assert_chile_time(answer)
    expect(answer.locator(".msg-stats")).to_have_text(
        re.compile(r"^60 tokens · \d+(,\d)? tokens/s$")
    )
    expect(answer.locator(".versions")).to_have_count(0)
    expect(page.get_by_role("button", name="Exportar")).to_be_visible()  # a conversation now
    first_id = answer.get_attribute("data-id")

    # Regenerar: a second answer to the same question, with ‹ 2/2 ›.
    answer.get_by_role("button", name="Regenerar").click()
    expect(page.locator(ANSWER)).to_have_count(1)
    expect(_versions(page.locator(ANSWER).last)).to_have_text("2/2", timeout=20_000)
    answer = page.locator(ANSWER).last
    second_id = answer.get_attribute("data-id")
    assert second_id and second_id != first_id
    expect(answer.get_by_role("button", name="Versión siguiente")).to_be_disabled()
    expect(answer.locator(".msg-stats")).to_contain_text("tokens/s")

    # Back to the first answer; focus stays on the navigation; the choice survives a reload.
    answer.get_by_role("button", name="Versión anterior").click()
    answer = page.locator(ANSWER).last
    expect(_versions(answer)).to_have_text("1/2")
    expect(answer).to_have_attribute("data-id", str(first_id))
    expect(answer.get_by_role("button", name="Versión siguiente")).to_be_focused()
    page.reload()
    expect(_versions(page.locator(ANSWER).last)).to_have_text("1/2")
    expect(page.locator(ANSWER).last).to_have_attribute("data-id", str(first_id))

    # Editar: the question opens in place; sending makes a new branch.
    question = page.locator(QUESTION).last
    question.get_by_role("button", name="Editar").click()
    field = question.get_by_role("textbox", name="Editar mensaje")
    expect(field).to_be_focused()
    expect(field).to_have_value("Primera pregunta")
    field.fill("Pregunta corregida")
    question.get_by_role("button", name="Enviar", exact=True).click()
    expect(_versions(page.locator(QUESTION).last)).to_have_text("2/2", timeout=20_000)
    expect(page.locator(f"{QUESTION} .bubble")).to_have_text(["Pregunta corregida"])
    expect(page.locator(ANSWER)).to_have_count(1)
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "complete")
    expect(page.locator(ANSWER).last.locator(".versions")).to_have_count(0)

    # The first version of the question comes back with the newest answer below it.
    page.locator(QUESTION).last.get_by_role("button", name="Versión anterior").click()
    expect(page.locator(f"{QUESTION} .bubble")).to_have_text(["Primera pregunta"])
    expect(_versions(page.locator(QUESTION).last)).to_have_text("1/2")
    expect(page.locator(ANSWER).last).to_have_attribute("data-id", str(second_id))
    expect(_versions(page.locator(ANSWER).last)).to_have_text("2/2")

    # An edit cancelled with Esc changes nothing and gives focus back to "Editar".
    question = page.locator(QUESTION).last
    question.get_by_role("button", name="Editar").click()
    question.get_by_role("textbox", name="Editar mensaje").press("Escape")
    expect(question.get_by_role("button", name="Editar")).to_be_focused()
    expect(page.locator(f"{QUESTION} .bubble")).to_have_text(["Primera pregunta"])


def _regenerate_with_focus_on(page: Page, button: Locator, versions: str) -> None:
    """Regenerar on the last answer; while it is written, the keyboard goes to ``button``
    (another message's), and the branch drawn again (held until then) must give it back."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route(MESSAGES, hold)
    page.locator(ANSWER).last.get_by_role("button", name="Regenerar").click()
    for _ in range(400):  # the answer is complete once its branch is asked for again
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the branch was not fetched again"
    button.focus()
    for route in held:
        route.continue_()
    page.unroute(MESSAGES)
    expect(_versions(page.locator(ANSWER).last)).to_have_text(versions)
    expect(button).to_be_focused()  # the replacement of the button: same message, same action


def test_focus_stays_on_its_button_when_the_branch_is_drawn_again(
    page: Page, live_app: LiveApp
) -> None:
    user = _login_new_worker(page, live_app)
    conv = live_app.create_conversation(
        user["id"],
        "Dos preguntas",
        [("user", "Primera"), ("assistant", "Uno"), ("user", "Segunda"), ("assistant", "Dos")],
    )
    page.goto(f"{live_app.base_url}/static/index.html#/chat/{conv}")
    expect(page.locator(ANSWER)).to_have_count(2)
    first_answer = page.locator(
        f"{ANSWER}[data-id='{page.locator(ANSWER).first.get_attribute('data-id')}']"
    )
    first_question = page.locator(
        f"{QUESTION}[data-id='{page.locator(QUESTION).first.get_attribute('data-id')}']"
    )
    _regenerate_with_focus_on(
        page, first_answer.get_by_role("button", name="Copiar respuesta"), "2/2"
    )
    assert page.evaluate("document.activeElement.dataset.action") == "copy"
    _regenerate_with_focus_on(page, first_question.get_by_role("button", name="Editar"), "3/3")


def test_stopped_answer_shows_what_it_has(page: Page, live_app: LiveApp) -> None:
    _login_new_worker(page, live_app)
    _send(page, "Una respuesta que detendré")
    page.wait_for_function(
        "() => { const el = document.querySelector('.msg-assistant .md');"
        " return el !== null && el.innerText.length > 5; }"
    )
    page.click("#stop-btn")
    answer = page.locator(ANSWER).last
    expect(answer).to_have_attribute("data-status", "stopped")
    # Ollama did not count its tokens: the time it ran instead, and when it was asked.
    expect(answer.locator(".msg-stats")).to_have_text(re.compile(r"^\d+(,\d)? s$"))
    _assert_chile_time(answer)
    page.reload()
    answer = page.locator(ANSWER).last
    expect(answer.locator(".msg-stats")).to_have_text(re.compile(r"^\d+(,\d)? s$"))
    expect(answer.get_by_role("button", name="Regenerar")).to_be_visible()


def test_export_branch_or_every_version(page: Page, live_app: LiveApp) -> None:
    user = _login_new_worker(page, live_app)
    conv = live_app.create_conversation(
        user["id"],
        "Informe de consumo",
        [("user", "¿Cuánto consumió la planta?"), ("assistant", "Versión nueva de la respuesta")],
        versions={1: ["Versión antigua de la respuesta"]},
    )
    page.goto(f"{live_app.base_url}/static/index.html#/chat/{conv}")
    expect(_versions(page.locator(ANSWER).last)).to_have_text("2/2")

    page.get_by_role("button", name="Exportar").click()
    dialog = page.get_by_role("dialog", name="Exportar conversación")
    expect(dialog.get_by_role("radio", name="Markdown (.md)")).to_be_checked()
    with page.expect_download() as info:
        dialog.get_by_role("button", name="Descargar").click()
    download = info.value
    assert download.suggested_filename == "conversacion-Informe-de-consumo.md"
    markdown = Path(download.path()).read_text(encoding="utf-8")
    assert markdown.startswith("# Informe de consumo\n")
    assert "Versión nueva de la respuesta" in markdown
    assert "Versión antigua de la respuesta" not in markdown
    assert "(hora de Chile)" in markdown and "rama actual" in markdown

    page.get_by_role("button", name="Exportar").click()
    dialog = page.get_by_role("dialog", name="Exportar conversación")
    dialog.get_by_role("radio", name="JSON (.json)").check()
    dialog.get_by_role("radio", name=re.compile("^Todas las versiones")).check()
    with page.expect_download() as info:
        dialog.get_by_role("button", name="Descargar").click()
    document = json.loads(open(info.value.path(), encoding="utf-8").read())  # noqa: SIM115
    assert document["scope"] == "tree"
    contents = [m["content"] for m in document["messages"]]
    assert contents == [
        "¿Cuánto consumió la planta?",
        "Versión antigua de la respuesta",
        "Versión nueva de la respuesta",
    ]
    # Times carry Chile's offset (-03:00 in summer, -04:00 in winter).
    for message in document["messages"]:
        stamp = datetime.fromisoformat(message["created_at"])
        assert stamp.utcoffset() == stamp.astimezone(CHILE).utcoffset()
        assert message["created_at"].endswith(("-03:00", "-04:00"))
    expect(page.get_by_text("Conversación exportada.").last).to_be_visible()


def test_admin_viewer_shows_the_owners_branch_and_its_versions(
    page: Page, live_app: LiveApp
) -> None:
    owner = live_app.create_user(full_name="Dueña Versiones")
    conv = live_app.create_conversation(
        owner["id"],
        "Con versiones",
        [("user", "Pregunta editada"), ("assistant", "Respuesta")],
        versions={0: ["Pregunta original"]},
    )
    quick_login(page, live_app.base_url, "admin")
    page.goto(f"{live_app.base_url}/static/index.html#/admin/conversacion/{conv}")
    viewer = page.locator("#admin-viewer")
    expect(viewer.locator(".bubble")).to_have_text(["Pregunta editada"])
    expect(viewer.locator(".msg-user .msg-meta")).to_contain_text("versión 2 de 2")
    expect(viewer.locator(".msg-assistant .msg-meta")).not_to_contain_text("versión")
