"""Email in the browser, against an app that sends to a real SMTP server: a person who forgot
the password asks the login for a link, opens the one that arrives, sets a new password and
signs in with it."""

from __future__ import annotations

import sqlite3
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests import log_scan
from tests.conftest import TEST_DB
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


def test_a_registration_signs_in_after_the_emailed_link(
    page: Page, mail_app: tuple[LiveApp, MailServer]
) -> None:
    app, mail = mail_app
    email, password = "vera.ui@inacapmail.cl", "Temuco-araucarias-58"
    log_scan.PASSWORDS.add(password)
    page.goto(f"{app.base_url}/#/registro")
    page.fill("#reg-name", "Vera Navegador")
    page.fill("#reg-email", email)
    page.fill("#reg-password", password)
    page.click("button[type=submit]")
    expect(page.locator("#register-done")).to_contain_text(
        f"Cuenta creada. Le enviamos un correo a {email} con un enlace para confirmar"
    )
    mail.wait_for(email)

    page.goto(f"{app.base_url}/#/login")
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("button[type=submit]")
    expect(page.locator(".alert-error").first).to_have_text(
        "Falta confirmar su correo: abra el enlace que le enviamos al registrarse. "
        "Si no lo encuentra, pida uno nuevo."
    )
    page.get_by_role("button", name="Reenviar enlace").click()
    expect(page.locator("#resend-sent")).to_contain_text("le enviamos un enlace nuevo")
    token = link_token(mail.wait_for(email, count=2)[-1])
    log_scan.TOKENS.add(token)

    page.goto(f"{app.base_url}/#/verificar/{token}")
    expect(page.locator("#login-notice")).to_have_text(
        "Su correo fue confirmado. Ya puede iniciar sesión."
    )
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("button[type=submit]")
    expect(page.locator(".profile-name")).to_have_text("Vera Navegador")
    # The token left the address bar on the way.
    page.goto(f"{app.base_url}/#/verificar/{token}")
    expect(page.locator(".alert-error")).to_have_text(
        "El enlace de verificación ya no es válido. Inicie sesión para pedir uno nuevo."
    )
    assert page.url.endswith("#/verificar")


@pytest.mark.skipif(
    TEST_DB != "sqlite", reason="holds SQLite's write lock (the API is the same on PostgreSQL)"
)
def test_an_email_request_answers_before_touching_the_account(
    mail_app: tuple[LiveApp, MailServer],
) -> None:
    """With the database's write lock held elsewhere, asking a link for an address that has an
    account answers at once, like one that has none (before, only a known address waited on the
    lock, or took a write and a commit longer: a measurable difference); the email follows once
    the lock is released."""
    app, mail = mail_app
    person = app.create_user(full_name="Tomas Tiempo", email_verified_at=None)
    path = app.db_url.split("///", 1)[1]
    lock = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        with httpx.Client(base_url=app.base_url, timeout=30) as http:
            for route in ("/auth/password-reset/request", "/auth/verify-email/resend"):
                for email in (person["email"], "nadie@alvaradomazzei.cl"):
                    started = time.monotonic()
                    answered = http.post(route, json={"email": email})
                    assert answered.status_code == 202
                    # Waiting on the lock would take the busy timeout (10 s), then a 503.
                    assert time.monotonic() - started < 5.0, (route, email)
    finally:
        lock.rollback()
        lock.close()
    messages = mail.wait_for(person["email"], count=2)
    assert sorted(m["Subject"] for m in messages) == [
        "EnergyApp: confirme su correo",
        "EnergyApp: restablecer su contraseña",
    ]
    for message in messages:
        log_scan.TOKENS.add(link_token(message))
