"""The sidebar and the chat's keyboard: day groups, the "Más acciones" menu, accent-insensitive
search, the running indicator in every tab, a new conversation during an answer, shortcuts."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect
from sqlalchemy import update

from energyapp.conversations.models import Conversation
from energyapp.db import create_engine, create_sessionmaker
from tests.ui.conftest import (
    ROW_MENU,
    LiveApp,
    _arun,
    login,
    row_action,
    watch_expired_reads,
)

pytestmark = pytest.mark.browser

SANTIAGO = ZoneInfo("America/Santiago")
RUNNING = ".conv-item.running"


def _login_worker(page: Page, app: LiveApp) -> dict[str, str]:
    user = app.create_user(full_name="Sara Sidebar")
    login(page, app.base_url, user["email"], user["password"])
    return user


def _send(page: Page, text: str) -> None:
    page.fill("#composer-input", text)
    page.keyboard.press("Enter")


def _first_tokens(page: Page) -> None:
    expect(page.locator(".msg-assistant .md").last).not_to_be_empty()


def _set_updated(app: LiveApp, conversation_id: str, when: datetime) -> None:
    async def _update() -> None:
        engine = create_engine(app.db_url)
        try:
            async with create_sessionmaker(engine)() as session:
                await session.execute(
                    update(Conversation)
                    .where(Conversation.id == uuid.UUID(conversation_id))
                    .values(updated_at=when)
                )
                await session.commit()
        finally:
            await engine.dispose()

    _arun(_update())


def _santiago_noon(days_ago: int) -> datetime:
    day = datetime.now(SANTIAGO).date() - timedelta(days=days_ago)
    return datetime.combine(day, time(12), SANTIAGO).astimezone(UTC)


def test_conversations_are_grouped_by_santiago_day(page: Page, live_app: LiveApp) -> None:
    user = _login_worker(page, live_app)
    ages = {"Hoy": 0, "Ayer": 1, "Hace tres días": 3, "Hace un mes": 30}
    for title, days in ages.items():
        conv = live_app.create_conversation(user["id"], title, [("user", "Hola")])
        if days:
            _set_updated(live_app, conv, _santiago_noon(days))
    page.reload()
    expect(page.locator(".conv-group")).to_have_text(
        ["Hoy", "Ayer", "Últimos 7 días", "Anteriores"]
    )
    expect(page.locator(".conv-title")).to_have_text(list(ages))
    # A pinned conversation leaves its day for "Fijadas", above them all.
    row_action(page.locator(".conv-item", has_text="Hace un mes"), "Fijar")
    expect(page.locator(".conv-group")).to_have_text(["Fijadas", "Hoy", "Ayer", "Últimos 7 días"])


def test_day_labels_name_groups_and_the_list_items_are_the_conversations(
    page: Page, live_app: LiveApp
) -> None:
    """A screen reader counted "Hoy" and "Ayer" among the conversations (they were items of the
    list); each day is now a group named by its heading, around a list of its conversations."""
    user = _login_worker(page, live_app)
    ages = {"Hoy": ("Uno", "Dos"), "Ayer": ("Tres",)}
    for days, titles in enumerate(ages.values()):
        for title in reversed(titles):
            conv = live_app.create_conversation(user["id"], title, [("user", "Hola")])
            if days:
                _set_updated(live_app, conv, _santiago_noon(days))
    page.reload()
    sidebar = page.get_by_role("complementary", name="Historial de conversaciones")
    expect(sidebar.get_by_role("listitem")).to_have_count(3)
    expect(sidebar.get_by_role("listitem").get_by_role("link")).to_have_text(["Uno", "Dos", "Tres"])
    for label, titles in ages.items():
        group = sidebar.get_by_role("group", name=label, exact=True)
        expect(group.get_by_role("heading", name=label, exact=True)).to_be_visible()
        expect(group.get_by_role("listitem").get_by_role("link")).to_have_text(list(titles))
    # ↑/↓ still go from row to row, across the days.
    page.get_by_role("link", name="Dos").focus()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("link", name="Tres")).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(page.get_by_role("link", name="Dos")).to_be_focused()


def test_row_actions_menu_by_keyboard_and_export(page: Page, live_app: LiveApp) -> None:
    user = _login_worker(page, live_app)
    live_app.create_conversation(user["id"], "Segunda", [("user", "Hola")])
    live_app.create_conversation(user["id"], "Primera", [("user", "¿Cuál es la tarifa?")])
    page.reload()
    first, second = page.locator(".conv-link").nth(0), page.locator(".conv-link").nth(1)
    expect(page.locator(".conv-title")).to_have_text(["Primera", "Segunda"])
    # A row is one tab stop: Tab goes from one conversation to the next.
    first.focus()
    page.keyboard.press("Tab")
    expect(second).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(first).to_be_focused()
    # → reaches the row's menu button, which opens a menu of every action.
    page.keyboard.press("ArrowRight")
    more = page.get_by_role("button", name="Más acciones para «Primera»")
    expect(more).to_be_focused()
    expect(more).to_have_attribute("aria-haspopup", "menu")
    page.keyboard.press("Enter")
    expect(more).to_have_attribute("aria-expanded", "true")
    items = page.get_by_role("menu").get_by_role("menuitem")
    expect(items).to_have_text(ROW_MENU)
    expect(items.first).to_be_focused()
    page.keyboard.press("ArrowUp")  # wraps to the last item
    expect(items.last).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("menu")).to_be_hidden()
    expect(more).to_be_focused()
    expect(more).to_have_attribute("aria-expanded", "false")

    # The file keeps the title as written, under the same name as the chat's "Exportar" gives
    # it (the menu used to save the server's ASCII fallback: "conversacion-mantencion-...").
    live_app.create_conversation(
        user["id"], "Mantención año 2026", [("user", "¿Cuál es la tarifa?")]
    )
    page.reload()
    with page.expect_download() as download:
        row_action(page.locator(".conv-item").first, "Exportar en Markdown")
    assert download.value.suggested_filename == "conversacion-Mantención-año-2026.md"
    assert "¿Cuál es la tarifa?" in download.value.path().read_text(encoding="utf-8")
    with page.expect_download() as download:
        row_action(page.locator(".conv-item").first, "Exportar en JSON")
    assert download.value.suggested_filename == "conversacion-Mantención-año-2026.json"


def test_search_ignores_case_and_accents(page: Page, live_app: LiveApp) -> None:
    user = _login_worker(page, live_app)
    live_app.create_conversation(user["id"], "Plan de MANTENCIÓN", [("user", "Hola")])
    live_app.create_conversation(user["id"], "Otra", [("user", "la mantencion del transformador")])
    live_app.create_conversation(user["id"], "Nada que ver", [("user", "tarifas")])
    page.reload()
    expect(page.locator(".conv-item")).to_have_count(3)
    for spelling in ("mantencion", "MANTENCIÓN", "Mantención"):
        page.fill("#conv-search", spelling)
        expect(page.locator(".conv-title")).to_have_text(["Otra", "Plan de MANTENCIÓN"])
        page.fill("#conv-search", "")
        expect(page.locator(".conv-item")).to_have_count(3)


def test_the_lists_own_reads_never_refresh_the_session(page: Page, live_app: LiveApp) -> None:
    """The list asks again on a timer, on focus and for other tabs, not because the person did
    something: with the access token expired it stops quietly (a refresh would keep an idle
    session alive for ever), and asks again once the person's next request brings a token."""
    user = _login_worker(page, live_app)
    live_app.create_conversation(user["id"], "Primera", [("user", "Hola")])
    page.reload()
    expect(page.locator(".conv-title")).to_have_text(["Primera"])
    watched = watch_expired_reads(page)
    reads, refreshes, expired = watched.reads, watched.refreshes, watched.answer
    page.route("**/conversations?*", expired)
    with page.expect_response("**/conversations?*"):
        page.evaluate("window.dispatchEvent(new Event('focus'))")
    page.wait_for_timeout(300)  # what would have followed the 401: a refresh, a retry
    page.evaluate("window.dispatchEvent(new Event('focus'))")
    page.wait_for_timeout(300)
    assert len(reads) == 2 and refreshes == []
    expect(page.locator(".conv-title")).to_have_text(["Primera"])  # what was shown stays
    assert page.evaluate("Boolean(localStorage.getItem('energyapp.refresh'))")

    page.unroute("**/conversations?*", expired)
    live_app.create_conversation(user["id"], "Segunda", [("user", "Hola")])
    page.evaluate("import('/static/js/api.js').then((api) => api.refresh())")
    expect(page.locator(".conv-title")).to_have_text(["Segunda", "Primera"])
    assert len(refreshes) == 1


