"""An open folder's rows are the list's rows: the same "Más acciones" menu and keys, the focus
on a neighbour after a row leaves (never <body>), the counts and both lists following; the chat's
header shows the conversation's folder ("Carpeta: …", which opens it in the sidebar) and moves
it from its own menu (none for a temporary chat); folders and conversations deleted in another
tab while their menus are open."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.ui.conftest import ROW_MENU, LiveApp, login, row_action

pytestmark = pytest.mark.browser

API = "import('/static/js/api.js').then((m) => m.api"


def _focus_is_not_body(page: Page) -> None:
    assert page.evaluate("document.activeElement && document.activeElement !== document.body")


def _open_folder(page: Page, name: str) -> tuple[Locator, Locator]:
    """Open the folder ``name``: its button and its rows."""
    folder = page.locator(".folder", has=page.locator(".folder-name", has_text=name))
    toggle = folder.locator(".folder-toggle")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    return toggle, folder.locator(".folder-items .conv-item")


def _menu_by_keyboard(page: Page, link: Locator, item: str) -> None:
    """From a row's link: → to its menu button, ↓ opens the menu, ↓ to ``item``, Enter."""
    link.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    for _ in range(ROW_MENU.index(item)):
        page.keyboard.press("ArrowDown")
    entry = page.get_by_role("menuitem", name=item, exact=True)
    expect(entry).to_be_focused()
    page.keyboard.press("Enter")


def _signed_in_with_two_folders(page: Page, live_app: LiveApp) -> str:
    """Someone signed in with the folders "Borrada" (holding "Dentro") and "Queda" (empty):
    the id of "Borrada", for another tab to delete."""
    user = live_app.create_user()
    inside = live_app.create_conversation(user["id"], "Dentro", [("user", "Hola")])
    gone = live_app.create_folder(user["id"], "Borrada", [inside])
    live_app.create_folder(user["id"], "Queda", [])
    login(page, live_app.base_url, user["email"], user["password"])
    return gone


def test_a_folders_rows_have_the_lists_menu_and_a_sensible_focus(
    page: Page, live_app: LiveApp
) -> None:
    user = live_app.create_user()
    filed = [
        live_app.create_conversation(user["id"], title, [("user", "Hola")])
        for title in ("Uno", "Dos", "Tres")
    ]
    live_app.create_folder(user["id"], "Proyecto", filed)
    login(page, live_app.base_url, user["email"], user["password"])
    toggle, rows = _open_folder(page, "Proyecto")
    main_rows = page.locator(".conv-list .conv-item")
    expect(rows.locator(".conv-title")).to_have_text(["Tres", "Dos", "Uno"])
    expect(toggle).to_contain_text("3")

    # The same menu as the list's rows, by the same keys; ↑/↓ stay in the folder.
    rows.first.locator(".conv-link").focus()
    page.keyboard.press("ArrowDown")
    expect(rows.nth(1).locator(".conv-link")).to_be_focused()
    page.keyboard.press("ArrowRight")
    more = rows.nth(1).get_by_role("button", name="Más acciones para «Dos»")
    expect(more).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("menu").get_by_role("menuitem")).to_have_text(ROW_MENU)
    page.keyboard.press("Enter")  # Renombrar
    field = page.get_by_role("textbox", name="Nuevo título")
    expect(field).to_be_focused()
    field.fill("Dos bis")
    page.keyboard.press("Enter")
    expect(rows.locator(".conv-title")).to_have_text(["Tres", "Dos bis", "Uno"])
    expect(main_rows.filter(has_text="Dos bis")).to_have_count(1)  # the whole list follows
    expect(rows.nth(1).get_by_role("button", name="Más acciones para «Dos bis»")).to_be_focused()

    # Archived from the folder: it leaves both lists; the row below takes the focus.
    page.keyboard.press("ArrowDown")
    page.get_by_role("menuitem", name="Archivar").click()
    expect(rows.locator(".conv-title")).to_have_text(["Tres", "Uno"])
    expect(toggle).to_contain_text("2")
    expect(main_rows.filter(has_text="Dos bis")).to_have_count(0)
    expect(rows.nth(1).locator(".conv-link")).to_be_focused()

    # Deleted from the folder (the menu by mouse): the same.
    row_action(rows.first, "Eliminar")
    page.get_by_role("dialog", name="Eliminar conversación").get_by_role(
        "button", name="Eliminar"
    ).click()
    expect(rows.locator(".conv-title")).to_have_text(["Uno"])
    expect(main_rows.filter(has_text="Tres")).to_have_count(0)
    expect(rows.first.locator(".conv-link")).to_be_focused()

    # The last one moved out: the folder says it is empty and its button takes the focus.
    _menu_by_keyboard(page, rows.first.locator(".conv-link"), "Mover a carpeta…")
    move = page.get_by_role("dialog", name="Mover a carpeta")
    expect(move.get_by_role("radio", name="Proyecto")).to_be_checked()
    move.get_by_role("radio", name="Sin carpeta").check()
    move.get_by_role("button", name="Mover").click()
    expect(page.locator(".toast").last).to_have_text("La conversación quedó sin carpeta.")
    expect(rows).to_have_count(0)
    expect(page.locator(".folder-empty")).to_contain_text("Sin conversaciones")
    expect(toggle).to_contain_text("0")
    expect(toggle).to_be_focused()
    expect(main_rows.filter(has_text="Uno").locator(".conv-folder")).to_have_count(0)
    _focus_is_not_body(page)


