"""The chat's failure paths (issue 26's bugs): a failed answer keeps its error and offers
"Reintentar", the composer warns while Ollama is down, "Nueva conversación" always resets, a
refused message explains itself once, and focus lands on the next control after every action."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Route, expect

from tests.ui.conftest import LiveApp, login, row_action

pytestmark = pytest.mark.browser

ANSWER = ".msg-assistant"
RATE_LIMITED = "Envió demasiados mensajes seguidos. Espere 16 s e intente de nuevo."
HEALTH = re.compile(r".*/health$")


def _send(page: Page, text: str) -> None:
    page.fill("#composer-input", text)
    page.keyboard.press("Enter")


def _login_new_worker(page: Page, app: LiveApp) -> dict[str, str]:
    user = app.create_user(full_name="Rita Reintento")
    login(page, app.base_url, user["email"], user["password"])
    return user


def _stream_over(page: Page) -> None:
    """The answer's stream has been read to its end (`done` handled, nothing left to follow)."""
    page.wait_for_function("() => sessionStorage.getItem('energyapp.streaming') === null")
    expect(page.locator("#send-btn")).to_be_visible()


def _health(ollama: str) -> object:
    def fulfill(route: Route) -> None:
        body = {"status": "ok", "db": "ok", "ollama": ollama, "version": "test"}
        route.fulfill(json=body)

    return fulfill


def test_a_failed_answer_keeps_its_error_and_asks_again(
    page: Page, dead_ollama_app: LiveApp
) -> None:
    _login_new_worker(page, dead_ollama_app)
    _send(page, "¿Cuánto consume un motor de 5 kW?")
    answer = page.locator(ANSWER).last
    expect(answer).to_have_attribute("data-status", "error")
    _stream_over(page)
    # The `done` after the `error` event no longer wipes it.
    error = answer.locator(".msg-error")
    expect(error).to_contain_text("El servicio del modelo (Ollama) no está disponible")
    expect(answer.get_by_role("button", name="Reintentar", exact=True)).to_be_visible()

    # Opened again: the stored error is explained, and "Reintentar" asks the same question anew.
    page.reload()
    answer = page.locator(ANSWER).last
    expect(answer).to_have_attribute("data-status", "error")
    expect(answer.locator(".msg-error")).to_contain_text("no estaba disponible")
    answer.get_by_role("button", name="Reintentar", exact=True).click()
    expect(page.locator(".msg-user")).to_have_count(2)
    expect(page.locator(".msg-user .bubble").last).to_have_text("¿Cuánto consume un motor de 5 kW?")
    expect(page.locator(ANSWER)).to_have_count(2)
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "error")
    _stream_over(page)
    # Both failures stay explained; only the new one offers "Reintentar".
    expect(page.locator(f"{ANSWER} .msg-error")).to_have_count(2)
    expect(page.get_by_role("button", name="Reintentar", exact=True)).to_have_count(1)
    # Still one conversation: the question went to the same one.
    expect(page.locator(".conv-item")).to_have_count(1)