def test_shortcuts_and_their_help_dialog(page: Page, live_app: LiveApp) -> None:
    user = _login_worker(page, live_app)
    conv = live_app.create_conversation(user["id"], "Abierta", [("user", "Hola")])
    page.goto(f"{live_app.base_url}/#/chat/{conv}")
    expect(page.locator("h1")).to_have_text("Abierta")
    page.keyboard.press("Control+/")
    dialog = page.get_by_role("dialog", name="Atajos de teclado")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Ctrl + Shift + O")
    expect(dialog).to_contain_text("Detener la respuesta en curso")
    dialog.get_by_role("button", name="Cerrar").click()
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Atajos de teclado").click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.locator("#composer-input").focus()
    page.keyboard.press("Control+Shift+O")
    expect(page.locator("#welcome")).to_be_visible()
    assert page.url.endswith("#/chat")
    expect(page.locator("h1")).to_have_text("Nueva conversación")


def test_escape_in_the_composer_stops_the_answer(page: Page, slow_app: LiveApp) -> None:
    _login_worker(page, slow_app)
    _send(page, "Escribe un texto largo")
    _first_tokens(page)
    expect(page.locator("#composer-input")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator(".msg-assistant").last).to_have_attribute("data-status", "stopped")


def test_running_indicator_in_every_tab(
    page: Page, context: BrowserContext, slow_app: LiveApp
) -> None:
    user = _login_worker(page, slow_app)
    slow_app.create_conversation(user["id"], "Anterior", [("user", "Hola")])
    other = context.new_page()
    other.goto(f"{slow_app.base_url}/#/chat")
    expect(other.locator(".conv-item")).to_have_count(1)

    _send(page, "Explica la tarifa BT1")
    _first_tokens(page)
    expect(page.locator(RUNNING)).to_have_count(1)
    expect(page.locator(f"{RUNNING} .sr-only")).to_have_text("(respuesta en curso)")
    # The other tab hears of it at once, and opening the conversation there follows the answer.
    expect(other.locator(RUNNING)).to_have_count(1)
    other.locator(f"{RUNNING} .conv-link").click()
    expect(other.locator(".msg-assistant").last).to_have_attribute("data-status", "streaming")
    expect(other.locator("#stop-btn")).to_be_visible()

    expect(page.locator(".msg-assistant").last).to_have_attribute(
        "data-status", "complete", timeout=30_000
    )
    expect(page.locator(RUNNING)).to_have_count(0)
    expect(other.locator(".msg-assistant").last).to_have_attribute("data-status", "complete")
    expect(other.locator(RUNNING)).to_have_count(0)
    other.close()


