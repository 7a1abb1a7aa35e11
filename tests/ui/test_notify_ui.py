"""An answer that ends while its tab is hidden: the tab's title is marked until the tab is seen
again, and, for those who turned it on in Configuración, one desktop notification (the
conversation's title and a fixed line, never the answer's text) opens the conversation.

The page cannot really be hidden in a headless browser: an init script makes
`document.visibilityState` answer what the test sets (`__setHidden`), and replaces
`window.Notification` with a class that records what the app shows."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.ui.conftest import LiveApp, login

pytestmark = pytest.mark.browser

ANSWER = ".msg-assistant"
# Both kept in sessionStorage, as a browser keeps them through a reload of the tab.
HIDDEN_TAB = """
(() => {
  let hidden = sessionStorage.getItem("test.hidden") === "1";
  const state = () => (hidden ? "hidden" : "visible");
  Object.defineProperty(Document.prototype, "visibilityState", { configurable: true, get: state });
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
  window.__setHidden = (value) => {
    hidden = value;
    sessionStorage.setItem("test.hidden", value ? "1" : "0");
    document.dispatchEvent(new Event("visibilitychange"));
  };
})();
"""
SHOWN = """() => window.__notifications.map(
  (n) => ({ title: n.title, body: n.body, tag: n.tag, closed: n.closed }))"""


def _notification_stub(permission: str, answer: str = "granted") -> str:
    """`window.Notification` replaced: the site's permission is `permission`; asking for it
    (counted in `__permissionAsks`) answers `answer`."""
    return f"""
