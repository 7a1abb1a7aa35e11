"""Email in the browser, against an app that sends to a real SMTP server: a person who forgot
the password asks the login for a link, opens the one that arrives, sets a new password and
signs in with it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests import log_scan
from tests.mail_server import MailServer, link_token
from tests.ui.conftest import LiveApp, set_new_password

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Chiloe-palafitos-31"


def test_forgot_password_emails_a_link_that_sets_a_new_one(
    page: Page, mail_app: tuple[LiveApp, MailServer]
) -> None:
    app, mail = mail_app
    person = app.create_user(full_name="Olivia Olvido")
    log_scan.PASSWORDS.add(NEW_PASSWORD)
    page.goto(f"{app.base_url}/")
    page.fill("#login-email", person["email"])
    page.get_by_text("¿Olvidó su contraseña?").click()
    expect(page.locator("#forgot-email")).to_have_value(person["email"])
    page.get_by_role("button", name="Enviar enlace").click()
    expect(page.locator("#forgot-sent")).to_have_text(
        "Si existe una cuenta activa con ese correo, le enviamos un enlace para restablecer la "
        "contraseña. Revise su bandeja de entrada (y la carpeta de spam)."
    )
    (message,) = mail.wait_for(person["email"])
    token = link_token(message)
    log_scan.TOKENS.add(token)  # the server's log is scanned for it at the end of the run
    body = message.get_body(("plain",))
    assert body is not None and f"{app.base_url}/#/restablecer/{token}" in body.get_content()

    page.goto(f"{app.base_url}/#/restablecer/{token}")
    expect(page.locator("#reset-account")).to_have_text(
        f"Nueva contraseña para Olivia Olvido ({person['email']})."
    )
    set_new_password(page, app.base_url, person, NEW_PASSWORD)
