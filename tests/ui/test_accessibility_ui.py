"""axe-core (the pinned npm dev dependency, injected from node_modules) finds no violation on
every screen, in both themes: login, chat (empty, with messages, the phone's drawer open),
config and each admin view."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests import log_scan
from tests.mail_server import MailServer
from tests.ui.conftest import ROOT, LiveApp, Watch, admin_screens, login, quick_login

pytestmark = pytest.mark.browser

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 780}


@pytest.fixture(params=["light", "dark"])
def theme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def axe_page(browser: Browser, theme: str, watch: Watch) -> Iterator[Page]:
    # The app's CSP forbids inline scripts, which is how axe is injected: bypass it here only.
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 800},
        locale="es-CL",
        color_scheme="dark" if theme == "dark" else "light",
        bypass_csp=True,
    )
    page = ctx.new_page()
    page.on("pageerror", lambda exc: watch.errors.append(f"pageerror: {exc}"))
    yield page
    ctx.close()
    watch.assert_clean()


def assert_no_violations(page: Page, theme: str, where: str) -> None:
    expect(page.locator("html")).to_have_attribute("data-theme", theme)
    page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, { resultTypes: ["violations"] })).violations
            .map((v) => ({ id: v.id, help: v.help,
                           nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }))"""
    )
    assert violations == [], f"{where} ({theme}): {violations}"


def test_login_has_no_violations(axe_page: Page, live_app: LiveApp, theme: str) -> None:
    axe_page.goto(f"{live_app.base_url}/#/login")
    expect(axe_page.locator("#login-email")).to_be_visible()
    assert_no_violations(axe_page, theme, "login")


def test_password_reset_page_has_no_violations(
    axe_page: Page, live_app: LiveApp, theme: str
) -> None:
    person = live_app.create_user(full_name="Rita Restablece")
    with httpx.Client(base_url=live_app.base_url) as http:
        admin = {"email": "admin@example.com", "password": "admin123"}
        tokens = http.post("/auth/login", json=admin).json()
        link = http.post(
            f"/admin/users/{person['id']}/password-reset",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        ).json()
    log_scan.TOKENS.add(link["token"])
    axe_page.goto(f"{live_app.base_url}{link['path']}")
    expect(axe_page.locator("#reset-password")).to_be_visible()
    assert_no_violations(axe_page, theme, "password reset")
    axe_page.goto(f"{live_app.base_url}/#/login")
    axe_page.get_by_text("¿Olvidó su contraseña?").click()
    expect(axe_page.locator(".auth-forgot p")).to_be_visible()
    assert_no_violations(axe_page, theme, "login, forgotten password")


def test_chat_has_no_violations(axe_page: Page, live_app: LiveApp, theme: str) -> None:
    user = live_app.create_user(full_name="Ana Accesible")
    login(axe_page, live_app.base_url, user["email"], user["password"])
    expect(axe_page.locator("#welcome")).to_be_visible()
    expect(axe_page.locator(".list-status")).to_have_text("Aún no hay conversaciones.")
    assert_no_violations(axe_page, theme, "chat vacío")

    conv = live_app.create_conversation(
        user["id"],
        "Plan de mantención",
        [
            ("user", "¿Qué es **kWh**?"),
            (
                "assistant",
                "Un kilovatio hora: \\( E = P \\cdot t \\).\n\n\\[ E = \\int_0^T P(t)\\,dt \\]"
                "\n\nMal: \\( \\frac{1}{ \\)\n\n```python\nx = 1\n```",
            ),
        ],
    )
    axe_page.goto(f"{live_app.base_url}/#/chat/{conv}")
    expect(axe_page.locator(".msg-assistant .md")).to_contain_text("kilovatio")
    expect(axe_page.locator(".msg-assistant .md math")).to_have_count(2)
    expect(axe_page.locator(".conv-item")).to_have_count(1)
    assert_no_violations(axe_page, theme, "chat con mensajes")

    axe_page.locator(".conv-item").first.hover()
    axe_page.get_by_role("button", name="Más acciones").first.click()
    expect(axe_page.get_by_role("menu")).to_be_visible()
    assert_no_violations(axe_page, theme, "menú de una conversación")
    axe_page.keyboard.press("Escape")

    axe_page.set_viewport_size(PHONE)
    axe_page.get_by_role("button", name="Abrir historial").click()
    expect(axe_page.locator("#sidebar")).to_be_in_viewport()
    assert_no_violations(axe_page, theme, "chat en teléfono, historial abierto")


