"""No horizontal overflow at 375 px; keyboard focus is visible."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.ui.conftest import LiveApp, Watch, login

pytestmark = pytest.mark.browser

NO_OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"


def test_phone_width_has_no_horizontal_overflow(
    browser: Browser, live_app: LiveApp, watch: Watch
) -> None:
    user = live_app.create_user(role="supervisor", full_name="Supervisora Con Un Nombre Largo")
    conv = live_app.create_conversation(
        user["id"],
        "Una conversación con un título bastante largo para un teléfono",
        [("user", "x" * 300), ("assistant", "```\n" + "y" * 300 + "\n```\n\n" + "palabra " * 80)],
    )
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="es-CL")
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
        page.goto(f"{live_app.base_url}/")
        expect(page.locator("#login-email")).to_be_visible()
        assert page.evaluate(NO_OVERFLOW)
        login(page, live_app.base_url, user["email"], user["password"])
        for route in (f"#/chat/{conv}", "#/config", "#/admin/usuarios", "#/admin/uso"):
            page.goto(f"{live_app.base_url}/static/index.html{route}")
            page.wait_for_selector("#main .chat, #main .page")
            page.wait_for_timeout(300)
            assert page.evaluate(NO_OVERFLOW), f"horizontal overflow at 375 px on {route}"
        # The sidebar is a drawer on a phone: hidden until the menu button opens it.
        page.goto(f"{live_app.base_url}/static/index.html#/chat/{conv}")
        expect(page.locator("#sidebar")).not_to_be_in_viewport()
        page.click("button[aria-label='Abrir historial']")
        expect(page.locator("#sidebar")).to_be_in_viewport()
        page.keyboard.press("Escape")
        expect(page.locator("#sidebar")).not_to_be_in_viewport()
    finally:
        context.close()
    watch.assert_clean()


def test_keyboard_focus_is_visible(page: Page, live_app: LiveApp) -> None:
    page.goto(f"{live_app.base_url}/")
    expect(page.locator("#login-email")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#login-password")).to_be_focused()
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