def test_new_conversation_during_an_answer_links_to_it(page: Page, slow_app: LiveApp) -> None:
    _login_worker(page, slow_app)
    _send(page, "Explica la tarifa AT4")
    _first_tokens(page)
    answer_url = page.url
    page.get_by_role("button", name="Nueva conversación", exact=True).click()
    expect(page.locator("#welcome")).to_be_visible()
    assert page.url.endswith("#/chat")
    # The answer goes on: the sidebar shows it running and the composer says so, with a link.
    expect(page.locator(RUNNING)).to_have_count(1)
    note = page.locator("#running-note")
    expect(note).to_contain_text("Hay una respuesta en curso")
    page.fill("#composer-input", "Otra pregunta")
    expect(page.locator("#send-btn")).to_be_disabled()
    note.get_by_role("link", name="Ver la respuesta").click()
    assert page.url == answer_url
    expect(page.locator(".msg-user .bubble")).to_have_text("Explica la tarifa AT4")
    expect(page.locator(".msg-assistant").last).to_have_attribute(
        "data-status", "complete", timeout=30_000
    )
    assert len(page.locator(".msg-assistant .md").last.inner_text()) > 100
    expect(page.locator(RUNNING)).to_have_count(0)
    expect(note).to_be_hidden()


def test_the_running_note_goes_when_the_answer_ends(page: Page, slow_app: LiveApp) -> None:
    _login_worker(page, slow_app)
    _send(page, "Explica la potencia contratada")
    _first_tokens(page)
    page.keyboard.press("Control+Shift+O")
    note = page.locator("#running-note")
    expect(note).to_be_visible()
    # Nobody watches the answer here; the list asks again while one runs and frees the composer.
    expect(note).to_be_hidden(timeout=30_000)
    expect(page.locator(RUNNING)).to_have_count(0)
    _send(page, "Ahora otra")
    expect(page.locator(".msg-user .bubble")).to_have_text("Ahora otra")
    expect(page.locator(".msg-assistant").last).not_to_be_empty()


