"""2FA an admin requires, end to end in the browser: the admin makes it mandatory for a role
(and the users table says so), then a worker of a non-self-service domain signs in, is led
through the setup (QR, key, a TOTP code computed here, recovery codes) and enters; the next
login asks for a code."""

from __future__ import annotations

import time

import httpx
import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import LiveApp, quick_login

pytestmark = pytest.mark.browser


def _role_policy_off(base_url: str, role: str) -> None:
    """The live app is shared by the whole run: leave no requirement behind."""
    tokens = httpx.post(
        f"{base_url}/auth/login", json={"email": "admin@example.com", "password": "admin123"}
    ).json()
    response = httpx.put(
        f"{base_url}/admin/two-factor/roles/{role}",
        json={"require_2fa": False},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert response.status_code == 200, response.text


def _sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/")
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("button[type=submit]")


def _sign_out(page: Page) -> None:
    page.click(".profile-btn")
    page.click("[data-action=logout]")
    expect(page.locator("#login-email")).to_be_visible()


def test_required_2fa_login_flow(page: Page, live_app: LiveApp) -> None:
    base = live_app.base_url
    worker = live_app.create_user(
        email=f"exigida{time.monotonic_ns()}@alvaradomazzei.cl", full_name="Rita Exigida"
    )
    quick_login(page, base, "admin")
    page.goto(f"{base}/static/index.html#/admin/usuarios")
    box = page.locator("#require-2fa-trabajador")
    expect(box).not_to_be_checked()
    box.check()
    expect(page.locator(".toast", has_text="2FA obligatoria para Trabajador")).to_be_visible()
    try:
        page.fill("#user-search", "Rita Exigida")
        row = page.locator(f"tr[data-user-id='{worker['id']}']")
        expect(row.locator("td").nth(4)).to_have_text("No")
        _sign_out(page)

        _sign_in(page, base, worker["email"], worker["password"])
        step = page.locator("#required-2fa")
        expect(step.locator("h2")).to_have_text("Configure la verificación en dos pasos")
        expect(step.locator(".qr img")).to_be_visible()
        secret = page.locator("#totp-secret").inner_text().strip()
        totp = pyotp.TOTP(secret)
        expect(page.locator("#setup-code")).to_be_focused()
        page.fill("#setup-code", "000000" if totp.now() != "000000" else "111111")
        page.click("text=Activar y entrar")
        expect(step.locator(".alert-error")).to_have_text("El código no es correcto.")
        page.fill("#setup-code", totp.now())
        page.click("text=Activar y entrar")
        expect(page.locator("#recovery-codes li")).to_have_count(10)
        expect(page.locator(".topbar")).to_have_count(0)  # not signed in before the codes
        page.click("#codes-saved")
        expect(page.locator(".topbar")).to_be_visible()
        expect(page.locator(".profile-name")).to_have_text("Rita Exigida")

        _sign_out(page)
        _sign_in(page, base, worker["email"], worker["password"])
        expect(page.locator("#totp-code")).to_be_visible()
        page.fill("#totp-code", totp.at(time.time() + 30))  # the setup spent the current step
        page.click("button[type=submit]")
        expect(page.locator(".topbar")).to_be_visible()
    finally:
        _role_policy_off(base, "trabajador")
