"""Configuración screen: profile name, theme remembered, password rules by domain, close all
sessions."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.ui.conftest import LiveApp, login

pytestmark = pytest.mark.browser


def test_profile_name_and_theme_are_kept(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user(full_name="Nombre Antiguo")
    login(page, live_app.base_url, user["email"], user["password"])
    page.click("nav.tabs a:text('Configuración')")
    page.click("button[aria-label='Editar nombre']")
    page.fill("#profile-name", "Nombre Nuevo")
    page.keyboard.press("Enter")
    expect(page.locator(".profile-name")).to_have_text("Nombre Nuevo")
    page.click("[data-theme-choice=dark]")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.locator(".profile-name")).to_have_text("Nombre Nuevo")
    expect(page.locator("[data-theme-choice=dark]")).to_have_attribute("aria-pressed", "true")


def test_the_theme_can_follow_the_system_again_and_every_tab_follows_a_choice(
    context: BrowserContext, live_app: LiveApp
) -> None:
    # "Sistema" (the default) follows the computer's setting, also when it changes while the
    # page is open; a choice made in one tab is applied in the person's other tabs at once.
    user = live_app.create_user()
    page = context.new_page()
    page.emulate_media(color_scheme="light")
    login(page, live_app.base_url, user["email"], user["password"])
    page.click("nav.tabs a:text('Configuración')")
    expect(page.locator("[data-theme-choice=system]")).to_have_attribute("aria-pressed", "true")
    page.emulate_media(color_scheme="dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    other = context.new_page()
    other.emulate_media(color_scheme="dark")
    other.goto(f"{live_app.base_url}/static/index.html#/chat")
    expect(other.locator("html")).to_have_attribute("data-theme", "dark")
    page.click("[data-theme-choice=light]")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    expect(other.locator("html")).to_have_attribute("data-theme", "light")
    page.emulate_media(color_scheme="dark")  # a choice is kept whatever the system says
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    page.click("[data-theme-choice=system]")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(other.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.locator("[data-theme-choice=light]")).to_have_attribute("aria-pressed", "false")
    page.reload()
    expect(page.locator("[data-theme-choice=system]")).to_have_attribute("aria-pressed", "true")


def test_password_change_only_for_inacapmail(page: Page, live_app: LiveApp) -> None:
    company = live_app.create_user()
    login(page, live_app.base_url, company["email"], company["password"])
    page.click("nav.tabs a:text('Configuración')")
    expect(page.locator("#password-explained")).to_contain_text("@alvaradomazzei.cl")
    expect(page.locator("#pw-current")).to_have_count(0)
    expect(page.locator("#tfa-pass")).to_have_count(0)
    page.click(".profile-btn")
    page.click("[data-action=logout]")

    student = live_app.create_user(email="alumna.clave@inacapmail.cl")
    login(page, live_app.base_url, student["email"], student["password"])
    page.click("nav.tabs a:text('Configuración')")
    page.fill("#pw-current", student["password"])
    page.fill("#pw-new", "Otra-clave-nueva-77")
    page.fill("#pw-repeat", "Otra-clave-distinta")
    page.click("text=Cambiar contraseña >> nth=-1")
    expect(page.locator("#password-msg")).to_have_text("Las contraseñas nuevas no coinciden.")
    page.fill("#pw-repeat", "Otra-clave-nueva-77")
    page.click("text=Cambiar contraseña >> nth=-1")
    expect(page.locator("#password-msg")).to_contain_text("Contraseña cambiada")
    page.click(".profile-btn")
    page.click("[data-action=logout]")
    login(page, live_app.base_url, student["email"], "Otra-clave-nueva-77")
    expect(page.locator(".profile-name")).to_be_visible()


def test_close_all_sessions_ends_other_tabs(
    context: BrowserContext, page: Page, live_app: LiveApp
) -> None:
    user = live_app.create_user()
    login(page, live_app.base_url, user["email"], user["password"])
    # A second browser (its own storage) signed in as the same user.
    other = context.browser.new_context()  # type: ignore[union-attr]
    try:
        other_page = other.new_page()
        login(other_page, live_app.base_url, user["email"], user["password"])
        page.click("nav.tabs a:text('Configuración')")
        page.click("#logout-all")
        page.locator("dialog button", has_text="Cerrar todas").click()
        expect(page.locator("#login-email")).to_be_visible()
        other_page.reload()
        expect(other_page.locator("#login-email")).to_be_visible()
    finally:
        other.close()


def test_leaving_configuracion_leaves_no_theme_listener(page: Page, live_app: LiveApp) -> None:
    """The Apariencia buttons follow a choice made in another tab; visiting the screen again and
    again keeps one listener for that, not one per visit holding the old screens."""
    user = live_app.create_user()
    login(page, live_app.base_url, user["email"], user["password"])
    for _ in range(4):
        page.click("nav.tabs a:text('Configuración')")
        expect(page.locator("[data-theme-choice=system]")).to_be_visible()
        page.click("nav.tabs a:text('Chat')")
        expect(page.locator("[data-theme-choice=system]")).to_have_count(0)
    page.click("nav.tabs a:text('Configuración')")
    cdp = page.context.new_cdp_session(page)
    window = cdp.send("Runtime.evaluate", {"expression": "window"})["result"]["objectId"]
    listeners = cdp.send("DOMDebugger.getEventListeners", {"objectId": window})["listeners"]
    assert [item["type"] for item in listeners].count("energyapp:theme") == 1