def test_an_open_row_menu_outlives_the_answer_that_ends_under_it(
    page: Page, slow_app: LiveApp
) -> None:
    """The end of an answer (and its title) redraws the list; while a row's menu is open that
    waits until the menu closes, instead of sweeping the menu away under the pointer."""
    _login_worker(page, slow_app)
    _send(page, "Explica la potencia contratada")
    _first_tokens(page)
    expect(page.locator(RUNNING)).to_have_count(1)
    row = page.locator(".conv-item").first
    row.hover()
    row.get_by_role("button", name=re.compile("^Más acciones")).click()
    rename = page.get_by_role("menuitem", name="Renombrar", exact=True)
    expect(rename).to_be_focused()
    expect(page.locator(".msg-assistant").last).to_have_attribute(
        "data-status", "complete", timeout=30_000
    )
    page.wait_for_timeout(500)  # the title, if any, arrives right after the end
    expect(rename).to_be_visible()
    expect(rename).to_be_focused()
    expect(page.locator(RUNNING)).to_have_count(1)  # drawn once the menu closes
    page.keyboard.press("Escape")
    expect(page.locator(RUNNING)).to_have_count(0)
    expect(row.get_by_role("button", name=re.compile("^Más acciones"))).to_be_focused()


def test_versions_wait_for_an_answer_running_in_another_conversation(
    page: Page, slow_app: LiveApp
) -> None:
    user = _login_worker(page, slow_app)
    other = slow_app.create_conversation(
        user["id"], "Tarifa BT1", [("user", "¿Qué es BT1?"), ("assistant", "Una tarifa.")]
    )
    _send(page, "Explica la tarifa AT4")
    _first_tokens(page)
    page.locator(f".conv-item[data-id='{other}'] .conv-link").click()
    expect(page.locator("#running-note")).to_be_visible()
    answer = page.locator(".msg-assistant").last
    answer_id = answer.get_attribute("data-id")
    # Regenerar and an edit are held, with a word why, instead of wiping the answer shown and
    # then being refused by the server (one answer at a time per person).
    answer.get_by_role("button", name="Regenerar").click()
    expect(page.locator(".toast")).to_contain_text("Espere a que termine la respuesta en curso")
    page.locator(".msg-user").get_by_role("button", name="Editar").click()
    expect(page.locator(".msg-user .edit-input")).to_have_count(0)
    expect(page.locator(".msg-user .bubble")).to_have_text("¿Qué es BT1?")
    expect(page.locator(".msg-assistant")).to_have_count(1)
    expect(answer).to_have_attribute("data-id", str(answer_id))
    expect(answer.locator(".md")).to_have_text("Una tarifa.")
    expect(page.locator(".msg-error")).to_have_count(0)


