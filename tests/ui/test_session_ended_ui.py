"""An answer's stream that the server ends because its session ended (``session_ended``, signed
out on another device): the browser goes to the login with the server's sentence, as for a
refused refresh, instead of showing a broken answer."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, Route, expect

from tests.ui.conftest import LiveApp, login

pytestmark = pytest.mark.browser

ENDED = "Su sesión terminó. Inicie sesión de nuevo para seguir viendo la respuesta."


def test_a_stream_cut_by_an_ended_session_lands_on_the_login(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user(full_name="Sara Sesión")
    login(page, live_app.base_url, user["email"], user["password"])
    meta = {
        "conversation_id": "2b0b8f7e-1f7c-4bde-9d50-6a3c3d1c8e12",
        "user_message_id": "6d3c2f7e-0b5c-4d1e-8a2f-1c9e8b7a6d53",
        "assistant_message_id": "8c1f0e0e-6a43-4e44-9a52-3f1e2b7c9a11",
    }
    events = [
        ("meta", meta),
        ("token", {"content": "Una respuesta a medias"}),
        ("error", {"detail": ENDED, "code": "session_ended"}),
    ]
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)

    def cut(route: Route) -> None:
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    page.route("**/chat", cut)
    page.fill("#composer-input", "Hola")
    page.keyboard.press("Enter")

    expect(page.locator("#login-notice")).to_have_text(ENDED)
    expect(page.locator("#login-email")).to_be_visible()
    assert page.evaluate("localStorage.getItem('energyapp.refresh')") is None
    expect(page.locator(".msg-error")).to_have_count(0)
