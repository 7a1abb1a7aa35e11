"""Chat against the real app and the stand-in Ollama: streaming, title, reload, stop."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.ui.conftest import LiveApp, login, row_action

pytestmark = pytest.mark.browser

ANSWER = ".msg-assistant"


def _send(page: Page, text: str) -> None:
    page.fill("#composer-input", text)
    page.keyboard.press("Enter")


def _answer_length(page: Page) -> int:
    return len(page.locator(f"{ANSWER} .md").last.inner_text())


def _wait_answer_longer_than(page: Page, length: int) -> None:
    # A function, not an expression string: the app's CSP forbids eval in the page.
    page.wait_for_function(
        "n => { const els = document.querySelectorAll('.msg-assistant .md');"
        " return els.length > 0 && els[els.length - 1].innerText.length > n; }",
        arg=length,
    )


def _login_new_worker(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user(full_name="Paula Pruebas")
    login(page, live_app.base_url, user["email"], user["password"])


def test_send_streams_tokens_and_answer_and_title_persist(page: Page, live_app: LiveApp) -> None:
    _login_new_worker(page, live_app)
    expect(page.locator("#welcome")).to_be_visible()
    page.locator(".example").first.click()
    expect(page.locator("#composer-input")).not_to_have_value("")
    page.fill("#composer-input", "")
    _send(page, "Hola, ¿qué es la energía solar?")
    expect(page.locator(".msg-user .bubble")).to_have_text("Hola, ¿qué es la energía solar?")
    expect(page.locator("#stop-btn")).to_be_visible()
    expect(page.locator(".status-pill")).to_contain_text("generando")
    # Tokens arrive while the answer is still streaming: the text grows in place.
    _wait_answer_longer_than(page, 0)
    first = _answer_length(page)
    _wait_answer_longer_than(page, first)
    assert page.locator(ANSWER).last.get_attribute("data-status") == "streaming"
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "complete")
    expect(page.locator("#send-btn")).to_be_visible()
    answer = page.locator(f"{ANSWER} .md").last.inner_text()
    assert len(answer) > first

    # The automatic title replaces the placeholder in the sidebar.
    title = page.locator(".conv-item.active .conv-title")
    expect(title).not_to_have_text("Nueva conversación", timeout=20_000)
    expect(title).not_to_have_text("")
    title_text = title.inner_text()
    assert "#/chat/" in page.url

    page.reload()
    expect(page.locator(".msg-user .bubble")).to_have_text("Hola, ¿qué es la energía solar?")
    expect(page.locator(f"{ANSWER} .md")).to_have_text(answer)
    expect(page.locator(".conv-item.active .conv-title")).to_have_text(title_text)


def test_reload_mid_answer_reattaches_and_keeps_streaming(page: Page, live_app: LiveApp) -> None:
    _login_new_worker(page, live_app)
    _send(page, "Cuéntame algo largo")
    _wait_answer_longer_than(page, 5)
    page.reload()
    answer = page.locator(ANSWER).last
    expect(answer).to_have_attribute("data-status", "streaming")
    expect(page.locator("#stop-btn")).to_be_visible()
    at_reload = _answer_length(page)
    _wait_answer_longer_than(page, at_reload)
    expect(answer).to_have_attribute("data-status", "complete")
    final = page.locator(f"{ANSWER} .md").last.inner_text()
    page.reload()
    expect(page.locator(f"{ANSWER} .md")).to_have_text(final)
    assert page.evaluate("sessionStorage.getItem('energyapp.streaming')") is None


def test_stop_keeps_partial_answer(page: Page, live_app: LiveApp) -> None:
    _login_new_worker(page, live_app)
    _send(page, "Escribe un texto muy largo")
    _wait_answer_longer_than(page, 5)
    page.click("#stop-btn")
    answer = page.locator(ANSWER).last
    expect(answer).to_have_attribute("data-status", "stopped")
    expect(answer.locator(".pill")).to_have_text("Respuesta detenida")
    partial = page.locator(f"{ANSWER} .md").last.inner_text()
    assert partial
    page.reload()
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "stopped")
    expect(page.locator(f"{ANSWER} .md").last).to_have_text(partial)


def test_composer_counter_and_keys(page: Page, live_app: LiveApp) -> None:
    _login_new_worker(page, live_app)
    box = page.locator("#composer-input")
    box.fill("línea uno")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("línea dos")
    expect(box).to_have_value("línea uno\nlínea dos")
    expect(page.locator(".msg-user")).to_have_count(0)
    # The app runs with ENERGYAPP_MAX_MESSAGE_CHARS=500.
    box.fill("x" * 501)
    expect(page.locator("#composer-counter")).to_have_text("501 / 500")
    expect(page.locator("#composer-counter")).to_have_class("counter over")
    expect(page.locator("#send-btn")).to_be_disabled()
    page.keyboard.press("Enter")
    expect(page.locator(".msg-user")).to_have_count(0)


def test_sidebar_rename_pin_archive_delete_and_search(page: Page, live_app: LiveApp) -> None:
    _login_new_worker(page, live_app)
    _send(page, "Primera conversación de prueba")
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "complete")
    row_action(page.locator(".conv-item").first, "Renombrar")
    page.fill(".conv-rename", "Informe mensual")
    page.keyboard.press("Enter")
    expect(page.locator(".conv-title").first).to_have_text("Informe mensual")
    page.reload()
    expect(page.locator(".conv-title").first).to_have_text("Informe mensual")

    row_action(page.locator(".conv-item").first, "Fijar")
    expect(page.locator(".conv-group").first).to_have_text("Fijadas")

    page.fill("#conv-search", "no-existe-zzz")
    expect(page.locator(".list-status")).to_have_text("Sin resultados para su búsqueda.")
    page.fill("#conv-search", "Informe")
    expect(page.locator(".conv-title")).to_have_text(["Informe mensual"])
    page.fill("#conv-search", "")
    # The list is reloaded for the cleared search (a menu opened before that would go with it).
    expect(page.locator(".conv-list")).not_to_have_attribute("aria-busy", "true")

    row_action(page.locator(".conv-item").first, "Archivar")
    expect(page.locator(".conv-item")).to_have_count(0)
    page.check("#show-archived")
    expect(page.locator(".conv-title")).to_have_text(["Informe mensual"])

    row_action(page.locator(".conv-item").first, "Eliminar")
    page.locator("dialog button", has_text="Eliminar").click()
    # The open conversation is gone: back to a new, empty one.
    expect(page.locator("#welcome")).to_be_visible()
    assert page.url.endswith("#/chat")
    expect(page.locator(".conv-item")).to_have_count(0)
    page.reload()
    expect(page.locator(".list-status")).to_have_text("Aún no hay conversaciones.")
    page.check("#show-archived")
    expect(page.locator(".list-status")).to_have_text("No hay conversaciones archivadas.")


def test_error_shown_in_place_with_retry(page: Page, live_app: LiveApp) -> None:
    _login_new_worker(page, live_app)
    busy = {
        "detail": "El servicio está ocupado. Intente de nuevo en unos segundos.",
        "code": "busy",
    }
    page.route(
        "**/chat",
        lambda route: route.fulfill(
            status=503, json=busy, headers={"Retry-After": "3", "Content-Type": "application/json"}
        ),
    )
    _send(page, "¿Hay alguien?")
    error = page.locator(".msg-assistant .msg-error")
    # The server's detail says when to try again; the UI adds nothing to it.
    expect(error.locator("span")).to_have_text(busy["detail"])
    expect(page.locator("#send-btn")).to_be_visible()
    page.unroute("**/chat")
    error.locator("button", has_text="Reintentar").click()
    expect(page.locator(".msg-error")).to_have_count(0)
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "complete")
    expect(page.locator(".msg-user")).to_have_count(1)


def test_second_user_sees_queue_position(
    context: BrowserContext, page: Page, live_app: LiveApp
) -> None:
    _login_new_worker(page, live_app)
    other_context = context.browser.new_context()  # type: ignore[union-attr]
    try:
        other = other_context.new_page()
        _login_new_worker(other, live_app)
        _send(page, "Primero en llegar")
        _wait_answer_longer_than(page, 0)
        _send(other, "Segundo en llegar")
        # With three answers ended on this app, the server's estimate follows (below).
        expect(other.locator(".status-pill")).to_have_text(
            re.compile(r"^En cola: posición 1( · su turno en .+ min)?$")
        )
        expect(other.locator(ANSWER).last).to_have_attribute("data-status", "complete")
        expect(page.locator(ANSWER).last).to_have_attribute("data-status", "complete")
    finally:
        other_context.close()


QUEUE_TEXTS = """async () => {
  const { queueText } = await import("/static/js/views/chat/stream.js");
  return [
    queueText(1, null), queueText(2, 45), queueText(3, 150), queueText(1, 0), queueText(1, 80),
  ];
}"""


def test_the_queue_tells_the_expected_wait(page: Page, live_app: LiveApp) -> None:
    """A queued answer's place, and the wait the server expects there when it has measured
    enough answers (`wait_seconds`, tests/chat/test_waits.py), in minutes."""
    page.goto(f"{live_app.base_url}/static/index.html")
    assert page.evaluate(QUEUE_TEXTS) == [
        "En cola: posición 1",
        "En cola: posición 2 · su turno en menos de 1 min",
        "En cola: posición 3 · su turno en unos 3 min",
        "En cola: posición 1 · su turno en menos de 1 min",
        "En cola: posición 1 · su turno en alrededor de 1 min",
    ]


QUEUED_FOREVER = """() => {
  const real = window.fetch;
  window.fetch = (input, init) => {
    if (!String(input).endsWith("/chat") || init?.method !== "POST") return real(input, init);
    const body = new ReadableStream({
      start(controller) {
        const queue = JSON.stringify({ position: 2, wait_seconds: 200 });
        controller.enqueue(new TextEncoder().encode(`event: queue\\ndata: ${queue}\\n\\n`));
      },
    });
    const headers = { "Content-Type": "text/event-stream" };
    return Promise.resolve(new Response(body, { headers }));
  };
}"""


def test_a_queued_answers_expected_wait_counts_down(page: Page, live_app: LiveApp) -> None:
    """The server tells the expected wait when the place in the queue changes, which may be
    minutes apart: the text counts it down meanwhile, and says "en breve" once it has passed
    (it stayed at "unos 3 min" for as long as the place did)."""
    _login_new_worker(page, live_app)
    page.clock.install()
    page.evaluate(QUEUED_FOREVER)  # a place in the queue that never moves
    _send(page, "¿Cuánto falta?")
    pill = page.locator(".status-pill")
    # 200 s expected; the clock also runs on its own: each step lands 50 s or more from the
    # next change of text.
    expect(pill).to_have_text("En cola: posición 2 · su turno en unos 3 min")
    page.clock.run_for(60_000)  # 140 s to go
    expect(pill).to_have_text("En cola: posición 2 · su turno en unos 2 min")
    page.clock.run_for(90_000)  # 50 s
    expect(pill).to_have_text("En cola: posición 2 · su turno en menos de 1 min")
    page.clock.run_for(60_000)
    expect(pill).to_have_text("En cola: posición 2 · su turno en breve")


def test_model_picker_and_stand_in_label(page: Page, live_app: LiveApp) -> None:
    """The stand-in offers two models: the composer lets the user pick one (remembered), sends
    it with the message, and says plainly that the answers are synthetic."""
    _login_new_worker(page, live_app)
    note = page.locator("#composer-note")
    expect(note).to_contain_text("Ollama de reemplazo")
    expect(note).to_have_class(re.compile(r"\bstand-in\b"))
    picker = page.locator("#model-select")
    expect(picker).to_have_value("qwen2.5:3b-instruct")
    expect(picker.locator("option")).to_have_text(
        ["qwen2.5:3b-instruct (reemplazo)", "llama3.2:1b (reemplazo)"]
    )
    picker.select_option("llama3.2:1b")
    with page.expect_request(lambda r: r.url.endswith("/chat") and r.method == "POST") as sent:
        _send(page, "Hola con otro modelo")
    assert json.loads(sent.value.post_data or "{}")["model"] == "llama3.2:1b"
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "complete")

    page.reload()
    expect(page.locator("#model-select")).to_have_value("llama3.2:1b")
    # Nothing is sent until the conversation's messages are drawn (the picker may come first).
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "complete")
    page.locator("#model-select").select_option("qwen2.5:3b-instruct")
    with page.expect_request(lambda r: r.url.endswith("/chat") and r.method == "POST") as sent:
        _send(page, "Y ahora con el modelo por defecto")
    assert "model" not in json.loads(sent.value.post_data or "{}")  # the default: none sent
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "complete")


def test_a_real_model_is_not_labelled_stand_in(page: Page, live_app: LiveApp) -> None:
    """With a real Ollama (its /models answer, recorded) the note is the usual one and the one
    model is named, without a picker."""
    real = {
        "default_model": "qwen2.5:3b-instruct",
        "models": [
            {
                "name": "qwen2.5:3b-instruct", "default": True, "size": 1929912432,
                "family": "qwen2", "parameter_size": "3.1B", "quantization_level": "Q4_K_M",
                "stand_in": False,
            }
        ],
    }  # fmt: skip
    page.route(
        re.compile(r".*/models$"),
        lambda route: route.fulfill(json=real),
    )
    _login_new_worker(page, live_app)
    expect(page.locator("#model-name")).to_have_text("qwen2.5:3b-instruct")
    expect(page.locator("#model-select")).to_have_count(0)
    note = page.locator("#composer-note")
    expect(note).to_have_text(
        "EnergyApp responde con un modelo local; verifique la información importante."
    )
    expect(note).not_to_have_class(re.compile(r"\bstand-in\b"))


def test_a_default_model_not_pulled_is_shown_beside_the_others(
    page: Page, live_app: LiveApp
) -> None:
    """Ollama offers only another model: the default stays selected, marked not available (a
    message to it says what to run), and the offered one can be picked."""
    offered = {
        "default_model": "qwen2.5:3b-instruct",
        "models": [
            {
                "name": "llama3.2:1b", "default": False, "size": 1321098329, "family": "llama",
                "parameter_size": "1.2B", "quantization_level": "Q8_0", "stand_in": True,
            }
        ],
    }  # fmt: skip
    page.route(re.compile(r".*/models$"), lambda route: route.fulfill(json=offered))
    _login_new_worker(page, live_app)
    picker = page.locator("#model-select")
    expect(picker).to_have_value("qwen2.5:3b-instruct")
    expect(picker.locator("option")).to_have_text(
        ["qwen2.5:3b-instruct (no disponible)", "llama3.2:1b (reemplazo)"]
    )
    # The server that would be asked is the stand-in: labelled before any choice.
    expect(page.locator("#composer-note")).to_contain_text("Ollama de reemplazo")
    picker.select_option("llama3.2:1b")
    expect(page.locator("#composer-note")).to_contain_text("Ollama de reemplazo")