def test_opening_a_search_result_or_an_archived_one_keeps_the_list(
    page: Page, live_app: LiveApp
) -> None:
    user = _login_worker(page, live_app)
    live_app.create_conversation(user["id"], "Plan de mantención", [("user", "Hola")])
    live_app.create_conversation(user["id"], "Mantención de transformadores", [("user", "Hola")])
    live_app.create_conversation(user["id"], "Tarifas", [("user", "Hola")])
    page.reload()
    search = page.locator("#conv-search")
    search.fill("mantención")
    expect(page.locator(".conv-item")).to_have_count(2)
    # Each result opened keeps the search, so the next one is one click away.
    for title in ("Plan de mantención", "Mantención de transformadores"):
        page.locator(".conv-link", has_text=title).click()
        expect(page.locator("h1.title")).to_have_text(title)
        expect(search).to_have_value("mantención")
        expect(page.locator(".conv-item")).to_have_count(2)
        expect(page.locator(".conv-item.active .conv-title")).to_have_text(title)
    # "Nueva conversación" starts from the whole list.
    page.get_by_role("button", name="Nueva conversación", exact=True).click()
    expect(search).to_have_value("")
    expect(page.locator(".conv-item")).to_have_count(3)

    row_action(page.locator(".conv-item", has_text="Tarifas"), "Archivar")
    page.check("#show-archived")
    page.locator(".conv-link", has_text="Tarifas").click()
    expect(page.locator("h1.title")).to_have_text("Tarifas")
    expect(page.locator("#show-archived")).to_be_checked()
    expect(page.locator(".conv-title")).to_have_text(["Tarifas"])


def test_an_archive_saved_after_the_archived_list_was_asked_shows_in_it(
    page: Page, live_app: LiveApp
) -> None:
    """Archivar, then "Ver archivadas" before the server saved the archive (a slow server):
    the archived list was asked without it, so once the archive is saved the list is asked
    again. Before, the saved archive only took the row out of the list shown, which lacked it,
    and the archived conversation never appeared (seen in CI under load)."""
    user = _login_worker(page, live_app)
    live_app.create_conversation(user["id"], "Tarifas", [("user", "Hola")])
    page.reload()
    held: list[Route] = []
    page.route(
        "**/conversations/*",
        lambda route: held.append(route) if route.request.method == "PATCH" else route.fallback(),
    )
    row_action(page.locator(".conv-item", has_text="Tarifas"), "Archivar")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the archive request was not sent"
    page.check("#show-archived")
    expect(page.locator(".list-status")).to_have_text("No hay conversaciones archivadas.")
    held[0].continue_()
    expect(page.locator(".conv-title")).to_have_text(["Tarifas"])
    expect(page.locator(".list-status")).to_have_text("")


def test_who_signs_in_after_a_sign_out_mid_answer_starts_on_a_new_chat(
    page: Page, slow_app: LiveApp
) -> None:
    _login_worker(page, slow_app)
    _send(page, "Explica la tarifa AT4")
    _first_tokens(page)
    page.get_by_role("button", name=re.compile("menú de perfil")).click()
    page.click("[data-action=logout]")
    expect(page.locator("#login-email")).to_be_visible()
    # The first person's answer still runs; the next one is not sent to it (a 404 for them).
    other = slow_app.create_user(full_name="Otra Persona")
    login(page, slow_app.base_url, other["email"], other["password"])
    expect(page.locator("#welcome")).to_be_visible()
    assert page.url.endswith("#/chat")
    expect(page.get_by_text("Conversación no encontrada")).to_have_count(0)


