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
