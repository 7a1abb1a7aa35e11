"""👍/👎 under the answers: a 👎 with a comment is kept and shown again after a reload, pressing
the pressed button removes the rating, a streamed answer can be rated once finished, and the
admin's "Uso" tab lists the poorly rated answer (its comment as text) with a link to the
viewer."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.ui.conftest import LiveApp, login

pytestmark = pytest.mark.browser

COMMENT = "Citó una norma <b>inexistente</b> ⚡"


def test_a_thumbs_down_with_a_comment_is_kept(page: Page, live_app: LiveApp) -> None:
    worker = live_app.create_user(full_name="Juana Valora")
    admin = live_app.create_user("admin")
    conversation = live_app.create_conversation(
        worker["id"],
        "Normas eléctricas",
        [
            ("user", "¿Qué norma rige?"),
            ("assistant", "La NCh 4/2003."),
            ("user", "¿Y?"),
            ("assistant", "Eso."),
        ],
    )
    login(page, live_app.base_url, worker["email"], worker["password"])
    page.goto(f"{live_app.base_url}/#/chat/{conversation}")
    first = page.locator(".msg-assistant").first
    good = first.get_by_role("button", name="Buena respuesta")
    bad = first.get_by_role("button", name="Mala respuesta")
    expect(bad).to_have_attribute("aria-pressed", "false")
    expect(page.locator(".msg-user .feedback")).to_have_count(0)  # questions are not rated

    bad.click()
    expect(bad).to_have_attribute("aria-pressed", "true")
    expect(good).to_have_attribute("aria-pressed", "false")
    field = first.get_by_label("¿Qué faltó o qué estuvo mal? (opcional)")
    expect(field).to_be_focused()
    field.fill("x" * 1001)
    expect(first.locator(".counter")).to_have_class("counter over")
    expect(first.get_by_role("button", name="Enviar comentario")).to_be_disabled()
    field.fill(COMMENT)
    # The emoji is one character, as the server counts it.
    expect(first.locator(".counter")).to_have_text(f"{len(COMMENT)} / 1.000")
    first.get_by_role("button", name="Enviar comentario").click()
    expect(page.locator("#toasts")).to_contain_text("Gracias por su comentario.")
    expect(field).to_have_count(0)
    expect(bad).to_be_focused()

    # Another answer: 👍, the comment skipped, then pressed again: no rating.
    last = page.locator(".msg-assistant").last
    last.get_by_role("button", name="Buena respuesta").click()
    last.get_by_role("button", name="Omitir").click()
    expect(last.get_by_role("button", name="Buena respuesta")).to_have_attribute(
        "aria-pressed", "true"
    )
    last.get_by_role("button", name="Buena respuesta").click()
    expect(last.get_by_role("button", name="Buena respuesta")).to_have_attribute(
        "aria-pressed", "false"
    )
    expect(page.locator("#toasts")).to_contain_text("Valoración quitada.")

    page.reload()
    first = page.locator(".msg-assistant").first
    expect(first.get_by_role("button", name="Mala respuesta")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(first.get_by_role("button", name="Buena respuesta")).to_have_attribute(
        "aria-pressed", "false"
    )
    expect(
        page.locator(".msg-assistant").last.get_by_role("button", name="Buena respuesta")
    ).to_have_attribute("aria-pressed", "false")
    # The comment can be edited: the form opens with it.
    first.get_by_role("button", name="Editar comentario").click()
    expect(first.get_by_label("¿Qué faltó o qué estuvo mal? (opcional)")).to_have_value(COMMENT)
    first.get_by_role("button", name="Omitir").click()

    # The admin's "Uso" tab lists it, the comment as text, with a link to the viewer.
    page.evaluate("() => localStorage.clear()")
    login(page, live_app.base_url, admin["email"], admin["password"])
    page.goto(f"{live_app.base_url}/#/admin/uso")
    expect(page.locator("#ratings-summary")).to_contain_text("1 como mala")
    row = page.locator("#ratings-poor tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td[data-label=Comentario]")).to_have_text(COMMENT)
    expect(row.locator("b")).to_have_count(0)
    expect(row.locator("td[data-label=Persona]")).to_contain_text("Juana Valora")
    row.get_by_role("link", name="Ver la conversación").click()
    expect(page).to_have_url(re.compile(f"#/admin/conversacion/{conversation}$"))
    expect(page.locator("#admin-viewer .msg")).to_have_count(4)
    expect(page.locator("#admin-viewer .feedback")).to_have_count(0)  # staff do not rate


def test_a_streamed_answer_is_rated_once_finished(page: Page, live_app: LiveApp) -> None:
    worker = live_app.create_user()
    login(page, live_app.base_url, worker["email"], worker["password"])
    page.fill("#composer-input", "Hola")
    page.keyboard.press("Enter")
    answer = page.locator(".msg-assistant").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=30_000)
    good = answer.get_by_role("button", name="Buena respuesta")
    good.click()
    expect(good).to_have_attribute("aria-pressed", "true")
    answer.get_by_role("button", name="Omitir").click()
    page.reload()
    expect(
        page.locator(".msg-assistant").last.get_by_role("button", name="Buena respuesta")
    ).to_have_attribute("aria-pressed", "true")


def _one_answer(page: Page, live_app: LiveApp) -> Locator:
    """A worker's conversation of one question and its answer, opened: the answer."""
    worker = live_app.create_user()
    conversation = live_app.create_conversation(
        worker["id"], "Normas", [("user", "¿Qué norma rige?"), ("assistant", "La NCh 4/2003.")]
    )
    login(page, live_app.base_url, worker["email"], worker["password"])
    page.goto(f"{live_app.base_url}/#/chat/{conversation}")
    return page.locator(".msg-assistant").first