def test_the_chat_header_shows_the_folder_and_moves_the_conversation(
    page: Page, live_app: LiveApp
) -> None:
    user = live_app.create_user()
    conv = live_app.create_conversation(user["id"], "Bombas", [("user", "Hola")])
    live_app.create_folder(user["id"], "Taller", [conv])
    live_app.create_folder(user["id"], "Oficina", [])
    login(page, live_app.base_url, user["email"], user["password"])
    page.goto(f"{live_app.base_url}/#/chat/{conv}")
    chip = page.get_by_role("button", name="Carpeta: Taller")
    expect(chip).to_be_visible()

    # The chip opens its folder in the sidebar, the focus on the folder's button.
    chip.click()
    taller = page.locator(".folder-toggle", has_text="Taller")
    expect(taller).to_have_attribute("aria-expanded", "true")
    expect(taller).to_be_focused()
    taller_rows = page.locator(".folder", has=taller).locator(".folder-items .conv-item")
    expect(taller_rows.locator(".conv-title")).to_have_text(["Bombas"])

    # The header's menu, by keyboard: Mover a carpeta… to "Oficina".
    menu = page.get_by_role("button", name="Acciones de la conversación")
    menu.focus()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("menuitem")).to_have_text(["Mover a carpeta…", "Quitar de «Taller»"])
    page.keyboard.press("Enter")
    move = page.get_by_role("dialog", name="Mover a carpeta")
    expect(move).to_contain_text("¿Dónde guardar «Bombas»?")
    move.get_by_role("radio", name="Oficina").check()
    move.get_by_role("button", name="Mover").click()
    expect(page.get_by_role("button", name="Carpeta: Oficina")).to_be_visible()
    expect(menu).to_be_focused()
    expect(taller_rows).to_have_count(0)  # the open folder follows, and the whole list
    expect(taller).to_contain_text("0")
    main_row = page.locator(".conv-list .conv-item", has_text="Bombas")
    expect(main_row.locator(".conv-folder")).to_have_text(re.compile("Oficina$"))

    # Out of any folder from the header: the chip goes.
    menu.click()
    page.get_by_role("menuitem", name="Quitar de «Oficina»").click()
    expect(page.locator(".toast").last).to_have_text("La conversación quedó sin carpeta.")
    expect(page.locator("#head-folder")).to_be_hidden()
    expect(menu).to_be_focused()
    expect(main_row.locator(".conv-folder")).to_have_count(0)

    # Moved from a row of the list, or its folder renamed: the header follows.
    row_action(main_row, "Mover a carpeta…")
    move = page.get_by_role("dialog", name="Mover a carpeta")
    move.get_by_role("radio", name="Taller").check()
    move.get_by_role("button", name="Mover").click()
    expect(page.get_by_role("button", name="Carpeta: Taller")).to_be_visible()
    # Once the folders are read again (the toast comes after): a menu opened before is redrawn.
    expect(page.locator(".toast").last).to_have_text("Conversación movida a «Taller».")
    page.locator(".folder-row", has=taller).get_by_role(
        "button", name="Acciones de la carpeta «Taller»"
    ).click()
    page.get_by_role("menuitem", name="Renombrar").click()
    rename = page.get_by_role("dialog", name="Renombrar carpeta")
    rename.get_by_label("Nombre de la carpeta").fill("Taller 2")
    rename.get_by_role("button", name="Guardar").click()
    expect(page.get_by_role("button", name="Carpeta: Taller 2")).to_be_visible()


