"""Retention in the browser: an admin places a conversation on legal hold from the viewer (with
a reason) and releases it; a user downloads all their conversations as a ZIP from Configuración."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import LiveApp, login, quick_login

pytestmark = pytest.mark.browser


def test_admin_places_and_releases_a_legal_hold(page: Page, live_app: LiveApp) -> None:
    owner = live_app.create_user(full_name="Dueño Retenido")
    conv = live_app.create_conversation(owner["id"], "Contrato de mantención", [("user", "Hola")])
    quick_login(page, live_app.base_url, "admin")
    page.goto(f"{live_app.base_url}/static/index.html#/admin/conversacion/{conv}")
    panel = page.locator("#legal-hold")
    expect(panel).to_contain_text("Sin retención legal.")
    panel.locator("[data-action=hold]").click()
    page.locator("dialog button[type=submit]").click()
    expect(page.locator("dialog .alert-error")).to_have_text("Indique el motivo.")
    page.fill("#hold-reason", "Causa laboral 123-2026")
    page.locator("dialog button[type=submit]").click()
    expect(page.locator("#legal-hold-reason")).to_have_text(
        "En retención legal: Causa laboral 123-2026"
    )
    page.reload()  # read back from the server
    expect(page.locator("#legal-hold-reason")).to_have_text(
        "En retención legal: Causa laboral 123-2026"
    )
    page.locator("#legal-hold [data-action=release]").click()
    page.locator("dialog button", has_text="Liberar").click()
    expect(panel).to_contain_text("Sin retención legal.")


def test_user_downloads_every_conversation_as_a_zip(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user(email=f"zip{time.monotonic_ns()}@alvaradomazzei.cl")
    for title in ("Primera", "Segunda"):
        live_app.create_conversation(user["id"], title, [("user", f"Pregunta {title}")])
    login(page, live_app.base_url, user["email"], user["password"])
    page.goto(f"{live_app.base_url}/static/index.html#/config")
    with page.expect_download() as info:
        page.click("#export-all")
    download = info.value
    assert download.suggested_filename == "conversaciones-energyapp.zip"
    path = download.path()
    archive = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    index = json.loads(archive.read("indice.json"))
    assert [c["title"] for c in index["conversations"]] == ["Primera", "Segunda"]
    assert "Pregunta Segunda" in archive.read(f"{index['conversations'][1]['file']}.md").decode()
