""" "Chat temporal" in the browser: the toggle on the empty screen (aria-pressed), the band with
the server's hours, a temporary chat kept out of the sidebar (also after a reload), "Guardar en
el historial" putting it there; an admin sees it marked "Temporal"; usable on a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.ui.conftest import LiveApp, login
from tests.ui.test_notify_ui import ANSWER, _hide, _prepare, _shown, _turn_on, _wait_shown

pytestmark = pytest.mark.browser

BAND = (
    "Chat temporal: no aparecerá en su historial y se borrará 24 horas después del último "
    "mensaje (los administradores pueden verlo mientras exista)."
)


def test_toggle_ask_band_sidebar_and_save(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user(full_name="Tomás Temporal")
    kept = live_app.create_conversation(user["id"], "Conversación guardada", [("user", "hola")])
    login(page, live_app.base_url, user["email"], user["password"])
    expect(page.locator(".conv-item")).to_have_count(1)

    toggle = page.get_by_role("button", name="Chat temporal")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(toggle).to_have_accessible_description(BAND)  # heard before it is pressed
    expect(page.locator("#temporary-band")).to_be_hidden()
    toggle.focus()
    page.keyboard.press("Enter")  # keyboard first
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#temporary-text")).to_have_text(BAND)
    expect(page.get_by_role("button", name="Guardar en el historial")).to_be_hidden()

    page.fill("#composer-input", "¿Qué potencia tiene un panel de 2 m²?")
    page.keyboard.press("Enter")
    expect(page.locator(".msg-assistant").last).to_have_attribute("data-status", "complete")
    assert "#/chat/" in page.url
    conversation_id = page.url.rsplit("/", 1)[1]
    expect(toggle).to_be_hidden()
    expect(page.locator("#temporary-band")).to_contain_text(BAND)
    save = page.get_by_role("button", name="Guardar en el historial")
    expect(save).to_be_visible()
    expect(page.locator("#share-btn")).to_be_hidden()
    # The tab (and so the browser's history) is not named after its first words.
    expect(page.locator("h1.title")).to_have_text("¿Qué potencia tiene un panel de…")
    expect(page).to_have_title("Chat temporal · EnergyApp")
    # Regenerar draws the branch again, tools included: still no "Compartir".
    page.locator(".msg-assistant").last.get_by_role("button", name="Regenerar").click()
    expect(page.locator(".msg-assistant").last.locator(".versions")).to_have_count(1)
    expect(page.locator(".msg-assistant").last).to_have_attribute("data-status", "complete")
    expect(page.locator("#export-btn")).to_be_visible()
    expect(page.locator("#share-btn")).to_be_hidden()
    # Not in the history, not even after a reload (which keeps the chat open).
    expect(page.locator(".conv-item")).to_have_count(1)
    page.reload()
    expect(page.locator(".msg-user .bubble")).to_have_text("¿Qué potencia tiene un panel de 2 m²?")
    expect(page.locator("#temporary-band")).to_contain_text(BAND)
    expect(page).to_have_title("Chat temporal · EnergyApp")
    expect(page.locator(".conv-item")).to_have_count(1)
    expect(page.locator(f'.conv-item[data-id="{kept}"]')).to_have_count(1)

    save = page.get_by_role("button", name="Guardar en el historial")
    save.click()
    expect(page.locator("#temporary-band")).to_be_hidden()
    expect(page.locator("#composer-input")).to_be_focused()
    expect(page.locator(".conv-item")).to_have_count(2)
    expect(page.locator(f'.conv-item[data-id="{conversation_id}"]')).to_have_count(1)
    expect(page.locator("#share-btn")).to_be_visible()
    expect(page).to_have_title("¿Qué potencia tiene un panel de… · EnergyApp")
    page.reload()
    expect(page.locator(".conv-item")).to_have_count(2)
    expect(page.locator("#temporary-band")).to_be_hidden()

    # A new chat offers the toggle again, off.
    page.goto(f"{live_app.base_url}/#/chat")
    expect(page.get_by_role("button", name="Chat temporal")).to_have_attribute(
        "aria-pressed", "false"
    )


def test_admin_sees_it_marked_and_a_phone_fits_the_band(
    page: Page, browser: Browser, live_app: LiveApp
) -> None:
    user = live_app.create_user(full_name="Rita Reservada")
    login(page, live_app.base_url, user["email"], user["password"])
    page.set_viewport_size({"width": 375, "height": 740})
    page.get_by_role("button", name="Chat temporal").click()
    page.fill("#composer-input", "Consulta reservada")
    page.keyboard.press("Enter")
    expect(page.locator(".msg-assistant").last).to_have_attribute("data-status", "complete")
    band = page.locator("#temporary-band")
    expect(band).to_be_visible()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375, width
    box = page.get_by_role("button", name="Guardar en el historial").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    conversation_id = page.url.rsplit("/", 1)[1]

    admin = live_app.create_user(role="admin")
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="es-CL")
    try:
        staff = ctx.new_page()
        login(staff, live_app.base_url, admin["email"], admin["password"])
        staff.goto(f"{live_app.base_url}/#/admin/usuario/{user['id']}")
        row = staff.locator(f'#user-conversations tr[data-conv-id="{conversation_id}"]')
        expect(row).to_contain_text("Temporal")
        expect(row.get_by_role("link", name="Ver mensajes")).to_be_visible()
        expect(row.locator("[data-action=reassign]")).to_have_count(0)  # 409: not offered
        staff.goto(f"{live_app.base_url}/#/admin/conversacion/{conversation_id}")
        expect(staff.locator("#viewer-heading")).to_contain_text("Temporal")
        expect(staff.locator("#admin-viewer .msg").first).to_contain_text("Consulta reservada")
    finally:
        ctx.close()


def test_a_notification_does_not_carry_its_first_words(page: Page, live_app: LiveApp) -> None:
    _prepare(page, "granted")
    user = live_app.create_user(full_name="Nina Notas")
    login(page, live_app.base_url, user["email"], user["password"])
    _turn_on(page)
    page.goto(f"{live_app.base_url}/#/chat")
    page.get_by_role("button", name="Chat temporal").click()
    _hide(page)
    page.fill("#composer-input", "Despido de Pérez: ¿cuánto le corresponde?")
    page.keyboard.press("Enter")
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "complete")
    _wait_shown(page, 1)
    assert [n["title"] for n in _shown(page)] == ["Chat temporal"]