def test_a_temporary_chat_offers_no_folder(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user()
    live_app.create_folder(user["id"], "Taller", [])
    login(page, live_app.base_url, user["email"], user["password"])
    menu = page.get_by_role("button", name="Acciones de la conversación")
    expect(menu).to_be_hidden()  # a new conversation: nothing to file yet
    page.get_by_role("button", name="Chat temporal").click()
    page.fill("#composer-input", "Una pregunta de paso")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#/chat/[0-9a-f-]{36}$"))
    expect(page.locator("#temporary-save")).to_be_visible()
    expect(menu).to_be_hidden()
    expect(page.locator("#head-folder")).to_be_hidden()
    # Saved in the history, it can be filed.
    page.locator("#temporary-save").click()
    expect(menu).to_be_visible()


def test_a_folder_deleted_in_another_tab_while_its_menu_is_open(
    page: Page, live_app: LiveApp
) -> None:
    gone = _signed_in_with_two_folders(page, live_app)
    folders = page.locator("section.folders")
    folders.locator(".folder-row", has_text="Borrada").hover()
    folders.get_by_role("button", name="Acciones de la carpeta «Borrada»").click()
    page.evaluate(f"{API}(`/folders/{gone}`, {{ method: 'DELETE' }}))")
    page.get_by_role("menuitem", name="Renombrar").click()
    rename = page.get_by_role("dialog", name="Renombrar carpeta")
    rename.get_by_label("Nombre de la carpeta").fill("Otro nombre")
    rename.get_by_role("button", name="Guardar").click()
    expect(rename).to_have_count(0)  # nothing left to rename: the dialog closes
    expect(page.locator(".toast").last).to_contain_text("No existe esa carpeta")
    expect(folders.locator(".folder-name")).to_have_text(["Queda"])
    expect(folders.get_by_role("button", name=re.compile("^Queda"))).to_be_focused()


def test_a_conversations_menu_open_in_a_folder_deleted_in_another_tab(
    page: Page, live_app: LiveApp
) -> None:
    gone = _signed_in_with_two_folders(page, live_app)
    _, rows = _open_folder(page, "Borrada")
    rows.first.hover()
    rows.first.get_by_role("button", name=re.compile("^Más acciones")).click()
    page.evaluate(f"{API}(`/folders/{gone}`, {{ method: 'DELETE' }}))")
    page.get_by_role("menuitem", name="Mover a carpeta…").click()
    # The dialog lists the folders as they are now: the conversation is in none.
    move = page.get_by_role("dialog", name="Mover a carpeta")
    expect(move.get_by_role("radio")).to_have_count(2)
    expect(move.get_by_role("radio", name="Sin carpeta")).to_be_checked()
    move.get_by_role("radio", name="Queda").check()
    move.get_by_role("button", name="Mover").click()
    expect(page.locator(".toast").last).to_have_text("Conversación movida a «Queda».")
    queda = page.get_by_role("button", name=re.compile("^Queda"))
    expect(queda).to_contain_text("1")
    expect(queda).to_be_focused()  # where the folder was
    _focus_is_not_body(page)


def test_a_conversation_deleted_in_another_tab_leaves_its_folder_when_used(
    page: Page, live_app: LiveApp
) -> None:
    user = live_app.create_user()
    filed = [
        live_app.create_conversation(user["id"], title, [("user", "Hola")])
        for title in ("Queda", "Borrada")
    ]
    live_app.create_folder(user["id"], "Proyecto", filed)
    login(page, live_app.base_url, user["email"], user["password"])
    toggle, rows = _open_folder(page, "Proyecto")
    expect(rows.locator(".conv-title")).to_have_text(["Borrada", "Queda"])
    page.evaluate(f"{API}(`/conversations/{filed[1]}`, {{ method: 'DELETE' }}))")
    _menu_by_keyboard(page, rows.first.locator(".conv-link"), "Renombrar")
    page.keyboard.type("Nuevo")
    page.keyboard.press("Enter")
    expect(page.locator(".toast").last).to_have_text("No se encontró la conversación.")
    expect(rows.locator(".conv-title")).to_have_text(["Queda"])
    expect(toggle).to_contain_text("1")
    expect(page.locator(".conv-list .conv-item", has_text="Borrada")).to_have_count(0)
    expect(rows.first.locator(".conv-link")).to_be_focused()


def test_the_header_follows_a_move_made_in_another_tab(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user()
    conv = live_app.create_conversation(user["id"], "Bombas", [("user", "Hola")])
    live_app.create_folder(user["id"], "Taller", [conv])
    oficina = live_app.create_folder(user["id"], "Oficina", [])
    login(page, live_app.base_url, user["email"], user["password"])
    page.goto(f"{live_app.base_url}/#/chat/{conv}")
    expect(page.get_by_role("button", name="Carpeta: Taller")).to_be_visible()

    # Another tab moves it to "Oficina"; back in this one, the list and the header follow.
    body = f"{{ method: 'PATCH', body: {{ folder_id: '{oficina}' }} }}"
    page.evaluate(f"{API}(`/conversations/{conv}`, {body}))")
    page.evaluate("window.dispatchEvent(new Event('focus'))")
    main_row = page.locator(".conv-list .conv-item", has_text="Bombas")
    expect(main_row.locator(".conv-folder")).to_have_text(re.compile("Oficina$"))
    expect(page.get_by_role("button", name="Carpeta: Oficina")).to_be_visible()
    page.get_by_role("button", name="Acciones de la conversación").click()
    expect(page.get_by_role("menuitem")).to_have_text(["Mover a carpeta…", "Quitar de «Oficina»"])

    # Taken out of any folder there: the chip goes.
    page.keyboard.press("Escape")
    unfile = "{ method: 'PATCH', body: { folder_id: null } }"
    page.evaluate(f"{API}(`/conversations/{conv}`, {unfile}))")
    page.evaluate("window.dispatchEvent(new Event('focus'))")
    expect(main_row.locator(".conv-folder")).to_have_count(0)
    expect(page.locator("#head-folder")).to_be_hidden()


def test_on_a_phone_the_headers_chip_shows_the_folders_name(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user()
    title = "Un título muy largo para una conversación sobre bombas centrífugas"
    conv = live_app.create_conversation(user["id"], title, [("user", "Hola")])
    folder = "Proyectos de eficiencia energética del año"
    live_app.create_folder(user["id"], folder, [conv])
    page.set_viewport_size({"width": 375, "height": 667})
    login(page, live_app.base_url, user["email"], user["password"])
    page.goto(f"{live_app.base_url}/#/chat/{conv}")
    # "Carpeta:" is said, not shown: the little room left beside the title goes to the name.
    chip = page.get_by_role("button", name=f"Carpeta: {folder}")
    expect(chip).to_be_visible()
    name = chip.locator(".folder-chip-name").bounding_box()
    assert name and name["width"] >= 60
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