def test_config_and_admin_have_no_violations(axe_page: Page, live_app: LiveApp, theme: str) -> None:
    worker = live_app.create_user(full_name="Óscar Núñez")
    conv = live_app.create_conversation(worker["id"], "Tarifas", [("user", "Hola")])
    quick_login(axe_page, live_app.base_url, "admin")
    axe_page.goto(f"{live_app.base_url}/#/config")
    expect(axe_page.locator("#main h1")).to_be_visible()
    assert_no_violations(axe_page, theme, "config")
    for route, ready in admin_screens(worker["id"], conv).items():
        axe_page.goto(f"{live_app.base_url}/#/admin/{route}")
        expect(axe_page.locator(ready).first).to_be_visible()
        assert_no_violations(axe_page, theme, f"admin/{route}")


def test_the_email_forms_have_no_violations(
    axe_page: Page, mail_app: tuple[LiveApp, MailServer], theme: str
) -> None:
    """With mail on: the login's "Enviar enlace", its "Reenviar enlace", the verification page."""
    app, _mail = mail_app
    axe_page.goto(f"{app.base_url}/#/login")
    axe_page.get_by_text("¿Olvidó su contraseña?").click()
    expect(axe_page.locator("#forgot-email")).to_be_visible()
    assert_no_violations(axe_page, theme, "login, email a reset link")
    email, password = f"axe-{theme}@inacapmail.cl", "Rancagua-cobre-2026"
    log_scan.PASSWORDS.add(password)
    body = {"email": email, "password": password, "full_name": "Axe Correo"}
    assert httpx.post(f"{app.base_url}/auth/register", json=body).status_code == 201
    axe_page.fill("#login-email", email)
    axe_page.fill("#login-password", password)
    axe_page.click("button[type=submit]")
    expect(axe_page.get_by_role("button", name="Reenviar enlace")).to_be_visible()
    assert_no_violations(axe_page, theme, "login, address not confirmed")
    axe_page.goto(f"{app.base_url}/#/verificar/{'x' * 43}")
    expect(axe_page.locator(".alert-error")).to_be_visible()
    assert_no_violations(axe_page, theme, "verification page")


def test_the_announcements_band_has_no_violations(
    axe_page: Page, live_app: LiveApp, theme: str
) -> None:
    """An info and a warning announcement under the header (contrast of both in both themes,
    the "Cerrar aviso" buttons' names); deleted afterwards, the database being shared."""
    admin = live_app.create_user("admin")
    with httpx.Client(base_url=live_app.base_url) as http:
        login_body = {"email": admin["email"], "password": admin["password"]}
        token = http.post("/auth/login", json=login_body).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        ids = [
            http.post("/admin/announcements", json={"body": body, "level": level}).json()["id"]
            for body, level in (("Reinicio a las 18:00", "warning"), ("Nuevo modelo", "info"))
        ]
        try:
            login(axe_page, live_app.base_url, admin["email"], admin["password"])
            expect(axe_page.locator("#announcements .announcement")).to_have_count(2)
            assert_no_violations(axe_page, theme, "avisos generales")
        finally:
            for announcement_id in ids:
                http.delete(f"/admin/announcements/{announcement_id}")


def test_an_open_folder_and_the_headers_folder_have_no_violations(
    axe_page: Page, live_app: LiveApp, theme: str
) -> None:
    """An open folder's rows (the list's, with their menu), the header's "Carpeta: …" and its
    menu "Acciones de la conversación", open."""
    user = live_app.create_user(full_name="Fernanda Folder")
    conv = live_app.create_conversation(user["id"], "Turnos", [("user", "Hola")])
    live_app.create_folder(user["id"], "Mantención", [conv])
    login(axe_page, live_app.base_url, user["email"], user["password"])
    axe_page.goto(f"{live_app.base_url}/#/chat/{conv}")
    axe_page.get_by_role("button", name="Carpeta: Mantención").click()
    row = axe_page.locator(".folder-items .conv-item")
    expect(row).to_have_count(1)
    row.hover()
    row.get_by_role("button", name="Más acciones para «Turnos»").click()
    expect(axe_page.get_by_role("menu")).to_be_visible()
    assert_no_violations(axe_page, theme, "carpeta abierta, menú de una conversación")
    axe_page.keyboard.press("Escape")
    axe_page.get_by_role("button", name="Acciones de la conversación").click()
    expect(axe_page.get_by_role("menuitem", name="Quitar de «Mantención»")).to_be_visible()
    assert_no_violations(axe_page, theme, "carpeta en la cabecera, su menú")
