"""Configuración, "Claves de API": create (shown once, copied), list, revoke; the admin
panel's tab."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.ui.conftest import LiveApp, login

pytestmark = pytest.mark.browser


def test_create_copy_once_and_revoke(
    context: BrowserContext, page: Page, live_app: LiveApp
) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app.base_url)
    user = live_app.create_user()
    login(page, live_app.base_url, user["email"], user["password"])
    page.click("nav.tabs a:text('Configuración')")
    card = page.locator("#api-keys-card")
    expect(card.locator("h2")).to_have_text("Claves de API")
    expect(card).to_contain_text("Aún no tiene claves de API.")
    expect(page.locator("#api-example-python")).to_contain_text(
        f'base_url="{live_app.base_url}/v1"'
    )
    expect(page.locator("#api-example-curl")).to_contain_text(f"{live_app.base_url}/v1/chat")

    page.fill("#api-key-name", "Planilla de costos")
    page.click("#api-key-create")
    secret_box = page.locator("#api-key-secret")
    expect(secret_box).to_have_text(re.compile(r"^ea_[A-Za-z0-9_-]{43}$"))
    expect(card.locator(".alert-warn")).to_contain_text("única vez")
    secret = secret_box.inner_text()
    page.click("#api-key-copy")
    expect(page.locator(".toast").last).to_contain_text("Clave copiada")
    assert page.evaluate("navigator.clipboard.readText()") == secret

    row = page.locator("#api-keys-table tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(0)).to_have_text("Planilla de costos")
    expect(row.locator("td").nth(1)).to_have_text(secret[:8] + "…")
    expect(row.locator("td").nth(2)).to_have_text(re.compile(r"^\d{2}-\d{2}-\d{4}$"))
    expect(page.locator("#api-keys-summary")).to_contain_text("1 clave activa")

    # The key works, and is never shown again.
    works = httpx.get(
        f"{live_app.base_url}/v1/models", headers={"Authorization": f"Bearer {secret}"}
    )
    assert works.status_code == 200
    page.reload()
    expect(page.locator("#api-keys-table tbody tr")).to_have_count(1)
    expect(page.locator("#api-key-secret")).to_have_count(0)
    assert secret not in page.content()

    page.click("button[aria-label='Revocar la clave Planilla de costos']")
    page.click("dialog button:text('Revocar')")
    expect(page.locator("#api-keys-table .key-state")).to_contain_text("Revocada el")
    expect(page.locator("#api-keys-summary")).to_contain_text("0 claves activas")
    refused = httpx.get(
        f"{live_app.base_url}/v1/models", headers={"Authorization": f"Bearer {secret}"}
    )
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"


def _key_of(base_url: str, email: str, password: str, name: str) -> str:
    login = httpx.post(f"{base_url}/auth/login", json={"email": email, "password": password})
    token = login.json()["access_token"]
    created = httpx.post(
        f"{base_url}/api-keys", json={"name": name}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


def test_supervisor_sees_and_revokes_only_keys_in_scope(page: Page, live_app: LiveApp) -> None:
    admin = live_app.create_user("admin")
    worker = live_app.create_user()
    supervisor = live_app.create_user("supervisor")
    _key_of(live_app.base_url, admin["email"], admin["password"], "Clave del admin")
    worker_key = _key_of(live_app.base_url, worker["email"], worker["password"], "Clave obrera")
    login(page, live_app.base_url, supervisor["email"], supervisor["password"])
    page.click("nav.tabs a:text('Admin')")
    page.click("a:text('Claves de API')")
    row = page.locator("#admin-api-keys tbody tr", has_text=worker["email"])
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Clave obrera")
    expect(page.locator("#admin-api-keys")).not_to_contain_text("Clave del admin")
    expect(page.locator("#admin-api-keys")).not_to_contain_text(admin["email"])
    page.click(f"button[aria-label='Revocar la clave Clave obrera de {worker['email']}']")
    page.click("dialog button:text('Revocar')")
    expect(row).to_contain_text("Revocada el")
    refused = httpx.get(
        f"{live_app.base_url}/v1/models", headers={"Authorization": f"Bearer {worker_key}"}
    )
    assert refused.status_code == 401
