"""Hostile text from the model, a title or a user name renders as text; no script ever runs."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import LiveApp, login

pytestmark = pytest.mark.browser

PAYLOADS = [
    "<img src=x onerror=alert('img')>",
    "<script>alert('script')</script>",
    "[haz clic](javascript:alert('link'))",
    "[ref][x]\n\n[x]: javascript:alert('ref')",
    "<a href=\"javascript:alert('a')\">enlace</a>",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![imagen](x\" onerror=\"alert('md-img'))",
    "<svg onload=alert('svg')>",
    "<iframe src=javascript:alert('iframe')></iframe>",
]
NAME = "<img src=x onerror=alert('name')>Eva"
TITLE = "<script>alert('title')</script>Título"


def test_hostile_answer_title_and_name_render_as_text(page: Page, live_app: LiveApp) -> None:
    answer = "Respuesta:\n\n" + "\n\n".join(PAYLOADS) + "\n\n[seguro](https://example.com)"
    user = live_app.create_user(full_name=NAME)
    live_app.create_conversation(user["id"], TITLE, [("user", PAYLOADS[0]), ("assistant", answer)])
    login(page, live_app.base_url, user["email"], user["password"])

    expect(page.locator(".conv-title").first).to_have_text(TITLE)
    expect(page.locator(".profile-name")).to_have_text(NAME)
    page.locator(".conv-link").first.click()
    body = page.locator(".msg-assistant .md")
    expect(body).to_contain_text("<img src=x onerror=alert('img')>")
    expect(body).to_contain_text("<script>alert('script')</script>")
    expect(page.locator(".msg-user .bubble")).to_have_text(PAYLOADS[0])
    assert page.locator(".md img, .md script, .md iframe, .md svg").count() == 0
    hrefs = page.locator(".md a").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    # Unsafe links keep their text but lose the href; only the https one stays a link.
    assert [h for h in hrefs if h is not None] == ["https://example.com"]
    assert len(hrefs) >= 4
    assert page.locator(".md [onerror], .md [onload]").count() == 0
    # Clicking the neutralised link does nothing (the page fixture fails on any dialog).
    page.locator(".md a", has_text="haz clic").click()
    page.wait_for_timeout(200)


def test_hostile_name_in_admin_panel(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user(full_name=NAME)
    conv = live_app.create_conversation(
        user["id"], TITLE, [("user", "hola"), ("assistant", "\n\n".join(PAYLOADS))]
    )
    admin = live_app.create_user(role="admin", full_name="Admin XSS")
    login(page, live_app.base_url, admin["email"], admin["password"])
    page.goto(f"{live_app.base_url}/static/index.html#/admin/usuarios")
    page.fill("#user-search", user["email"])
    expect(page.locator(f"tr[data-user-id='{user['id']}'] td").first).to_have_text(NAME)
    page.goto(f"{live_app.base_url}/static/index.html#/admin/usuario/{user['id']}")
    expect(page.locator("#user-conversations tbody td").first).to_have_text(TITLE)
    page.goto(f"{live_app.base_url}/static/index.html#/admin/conversacion/{conv}")
    expect(page.locator("#admin-viewer .md")).to_contain_text("<svg onload=alert('svg')>")
    assert page.locator("#admin-viewer .md :is(img, svg, iframe, script)").count() == 0
