"""Login (quick access, errors, 2FA), session across reloads, registration, logout."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pyotp
import pytest
from playwright.sync_api import Page, Route, expect

from tests.ui.conftest import LiveApp, login, quick_login

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("role", "name", "has_admin"),
    [
        ("admin", "Administradora Demo", True),
        ("trabajador", "Trabajador Demo", False),
        ("supervisor", "Supervisora Demo", True),
    ],
)
def test_quick_access_logs_in_each_role(
    page: Page, live_app: LiveApp, role: str, name: str, has_admin: bool
) -> None:
    quick_login(page, live_app.base_url, role)
    tabs = page.locator("nav.tabs a")
    expected = ["Chat", "Configuración", "Admin"] if has_admin else ["Chat", "Configuración"]
    expect(tabs).to_have_text(expected)
    page.click(".profile-btn")
    expect(page.locator(".menu-head strong")).to_have_text(name)
    page.click("[data-action=logout]")
    expect(page.locator("#login-email")).to_be_visible()
    # The refresh token is gone: a reload stays on the login screen.
    page.reload()
    expect(page.locator("#login-email")).to_be_visible()


def test_quick_access_hidden_when_setting_off(page: Page, live_app: LiveApp) -> None:
    def off(route: object) -> None:
        response = route.fetch()  # type: ignore[attr-defined]
        body = response.json()
        body["demo_quick_access"] = False
        route.fulfill(response=response, body=json.dumps(body))  # type: ignore[attr-defined]

    page.route("**/config/public", off)
    page.goto(f"{live_app.base_url}/")
    expect(page.locator("#login-email")).to_be_visible()
    expect(page.locator("[data-quick]")).to_have_count(0)


def test_wrong_password_shows_spanish_error(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user()
    page.goto(f"{live_app.base_url}/")
    page.fill("#login-email", user["email"])
    page.fill("#login-password", "no-es-la-clave")
    page.click("button[type=submit]")
    alert = page.locator(".alert-error")
    expect(alert).to_be_visible()
    assert "incorrect" in alert.inner_text().lower()
    # Ready for the next try: the password is focused (and selected), not <body>.
    expect(page.locator("#login-password")).to_be_focused()


def test_session_survives_reload_with_token_in_memory_only(page: Page, live_app: LiveApp) -> None:
    quick_login(page, live_app.base_url, "trabajador")
    stored = page.evaluate("Object.keys(localStorage).concat(Object.keys(sessionStorage))")
    values = page.evaluate(
        "Object.values(localStorage).concat(Object.values(sessionStorage)).join(' ')"
    )
    # Only the opaque refresh token is persisted; no JWT (three dot-separated parts) anywhere.
    assert "energyapp.refresh" in stored
    assert not any(v.count(".") == 2 and v.startswith("eyJ") for v in values.split())
    page.reload()
    expect(page.locator(".profile-name")).to_have_text("Trabajador Demo")


def test_register_allowed_and_refused_domain(page: Page, live_app: LiveApp) -> None:
    page.goto(f"{live_app.base_url}/static/index.html#/registro")
    expect(page.locator("#reg-email-hint")).to_contain_text("@inacapmail.cl")
    page.fill("#reg-name", "Persona Externa")
    page.fill("#reg-email", f"externa{time.monotonic_ns()}@gmail.com")
    page.fill("#reg-password", "Una-clave-larga-9")
    page.click("button[type=submit]")
    expect(page.locator(".alert-error")).to_be_visible()
    expect(page.locator(".topbar")).to_have_count(0)

    page.fill("#reg-name", "Estudiante Nueva")
    page.fill("#reg-email", f"nueva{time.monotonic_ns()}@inacapmail.cl")
    page.click("button[type=submit]")
    expect(page.locator(".profile-name")).to_have_text("Estudiante Nueva")
    expect(page.locator("nav.tabs a")).to_have_text(["Chat", "Configuración"])


def test_two_factor_setup_then_login_with_code_and_recovery_code(
    page: Page, live_app: LiveApp
) -> None:
    user = live_app.create_user(email=f"dos{time.monotonic_ns()}@inacapmail.cl")
    login(page, live_app.base_url, user["email"], user["password"])
    page.goto(f"{live_app.base_url}/static/index.html#/config")
    page.fill("#tfa-pass", user["password"])
    page.click("text=Configurar 2FA")
    secret = page.locator("#totp-secret").inner_text().strip()
    expect(page.locator(".qr img")).to_be_visible()
    totp = pyotp.TOTP(secret)
    profile_2fa = page.locator("dt:text-is('Verificación en dos pasos') + dd")
    expect(profile_2fa).to_have_text("Desactivada")
    page.fill("#tfa-code", totp.now())
    page.click("text=Activar")
    codes = page.locator("#recovery-codes li")
    expect(codes).to_have_count(10)
    expect(profile_2fa).to_have_text("Activada")  # at once, without a reload
    recovery = codes.first.inner_text().strip()
    page.click("text=Ya los guardé")
    expect(page.locator("text=Desactivar 2FA")).to_be_visible()

    page.click(".profile-btn")
    page.click("[data-action=logout]")
    page.fill("#login-email", user["email"])
    page.fill("#login-password", user["password"])
    page.click("button[type=submit]")
    expect(page.locator("#totp-code")).to_be_visible()
    page.fill("#totp-code", "000000" if totp.now() != "000000" else "111111")
    page.click("button[type=submit]")
    expect(page.locator(".alert-error")).to_be_visible()
    expect(page.locator("#totp-code")).to_be_focused()
    # The next time step is within the accepted window and was never used.
    page.fill("#totp-code", totp.at(time.time() + 30))
    page.click("button[type=submit]")
    expect(page.locator(".topbar")).to_be_visible()

    page.click(".profile-btn")
    page.click("[data-action=logout]")
    page.fill("#login-email", user["email"])
    page.fill("#login-password", user["password"])
    page.click("button[type=submit]")
    page.fill("#totp-code", recovery)
    page.click("button[type=submit]")
    expect(page.locator(".topbar")).to_be_visible()


def _error(status: int, code: str, detail: str) -> Callable[[Route], None]:
    """A route handler answering the app's error ``{"detail", "code"}`` with ``status``."""
    body = json.dumps({"detail": detail, "code": code})

    def answer(route: Route) -> None:
        route.fulfill(status=status, body=body, headers={"Content-Type": "application/json"})

    return answer