(() => {{
  const shown = [];
  window.__permissionAsks = 0;
  class RecordedNotification {{
    static permission = sessionStorage.getItem("test.permission") || {json.dumps(permission)};
    static async requestPermission() {{
      window.__permissionAsks += 1;
      RecordedNotification.permission = {json.dumps(answer)};
      sessionStorage.setItem("test.permission", RecordedNotification.permission);
      return RecordedNotification.permission;
    }}
    constructor(title, options = {{}}) {{
      this.title = title;
      this.body = options.body;
      this.tag = options.tag;
      this.closed = false;
      this.onclick = null;
      this.onclose = null;
      shown.push(this);
    }}
    close() {{ this.closed = true; }}
  }}
  window.Notification = RecordedNotification;
  window.__notifications = shown;
}})();
"""


def _prepare(page: Page, permission: str, answer: str = "granted") -> None:
    page.add_init_script(HIDDEN_TAB + _notification_stub(permission, answer))


def _hide(page: Page, hidden: bool = True) -> None:
    page.evaluate("value => window.__setHidden(value)", hidden)


def _send(page: Page, text: str) -> None:
    page.fill("#composer-input", text)
    page.keyboard.press("Enter")


def _shown(page: Page) -> list[dict[str, object]]:
    shown: list[dict[str, object]] = page.evaluate(SHOWN)
    return shown


def _wait_shown(page: Page, count: int) -> None:
    page.wait_for_function("n => window.__notifications.length >= n", arg=count)


def _stream_over(page: Page) -> None:
    page.wait_for_function("() => sessionStorage.getItem('energyapp.streaming') === null")
    expect(page.locator("#send-btn")).to_be_visible()


def _turn_on(page: Page) -> None:
    page.goto(f"{page.url.split('#')[0]}#/config")
    switch = page.get_by_role("switch", name="Avisarme cuando una respuesta esté lista")
    expect(switch).not_to_be_checked()
    switch.click()
    expect(switch).to_be_checked()


def _answered_while_hidden(page: Page, text: str) -> None:
    """On the chat: hide the tab, ask `text`, wait for the complete answer and its mark."""
    _hide(page)
    _send(page, text)
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "complete")
    _stream_over(page)
    expect(page).to_have_title(re.compile(r"^\(✓\) "))


def _new_worker(page: Page, app: LiveApp, name: str = "Nora Notas") -> dict[str, str]:
    user = app.create_user(full_name=name)
    login(page, app.base_url, user["email"], user["password"])
    return user


def _worker_with_conversation(page: Page, app: LiveApp, title: str) -> tuple[dict[str, str], str]:
    """A new worker signed in, with one conversation named `title` (a question, an answer)."""
    user = _new_worker(page, app)
    conv = app.create_conversation(user["id"], title, [("user", "Hola"), ("assistant", "Hola.")])
    return user, conv


def test_a_hidden_tab_is_marked_when_its_answer_ends_and_unmarked_when_seen(
    page: Page, live_app: LiveApp
) -> None:
    # The site may show notifications (another account allowed them), but this account did not
    # ask for them: the title says it, nothing pops up, nobody was asked anything.
    _prepare(page, "granted")
    _new_worker(page, live_app)
    _hide(page)
    _send(page, "¿Qué es un transformador?")
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "complete")
    # The conversation's title comes after the answer's end: the mark stays before it.
    expect(page).to_have_title(re.compile(r"^\(✓\) (?!EnergyApp LLM).+ · EnergyApp$"))
    _stream_over(page)
    assert _shown(page) == []
    assert page.evaluate("window.__permissionAsks") == 0

    _hide(page, False)
    expect(page).to_have_title(re.compile(r"^[^(].* · EnergyApp$"))
    # A visible tab gets no mark.
    _send(page, "¿Y uno trifásico?")
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "complete")
    _stream_over(page)
    expect(page).to_have_title(re.compile(r"^[^(].* · EnergyApp$"))


def test_one_notification_with_the_title_only_and_a_click_opens_the_conversation(
    page: Page, live_app: LiveApp
) -> None:
    _prepare(page, "default")
    title = "Turnos de mantención"
    user, conv = _worker_with_conversation(page, live_app, title)
    page.goto(f"{live_app.base_url}/#/config")
    expect(page.get_by_role("heading", name="Configuración", exact=True)).to_be_visible()
    assert page.evaluate("window.__permissionAsks") == 0  # never on page load
    _turn_on(page)
    assert page.evaluate("window.__permissionAsks") == 1
    key = f"energyapp.notify-ready:{user['id']}"
    assert page.evaluate("key => localStorage.getItem(key)", key) == "1"

    page.goto(f"{live_app.base_url}/#/chat/{conv}")
    expect(page.locator(".msg-user")).to_have_count(1)
    _send(page, "¿Cada cuánto se revisa un transformador?")
    page.wait_for_function("() => sessionStorage.getItem('energyapp.streaming') !== null")
    # The tab hidden and reloaded mid-answer: the re-attached answer tells too.
    _hide(page)
    page.reload()
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "complete")
    _wait_shown(page, 1)
    _stream_over(page)
    expect(page).to_have_title(f"(✓) {title} · EnergyApp")
    shown = _shown(page)
    assert shown == [
        {
            "title": title,
            "body": "La respuesta está lista.",
            "tag": f"energyapp-answer-{conv}",
            "closed": False,
        }
    ]
    answer = page.locator(f"{ANSWER} .md").last.inner_text()
    assert answer and answer not in json.dumps(shown, ensure_ascii=False)

    # Elsewhere in the app when it is clicked: the window comes back to that conversation.
    page.evaluate("() => { location.hash = '#/config'; }")
    expect(page.get_by_role("heading", name="Configuración", exact=True)).to_be_visible()
    page.evaluate("() => window.__notifications[0].onclick(new Event('click'))")
    expect(page).to_have_url(re.compile(rf"#/chat/{conv}$"))
    expect(page.locator(".msg-user")).to_have_count(2)
    assert _shown(page)[0]["closed"] is True
    assert len(_shown(page)) == 1


def test_two_tabs_following_the_answer_notify_once(
    context: BrowserContext, page: Page, live_app: LiveApp
) -> None:
    _prepare(page, "granted")
    title = "Cálculo de tableros"
    _, conv = _worker_with_conversation(page, live_app, title)
    _turn_on(page)
    page.goto(f"{live_app.base_url}/#/chat/{conv}")
    expect(page.locator(".msg-user")).to_have_count(1)
    other = context.new_page()
    _prepare(other, "granted")
    _hide(page)
    _send(page, "¿Cómo dimensiono un tablero?")
    page.wait_for_function("() => sessionStorage.getItem('energyapp.streaming') !== null")
    # The second tab opens the conversation while the answer runs: it follows it too.
    other.goto(f"{live_app.base_url}/#/chat/{conv}")
    expect(other.locator(ANSWER).last).to_have_attribute("data-status", "streaming")
    _hide(other)
    for tab in (page, other):
        expect(tab.locator(ANSWER).last).to_have_attribute("data-status", "complete")
        expect(tab).to_have_title(f"(✓) {title} · EnergyApp")
    page.wait_for_function(
        "() => navigator.locks.query().then((q) => !q.held.length && !q.pending.length)"
    )
    page.wait_for_timeout(500)
    shown = _shown(page) + _shown(other)
    assert [n["title"] for n in shown] == [title]
    other.close()


def test_an_answer_that_fails_marks_the_title_and_says_so(
    page: Page, dead_ollama_app: LiveApp
) -> None:
    _prepare(page, "default")
    _new_worker(page, dead_ollama_app)
    _turn_on(page)
    page.click("nav.tabs a:text('Chat')")
    _hide(page)
    _send(page, "¿Cuánto consume un motor?")
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "error")
    expect(page).to_have_title(re.compile(r"^\(!\) "))
    _wait_shown(page, 1)
    _stream_over(page)
    shown = _shown(page)
    assert len(shown) == 1
    assert shown[0]["body"] == "La respuesta terminó con un error."
    assert shown[0]["title"] == "¿Cuánto consume un motor?"  # the name the server gave
    _hide(page, False)
    expect(page).to_have_title(re.compile(r"^[^(]"))
    assert _shown(page)[0]["closed"] is True  # seen: the notification has nothing left to say


def test_a_switch_turned_off_and_the_next_account_get_no_notification(
    page: Page, live_app: LiveApp
) -> None:
    _prepare(page, "granted")
    first = _new_worker(page, live_app, "Primera Persona")
    _turn_on(page)
    page.click("nav.tabs a:text('Chat')")
    _hide(page)
    _send(page, "Primera pregunta")
    _wait_shown(page, 1)
    _stream_over(page)
    conv = page.url.rsplit("/", 1)[1]
    # Signing out closes this person's notification and its mark; a click on it afterwards
    # opens nothing of theirs.
    page.click(".profile-btn")
    page.click("[data-action=logout]")
    expect(page.locator("#login-email")).to_be_visible()
    assert _shown(page)[0]["closed"] is True
    expect(page).to_have_title("Iniciar sesión · EnergyApp")
    assert page.evaluate("() => localStorage.getItem('energyapp.notified')") is None
    key = f"energyapp.notify-ready:{first['id']}"
    assert page.evaluate("key => localStorage.getItem(key)", key) == "1"  # kept for that account

    second = live_app.create_user(full_name="Segunda Persona")
    page.fill("#login-email", second["email"])  # same page: the recorded notification stays
    page.fill("#login-password", second["password"])
    page.click("button[type=submit]")
    expect(page.locator(".profile-name")).to_have_text("Segunda Persona")
    page.evaluate("() => window.__notifications[0].onclick(new Event('click'))")
    page.wait_for_timeout(300)
    assert conv not in page.url
    _answered_while_hidden(page, "Segunda pregunta")  # the mark is this tab's, for anyone
    assert len(_shown(page)) == 1

    # The first person back, switch turned off: nothing.
    page.click(".profile-btn")
    page.click("[data-action=logout]")
    login(page, live_app.base_url, first["email"], first["password"])
    page.goto(f"{live_app.base_url}/#/config")
    switch = page.get_by_role("switch", name="Avisarme cuando una respuesta esté lista")
    expect(switch).to_be_checked()
    switch.click()
    expect(switch).not_to_be_checked()
    assert page.evaluate("key => localStorage.getItem(key)", key) is None
    page.click("nav.tabs a:text('Chat')")
    _answered_while_hidden(page, "Tercera pregunta")
    assert _shown(page) == []


@pytest.mark.parametrize("permission", ["default", "denied"])
def test_a_refused_permission_leaves_the_switch_off_with_the_reason(
    page: Page, live_app: LiveApp, permission: str
) -> None:
    _prepare(page, permission, answer="denied")
    user = _new_worker(page, live_app)
    page.goto(f"{live_app.base_url}/#/config")
    switch = page.get_by_role("switch", name="Avisarme cuando una respuesta esté lista")
    why = page.locator("#notify-ready-why")
    expect(why).to_be_hidden()
    switch.click()
    expect(why).to_contain_text("bloqueados")
    expect(switch).not_to_be_checked()
    expect(switch).to_be_focused()  # the prompt came and went: the focus is where it was
    assert page.evaluate("window.__permissionAsks") == (1 if permission == "default" else 0)
    key = f"energyapp.notify-ready:{user['id']}"
    assert page.evaluate("key => localStorage.getItem(key)", key) is None


def test_without_notifications_the_switch_says_so(page: Page, live_app: LiveApp) -> None:
    page.add_init_script("delete window.Notification;")
    _new_worker(page, live_app)
    page.goto(f"{live_app.base_url}/#/config")
    switch = page.get_by_role("switch", name="Avisarme cuando una respuesta esté lista")
    expect(switch).to_be_disabled()
    expect(switch).not_to_be_checked()
    expect(page.locator("#notify-ready-why")).to_have_text(
        "Este navegador no puede mostrar avisos de escritorio en esta página."
    )


def test_a_browser_that_refuses_page_notifications_still_marks_the_title(
    page: Page, live_app: LiveApp
) -> None:
    # Chrome on Android grants the permission, then refuses `new Notification()` (only a
    # service worker may show one there): no error in the page, the title still says it.
    _prepare(page, "granted")
    page.add_init_script(
        "window.Notification = class extends window.Notification {"
        " constructor() { throw new TypeError('Illegal constructor'); } };"
    )
    _new_worker(page, live_app)
    _turn_on(page)
    page.click("nav.tabs a:text('Chat')")
    _answered_while_hidden(page, "¿Qué es la potencia reactiva?")
    page.wait_for_timeout(500)  # the conversation's name asked for, the notification tried
    assert _shown(page) == []