def test_the_composer_warns_while_ollama_is_down(page: Page, dead_ollama_app: LiveApp) -> None:
    _login_new_worker(page, dead_ollama_app)
    warning = page.locator("#model-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("El servicio del modelo no está disponible")
    expect(page.locator(".msg-user")).to_have_count(0)


def test_the_warning_is_rechecked_and_cleared_and_the_polling_stops(
    page: Page, live_app: LiveApp
) -> None:
    page.clock.install()
    page.route(HEALTH, _health("unavailable"))
    _login_new_worker(page, live_app)
    warning = page.locator("#model-warning")
    expect(warning).to_be_visible()

    page.unroute(HEALTH)
    page.route(HEALTH, _health("ok"))
    page.clock.run_for(31_000)
    expect(warning).to_be_hidden()

    page.unroute(HEALTH)
    page.route(HEALTH, _health("unavailable"))
    page.clock.run_for(31_000)
    expect(warning).to_be_visible()

    # Left for the config screen: no more checks.
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.click("nav.tabs a:text('Configuración')")
    expect(page.get_by_role("heading", name="Configuración", exact=True)).to_be_visible()
    page.clock.run_for(95_000)
    page.wait_for_timeout(300)
    assert [url for url in asked if "/health" in url] == []


def _refuse_chat(page: Page) -> None:
    page.route(
        "**/chat",
        lambda route: route.fulfill(
            status=429,
            json={"detail": RATE_LIMITED, "code": "rate_limited"},
            headers={"Retry-After": "16"},
        ),
    )


def test_a_rate_limited_message_says_when_to_retry_once(page: Page, live_app: LiveApp) -> None:
    _login_new_worker(page, live_app)
    _refuse_chat(page)
    _send(page, "Hola")
    # The server's detail already names the wait: nothing is appended to it.
    expect(page.locator(f"{ANSWER} .msg-error span")).to_have_text(RATE_LIMITED)


def test_new_conversation_resets_after_a_refused_first_message(
    page: Page, live_app: LiveApp
) -> None:
    _login_new_worker(page, live_app)
    _refuse_chat(page)
    _send(page, "Hola")
    expect(page.locator(f"{ANSWER} .msg-error")).to_be_visible()
    assert page.url.endswith("#/chat")  # nothing was created: the address did not change

    page.click("#new-chat")
    expect(page.locator("#welcome")).to_be_visible()
    expect(page.locator(".msg-user")).to_have_count(0)
    expect(page.locator(ANSWER)).to_have_count(0)
    expect(page.locator("#composer-input")).to_be_focused()


def test_detener_hands_the_focus_to_the_composer(page: Page, live_app: LiveApp) -> None:
    _login_new_worker(page, live_app)
    _send(page, "Escribe un texto muy largo")
    expect(page.locator(f"{ANSWER} .md").last).not_to_be_empty()
    page.get_by_role("button", name="Detener").click()
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "stopped")
    expect(page.locator("#composer-input")).to_be_focused()


def test_rename_keeps_the_focus_on_the_row(page: Page, live_app: LiveApp) -> None:
    user = _login_new_worker(page, live_app)
    live_app.create_conversation(user["id"], "Balance de marzo", [("user", "Hola")])
    page.reload()
    row = page.locator(".conv-item").first
    row.locator(".conv-link").focus()
    row_action(row, "Renombrar")
    page.fill(".conv-rename", "Balance de abril")
    page.keyboard.press("Enter")
    expect(page.locator(".conv-title").first).to_have_text("Balance de abril")
    more = page.locator(".conv-item").first.locator("[data-action=more]")
    expect(more).to_be_focused()

    page.keyboard.press("Enter")  # opens the menu on its first item, "Renombrar"
    expect(page.get_by_role("menuitem", name="Renombrar")).to_be_focused()
    page.keyboard.press("Enter")
    page.fill(".conv-rename", "No se guarda")
    page.keyboard.press("Escape")
    expect(page.locator(".conv-title").first).to_have_text("Balance de abril")
    expect(page.locator(".conv-item").first.locator("[data-action=more]")).to_be_focused()


def test_the_delete_dialog_returns_the_focus(page: Page, live_app: LiveApp) -> None:
    user = _login_new_worker(page, live_app)
    live_app.create_conversation(user["id"], "Más antigua", [("user", "Hola")])
    live_app.create_conversation(user["id"], "Más nueva", [("user", "Hola")])
    page.reload()
    expect(page.locator(".conv-title")).to_have_text(["Más nueva", "Más antigua"])

    first = page.locator(".conv-item").first
    first.locator(".conv-link").focus()
    row_action(first, "Eliminar")
    page.locator("dialog button", has_text="Cancelar").click()
    expect(page.locator(".conv-item").first.locator("[data-action=more]")).to_be_focused()

    page.keyboard.press("ArrowUp")  # the focused menu button: ArrowUp opens it on its last item
    page.keyboard.press("Enter")
    page.locator("dialog button", has_text="Eliminar").click()
    expect(page.locator(".conv-title")).to_have_text(["Más antigua"])
    expect(page.locator(".conv-item .conv-link")).to_be_focused()

    row_action(page.locator(".conv-item").first, "Eliminar")
    page.locator("dialog button", has_text="Eliminar").click()
    expect(page.locator(".conv-item")).to_have_count(0)
    expect(page.locator("#new-chat")).to_be_focused()