def test_a_refresh_the_server_cannot_answer_keeps_the_session(
    page: Page, live_app: LiveApp
) -> None:
    """A refresh met by an outage (the app restarting behind Caddy's 503, the database away, the
    network gone) threw the refresh token away, as if the server had refused it: a reload or an
    expired access token during a restart signed the person out. Only a refusal does now."""
    quick_login(page, live_app.base_url, "trabajador")
    stored = page.evaluate("localStorage.getItem('energyapp.refresh')")
    unavailable = _error(503, "service_unavailable", "EnergyApp no está disponible.")
    page.route("**/auth/refresh", unavailable)
    page.reload()
    expect(page.locator("#login-email")).to_be_visible()
    assert page.evaluate("localStorage.getItem('energyapp.refresh')") == stored
    page.unroute("**/auth/refresh")
    page.reload()  # the service is back: the same session goes on
    expect(page.locator(".profile-name")).to_have_text("Trabajador Demo")
    page.wait_for_load_state("networkidle")  # the sidebar's first page is in
    stored = page.evaluate("localStorage.getItem('energyapp.refresh')")  # rotated by the reload
    # In the app, an expired access token whose refresh meets the outage: the person stays in.
    page.route("**/auth/refresh", unavailable)
    page.route("**/conversations?*", _error(401, "token_expired", "Su sesión expiró."))
    # The person's own request (the sidebar's timed reads never refresh, test_sidebar_ui.py).
    ask = "import('/static/js/api.js').then((m) => m.api('/conversations?limit=1')).catch(() => 0)"
    with page.expect_response("**/auth/refresh"):
        page.evaluate(ask)
    page.wait_for_timeout(300)  # what follows the failed refresh, had it signed out
    expect(page.locator("#login-email")).to_have_count(0)
    expect(page.locator(".profile-name")).to_have_text("Trabajador Demo")
    assert page.evaluate("localStorage.getItem('energyapp.refresh')") == stored
    page.unroute("**/conversations?*")
    # A refusal still ends the session.
    page.unroute("**/auth/refresh")
    page.route("**/auth/refresh", _error(401, "invalid_refresh_token", "Sesión no válida."))
    page.reload()
    expect(page.locator("#login-email")).to_be_visible()
    assert page.evaluate("localStorage.getItem('energyapp.refresh')") is None


def test_a_refresh_whose_answer_was_lost_keeps_the_session(page: Page, live_app: LiveApp) -> None:
    """The server rotated the token but its answer never arrived (a mobile network drop, a proxy
    timeout): the UI kept the old token, as after any network error, and tried it again later,
    which the server took for theft and signed the person out. Within the grace the retry gets
    a new pair (docs/security.md, "Retry of a lost answer")."""
    quick_login(page, live_app.base_url, "trabajador")
    page.wait_for_load_state("networkidle")  # the first refresh (of the login's token) is done
    stored = page.evaluate("localStorage.getItem('energyapp.refresh')")
    handled: list[int] = []

    def lose_answer(route: Route) -> None:
        handled.append(route.fetch().status)  # the server rotates the token...
        route.abort("connectionreset")  # ...and the browser never hears of it

    page.route("**/auth/refresh", lose_answer, times=1)
    page.reload()
    expect(page.locator("#login-email")).to_be_visible()  # no answer: the login shows
    assert handled == [200]
    assert page.evaluate("localStorage.getItem('energyapp.refresh')") == stored
    page.reload()  # the same token again, a retry
    expect(page.locator(".profile-name")).to_have_text("Trabajador Demo")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("localStorage.getItem('energyapp.refresh')") not in (None, stored)
