"""Configuración, "Instrucciones personalizadas": the two texts and the switch are saved and
read back after a reload, counted in characters as the server counts them, shown as text."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import LiveApp, login

pytestmark = pytest.mark.browser

ABOUT = "Soy estudiante de electricidad de INACAP ⚡ <b>no es HTML</b>"
STYLE = "Responde breve\ny con ejemplos."


def test_instructions_are_saved_and_shown_after_a_reload(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user()
    login(page, live_app.base_url, user["email"], user["password"])
    page.click("nav.tabs a:text('Configuración')")
    card = page.locator("section[aria-labelledby=instructions-h]")
    expect(card.locator("#instructions-hint")).to_contain_text(
        "Se aplican a las conversaciones nuevas"
    )
    about = page.get_by_label("¿Qué debería saber EnergyApp sobre usted?")
    style = page.get_by_label("¿Cómo quiere que EnergyApp responda?")
    switch = page.get_by_role("switch", name="Usar en las conversaciones nuevas")
    expect(about).to_be_enabled()  # loaded
    expect(switch).to_be_checked()
    about.fill(ABOUT)
    # The emoji is one character, as the server counts it (String.length would say 2).
    expect(page.locator("#instructions-about-count")).to_have_text(f"{len(ABOUT)} / 1.000")
    style.fill("x" * 1001)
    expect(page.locator("#instructions-style-count")).to_have_class("counter over")
    expect(page.locator("#instructions-save")).to_be_disabled()
    style.fill(STYLE)
    expect(page.locator("#instructions-save")).to_be_enabled()
    switch.uncheck()
    page.click("#instructions-save")
    expect(page.locator("#instructions-msg")).to_contain_text("Instrucciones guardadas")
    expect(page.locator("#instructions-msg")).to_have_class("alert alert-info")

    page.reload()
    expect(about).to_have_value(ABOUT)
    expect(style).to_have_value(STYLE)
    expect(switch).not_to_be_checked()
    expect(card.locator("b")).to_have_count(0)  # the text stayed text


def test_a_refused_save_says_why(page: Page, live_app: LiveApp) -> None:
    """The server's Spanish message is shown when it refuses a save."""
    user = live_app.create_user()
    login(page, live_app.base_url, user["email"], user["password"])
    page.click("nav.tabs a:text('Configuración')")
    about = page.get_by_label("¿Qué debería saber EnergyApp sobre usted?")
    expect(about).to_be_enabled()
    detail = "«¿Qué debería saber EnergyApp sobre usted?» admite como máximo 1000 caracteres."
    page.route(
        "**/auth/me/instructions",
        lambda route: (
            route.fulfill(status=422, json={"detail": detail, "code": "instructions_too_long"})
            if route.request.method == "PUT"
            else route.continue_()
        ),
    )
    about.fill("Soy técnico")
    page.click("#instructions-save")
    expect(page.locator("#instructions-msg")).to_have_text(detail)
    expect(page.locator("#instructions-msg")).to_have_class("alert alert-error")
    expect(page.locator("#instructions-save")).to_be_enabled()  # it can be tried again


def test_the_admin_viewer_shows_the_conversations_copy_as_text(
    page: Page, live_app: LiveApp
) -> None:
    owner = live_app.create_user()
    admin = live_app.create_user("admin")
    with httpx.Client(base_url=live_app.base_url) as http:
        login_body = {"email": owner["email"], "password": owner["password"]}
        token = http.post("/auth/login", json=login_body).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        body = {"about_user": ABOUT, "response_style": "", "enabled": True}
        assert http.put("/auth/me/instructions", json=body, headers=headers).status_code == 200
        created = http.post("/conversations", json={"title": "Tablero"}, headers=headers)
        assert created.status_code == 201, created.text
        plain = live_app.create_conversation(owner["id"], "Sin instrucciones", [("user", "Hola")])
    login(page, live_app.base_url, admin["email"], admin["password"])
    page.goto(f"{live_app.base_url}/#/admin/conversacion/{created.json()['id']}")
    panel = page.locator("#viewer-instructions")
    expect(panel).to_be_visible()
    expect(panel.locator("dd")).to_have_text([ABOUT])  # the empty text has no entry
    expect(panel.locator("b")).to_have_count(0)
    page.goto(f"{live_app.base_url}/#/admin/conversacion/{plain}")
    expect(page.locator("#admin-viewer .msg")).to_have_count(1)
    expect(page.locator("#viewer-instructions")).to_be_hidden()