def test_who_signs_in_after_closing_every_session_mid_answer_starts_on_a_new_chat(
    page: Page, slow_app: LiveApp
) -> None:
    """Cerrar todas las sesiones (Configuración) forgets the answer left running, as "Cerrar
    sesión" does; before, the next person was sent to it and got "Conversación no encontrada"."""
    _login_worker(page, slow_app)
    _send(page, "Explica la tarifa AT4")
    _first_tokens(page)
    page.goto(f"{slow_app.base_url}/static/index.html#/config")
    page.click("#logout-all")
    page.get_by_role("button", name="Cerrar todas", exact=True).click()
    expect(page.locator("#login-email")).to_be_visible()
    other = slow_app.create_user(full_name="Otra Persona")
    login(page, slow_app.base_url, other["email"], other["password"])
    expect(page.locator("#welcome")).to_be_visible()
    assert page.url.endswith("#/chat")
    expect(page.get_by_text("Conversación no encontrada")).to_have_count(0)


# Holds back the chat stream's `title` event until the test releases it, as a slow network would:
# the server saves the automatic title and sends it, and a rename is saved before it arrives.
HOLD_TITLE = """
(() => {
  const realFetch = window.fetch;
  window.__titleHeld = false;
  window.__streamDone = false;
  let release = () => {};
  const released = new Promise((resolve) => (release = resolve));
  window.__releaseTitle = () => release();
  window.fetch = async (input, init) => {
    const response = await realFetch(input, init);
    const url = new URL(typeof input === "string" ? input : input.url, location.href);
    if (init?.method !== "POST" || url.pathname !== "/chat" || !response.body) return response;
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    const body = response.body.pipeThrough(new TransformStream({
      async transform(chunk, controller) {
        const text = decoder.decode(chunk, { stream: true });
        const at = text.indexOf("event: title");
        if (at < 0 || window.__titleHeld) return controller.enqueue(encoder.encode(text));
        controller.enqueue(encoder.encode(text.slice(0, at)));
        window.__titleHeld = true;
        await released;
        controller.enqueue(encoder.encode(text.slice(at)));
      },
      flush() { window.__streamDone = true; },
    }));
    return new Response(body, { status: response.status, headers: response.headers });
  };
})();
"""


def test_a_rename_wins_over_an_automatic_title_that_arrives_after_it(
    page: Page, live_app: LiveApp
) -> None:
    """The server keeps a person's name over the model's (it saves an automatic title only while
    none was given), and the page must too: a `title` event that arrives after the rename was
    saved does not put the model's title back in the list or the header."""
    page.add_init_script(HOLD_TITLE)
    _login_worker(page, live_app)
    _send(page, "Primera conversación de prueba")
    expect(page.locator(".msg-assistant").last).to_have_attribute("data-status", "complete")
    page.wait_for_function("() => window.__titleHeld")  # saved on the server, not yet shown here
    row_action(page.locator(".conv-item").first, "Renombrar")
    page.fill(".conv-rename", "Informe mensual")
    page.keyboard.press("Enter")
    expect(page.locator(".conv-title").first).to_have_text("Informe mensual")
    expect(page.locator("h1.title")).to_have_text("Informe mensual")
    page.evaluate("() => window.__releaseTitle()")
    page.wait_for_function("() => window.__streamDone")
    page.wait_for_timeout(300)  # the held event is read and handled after the stream's end
    expect(page.locator(".conv-title").first).to_have_text("Informe mensual")
    expect(page.locator("h1.title")).to_have_text("Informe mensual")
    page.reload()
    expect(page.locator(".conv-title").first).to_have_text("Informe mensual")


def test_archiving_a_row_puts_the_focus_on_the_row_that_takes_its_place(
    page: Page, live_app: LiveApp
) -> None:
    user = _login_worker(page, live_app)
    live_app.create_conversation(user["id"], "Abajo", [("user", "Hola")])
    live_app.create_conversation(user["id"], "Arriba", [("user", "Hola")])
    page.reload()
    expect(page.locator(".conv-title")).to_have_text(["Arriba", "Abajo"])
    row_action(page.locator(".conv-item", has_text="Arriba"), "Archivar")
    expect(page.locator(".conv-title")).to_have_text(["Abajo"])
    expect(page.locator(".conv-item", has_text="Abajo").locator(".conv-link")).to_be_focused()
    row_action(page.locator(".conv-item", has_text="Abajo"), "Archivar")
    expect(page.get_by_role("button", name="Nueva conversación")).to_be_focused()
