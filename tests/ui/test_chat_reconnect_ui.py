"""A rolling update seen from the browser: the server streaming an answer says `reconnect`
(it is stopping), and the chat opens the answer's stream again after the last event it got,
so the text goes on without a gap or a repeat and without an error shown."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.ui.conftest import LiveApp, login

pytestmark = pytest.mark.browser

ANSWER_ID = "8c1f0e0e-6a43-4e44-9a52-3f1e2b7c9a10"


def _sse(*events: tuple[str, dict[str, object], str]) -> str:
    return "".join(
        (f"id: {eid}\n" if eid else "") + f"event: {name}\ndata: {json.dumps(data)}\n\n"
        for name, data, eid in events
    )


def test_the_chat_follows_an_answer_through_a_server_restart(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user(full_name="Rolo Reinicio")
    login(page, live_app.base_url, user["email"], user["password"])
    resumed_from: list[str | None] = []
    meta = {
        "conversation_id": "2b0b8f7e-1f7c-4bde-9d50-6a3c3d1c8e11",
        "user_message_id": "6d3c2f7e-0b5c-4d1e-8a2f-1c9e8b7a6d52",
        "assistant_message_id": ANSWER_ID,
    }

    def first(route: Route) -> None:  # the process that is stopping
        body = _sse(
            ("meta", meta, ""),
            ("token", {"content": "Primera parte, "}, "1-0"),
            ("reconnect", {}, ""),
        )
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    def resumed(route: Route, request: Request) -> None:  # another process, after 1-0
        resumed_from.append(request.headers.get("last-event-id"))
        done = {"assistant_message_id": ANSWER_ID, "status": "complete", "completion_tokens": 4}
        body = _sse(
            ("meta", meta, ""),
            ("token", {"content": "segunda parte."}, "2-0"),
            ("done", done, "3-0"),
        )
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    page.route("**/chat", first)
    page.route(f"**/chat/{ANSWER_ID}/stream", resumed)
    page.fill("#composer-input", "Hola")
    page.keyboard.press("Enter")

    answer = page.locator(".msg-assistant").last
    expect(answer.locator(".md")).to_have_text("Primera parte, segunda parte.")
    assert resumed_from == ["1-0"]
    expect(answer.locator(".msg-error")).to_have_count(0)