def test_a_rating_removed_with_the_keyboard_keeps_the_focus(page: Page, live_app: LiveApp) -> None:
    # While the request runs the buttons refuse presses without being disabled: a disabled
    # button drops the focus to <body>, where a keyboard user would be left.
    answer = _one_answer(page, live_app)
    bad = answer.get_by_role("button", name="Mala respuesta")
    bad.focus()
    page.keyboard.press("Enter")
    expect(answer.get_by_label("¿Qué faltó o qué estuvo mal? (opcional)")).to_be_focused()
    page.keyboard.press("Escape")
    expect(bad).to_be_focused()
    answer.get_by_role("button", name="Comentar").click()
    answer.get_by_role("button", name="Enviar comentario").focus()
    page.keyboard.press("Escape")  # from the form's buttons too
    expect(answer.locator("textarea")).to_have_count(0)
    expect(bad).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#toasts")).to_contain_text("Valoración quitada.")
    expect(bad).to_have_attribute("aria-pressed", "false")
    expect(bad).to_be_focused()
    page.keyboard.press("Enter")  # and it still answers the keyboard: rated again
    expect(bad).to_have_attribute("aria-pressed", "true")


def test_the_comment_counter_counts_as_the_server(page: Page, live_app: LiveApp) -> None:
    # 1000 characters as the server counts them: code points in NFC, the ends trimmed. 600
    # emoji (1200 UTF-16 units) and a trailing blank line fit.
    answer = _one_answer(page, live_app)
    answer.get_by_role("button", name="Buena respuesta").click()
    field = answer.get_by_label("¿Qué le sirvió? (opcional)")
    field.fill("😀" * 600 + "\n   ")
    expect(answer.locator(".counter")).to_have_text("600 / 1.000")
    answer.get_by_role("button", name="Enviar comentario").click()
    expect(page.locator("#toasts")).to_contain_text("Gracias por su comentario.")
    answer.get_by_role("button", name="Editar comentario").click()
    expect(field).to_have_value("😀" * 600)


def test_a_comment_being_typed_survives_a_new_version(page: Page, live_app: LiveApp) -> None:
    # A new version draws the branch again; a comment typed meanwhile under another answer
    # comes back, its field focused, instead of being lost with the focus on "Copiar".
    worker = live_app.create_user()
    conversation = live_app.create_conversation(
        worker["id"],
        "Normas",
        [("user", "¿Qué?"), ("assistant", "Eso."), ("user", "¿Y?"), ("assistant", "Aquello.")],
    )
    login(page, live_app.base_url, worker["email"], worker["password"])
    page.goto(f"{live_app.base_url}/#/chat/{conversation}")
    page.locator(".msg-assistant").last.get_by_role("button", name="Regenerar").click()
    first = page.locator(".msg-assistant").first
    first.get_by_role("button", name="Mala respuesta").click()
    field = first.get_by_label("¿Qué faltó o qué estuvo mal? (opcional)")
    field.press_sequentially("Citó mal")
    last = page.locator(".msg-assistant").last
    expect(last).to_have_attribute("data-status", "complete", timeout=30_000)
    expect(last.locator(".versions")).to_have_count(1)  # drawn again
    expect(field).to_be_focused()
    expect(field).to_have_value("Citó mal")
    expect(first.locator(".counter")).to_have_text("8 / 1.000")


def test_a_second_tab_choosing_the_same_rating_keeps_the_comment(
    page: Page, live_app: LiveApp
) -> None:
    answer = _one_answer(page, live_app)
    stale = page.context.new_page()  # a second tab, opened before the rating
    stale.goto(page.url)
    stale_bad = stale.locator(".msg-assistant").first.get_by_role("button", name="Mala respuesta")
    expect(stale_bad).to_have_attribute("aria-pressed", "false")
    answer.get_by_role("button", name="Mala respuesta").click()
    answer.get_by_label("¿Qué faltó o qué estuvo mal? (opcional)").fill("Inventó una norma")
    answer.get_by_role("button", name="Enviar comentario").click()
    expect(page.locator("#toasts")).to_contain_text("Gracias por su comentario.")

    stale_bad.click()
    field = stale.locator(".msg-assistant").first.get_by_label(
        "¿Qué faltó o qué estuvo mal? (opcional)"
    )
    expect(field).to_have_value("Inventó una norma")
    page.reload()
    page.locator(".msg-assistant").first.get_by_role("button", name="Editar comentario").click()
    expect(page.get_by_label("¿Qué faltó o qué estuvo mal? (opcional)")).to_have_value(
        "Inventó una norma"
    )


def test_a_comment_refused_keeps_the_focus_on_enviar(page: Page, live_app: LiveApp) -> None:
    answer = _one_answer(page, live_app)
    answer.get_by_role("button", name="Buena respuesta").click()
    answer.get_by_label("¿Qué le sirvió? (opcional)").fill("La norma citada")
    page.route(
        "**/feedback",
        lambda route: route.fulfill(
            status=503,
            content_type="application/json",
            body='{"detail": "Servicio no disponible.", "code": "unavailable"}',
        ),
    )
    send = answer.get_by_role("button", name="Enviar comentario")
    send.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#toasts")).to_contain_text("Servicio no disponible.")
    expect(send).to_be_focused()  # not <body>: sending again is one Enter away
    page.unroute("**/feedback")
    page.keyboard.press("Enter")
    expect(page.locator("#toasts")).to_contain_text("Gracias por su comentario.")
