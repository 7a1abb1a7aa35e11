"""Account recovery in the browser: an admin creates a one-time password-reset link in a user's
"Gestionar", a fresh browser opens it and sets the password, the new one signs in and the old
one no longer does; the "Restablecer 2FA" button; the login's hint for a forgotten password."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests import log_scan
from tests.ui.conftest import LiveApp, login, quick_login, set_new_password

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Lago-Llanquihue-77"


def _manage(page: Page, live_app: LiveApp, user: dict[str, str]) -> None:
    page.goto(f"{live_app.base_url}/static/index.html#/admin/usuarios")
    with page.expect_response(lambda r: "/admin/users?" in r.url and "q=" in r.url):
        page.fill("#user-search", user["email"])
    page.locator(f"tr[data-user-id='{user['id']}'] [data-action=manage]").click()


def test_a_link_from_the_admin_sets_a_new_password_in_another_browser(
    page: Page, context: BrowserContext, browser: Browser, live_app: LiveApp
) -> None:
    person = live_app.create_user(full_name="Rosa Recupera")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app.base_url)
    quick_login(page, live_app.base_url, "admin")
    _manage(page, live_app, person)
    page.locator("dialog [data-action=reset-link]").click()
    shown = page.locator("dialog #reset-link-url")
    expect(shown).to_contain_text(f"{live_app.base_url}/#/restablecer/")
    expect(page.locator("dialog")).to_contain_text("Entregue este enlace personalmente a Rosa")
    expect(page.locator("dialog #reset-link-expiry")).to_contain_text("vence el")
    page.click("#reset-link-copy")
    expect(page.locator(".toast")).to_have_text("Enlace copiado.")
    url = shown.inner_text()
    # The server runs in another process: the end-of-run log scan looks for this token in its log.
    log_scan.TOKENS.add(url.rsplit("/", 1)[1])
    log_scan.PASSWORDS.add(NEW_PASSWORD)
    assert page.evaluate("navigator.clipboard.readText()") == url
    page.locator("dialog button", has_text="Listo").click()
    expect(page.locator("dialog")).to_have_count(0)

    fresh = browser.new_context(locale="es-CL")
    try:
        other = fresh.new_page()
        other.goto(url)
        expect(other.locator("#reset-account")).to_have_text(
            f"Nueva contraseña para Rosa Recupera ({person['email']})."
        )
        assert other.url.endswith("#/restablecer")  # the token is out of the address bar
        other.fill("#reset-password", NEW_PASSWORD)
        other.fill("#reset-password-again", NEW_PASSWORD + "x")
        other.click("button[type=submit]")
        expect(other.locator(".alert-error")).to_have_text("Las dos contraseñas no coinciden.")
        set_new_password(other, live_app.base_url, person, NEW_PASSWORD)
        # A second opening of the spent link says what to do.
        other.goto(url)
        expect(other.locator(".alert-error")).to_have_text(
            "El enlace ya no es válido: pida uno nuevo a un administrador."
        )
        expect(other.locator("#reset-password")).to_be_hidden()
    finally:
        fresh.close()
    with httpx.Client(base_url=live_app.base_url) as http:
        old = {"email": person["email"], "password": person["password"]}
        assert http.post("/auth/login", json=old).status_code == 401


def test_the_admin_resets_a_persons_2fa_after_confirming(page: Page, live_app: LiveApp) -> None:
    person = live_app.create_user(full_name="Teo Telefono", totp_enabled=True)
    quick_login(page, live_app.base_url, "admin")
    _manage(page, live_app, person)
    page.locator("dialog [data-action=reset2fa]").click()
    expect(page.locator("dialog")).to_contain_text(
        "¿Restablecer la verificación en dos pasos de Teo Telefono? Deberá configurarla de nuevo."
    )
    with page.expect_response(lambda r: r.url.endswith("/reset-2fa")) as reset:
        page.locator("dialog button", has_text="Confirmar").click()
    assert reset.value.status == 204
    expect(page.locator(".toast")).to_have_text("Cambio guardado.")
    row = page.locator(f"tr[data-user-id='{person['id']}']")
    expect(row.locator("td[data-label='2FA']")).to_have_text("No")
    page.goto(f"{live_app.base_url}/static/index.html#/admin/auditoria")
    page.fill("#audit-person", "Teo Telefono")
    expect(page.locator("#audit-table .audit-label").first).to_have_text(
        "Restableció la verificación en dos pasos de Teo Telefono"
    )


def test_the_login_tells_how_to_recover_a_forgotten_password(page: Page, live_app: LiveApp) -> None:
    page.goto(f"{live_app.base_url}/")
    hint = page.locator(".auth-forgot p")
    expect(hint).to_be_hidden()
    page.get_by_text("¿Olvidó su contraseña?").click()
    expect(hint).to_contain_text("Pida a un administrador un enlace para restablecerla.")
    # Without a link (opened again after it left the address bar) the page says what to do.
    page.goto(f"{live_app.base_url}/#/restablecer")
    expect(page.locator(".alert-error")).to_have_text(
        "Abra de nuevo el enlace que le entregó el administrador."
    )


def test_a_link_opened_where_someone_is_signed_in_ends_with_the_login(
    page: Page, live_app: LiveApp
) -> None:
    """The admin opens the link in their own browser: once the password is set, this browser's
    session ends too and the login says what happened (it went to the admin's chat before)."""
    person = live_app.create_user(full_name="Ana Mismo Navegador")
    quick_login(page, live_app.base_url, "admin")
    _manage(page, live_app, person)
    page.locator("dialog [data-action=reset-link]").click()
    url = page.locator("dialog #reset-link-url").inner_text()
    log_scan.TOKENS.add(url.rsplit("/", 1)[1])
    log_scan.PASSWORDS.add(NEW_PASSWORD)
    page.locator("dialog button", has_text="Listo").click()
    page.goto(url)
    expect(page.locator("#reset-account")).to_contain_text("Ana Mismo Navegador")
    page.fill("#reset-password", NEW_PASSWORD)
    page.fill("#reset-password-again", NEW_PASSWORD)
    with page.expect_response(lambda r: r.url.endswith("/auth/logout")):
        page.click("button[type=submit]")
    expect(page.locator("#login-notice")).to_have_text(
        "Su contraseña fue restablecida. Inicie sesión con la nueva."
    )
    login(page, live_app.base_url, person["email"], NEW_PASSWORD)
    expect(page.locator(".profile-name")).to_have_text("Ana Mismo Navegador")


def test_the_admin_sees_an_unconfirmed_address_and_confirms_it(
    page: Page, live_app: LiveApp
) -> None:
    person = live_app.create_user(full_name="Berta Buzon", email_verified_at=None)
    verified = live_app.create_user(full_name="Vero Verificada")
    quick_login(page, live_app.base_url, "admin")
    _manage(page, live_app, verified)
    expect(page.locator("dialog .unverified-email")).to_have_count(0)
    expect(page.locator("dialog [data-action=verify-email]")).to_have_count(0)
    page.locator("dialog button", has_text="Cerrar").click()
    _manage(page, live_app, person)
    row = page.locator(f"tr[data-user-id='{person['id']}']")
    expect(row.locator("td[data-label='Correo'] .unverified-email")).to_have_text(
        "Correo sin confirmar"
    )
    expect(page.locator("dialog .unverified-email")).to_have_text("Correo sin confirmar")
    page.locator("dialog [data-action=verify-email]").click()
    expect(page.locator("dialog")).to_contain_text(
        f"¿Dar por confirmado el correo {person['email']} de Berta Buzon?"
    )
    with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
        page.locator("dialog button", has_text="Confirmar").click()
    assert patched.value.status == 200
    expect(page.locator(".toast")).to_have_text("Cambio guardado.")
    expect(row.locator(".unverified-email")).to_have_count(0)
    page.goto(f"{live_app.base_url}/static/index.html#/admin/auditoria")
    page.fill("#audit-person", "Berta Buzon")
    expect(page.locator("#audit-table .audit-label").first).to_have_text(
        "Dio por confirmado el correo de Berta Buzon"
    )
