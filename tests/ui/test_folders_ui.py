"""Folders in the browser: "Nueva carpeta", "Mover a carpeta…" in a conversation's menu, the
folder opened as a disclosure with its conversations, renamed and deleted from its menu (the
conversations stay), by mouse and keyboard, with the focus never on <body>; usable at 375 px."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from energyapp.conversations.models import Message
from energyapp.db import create_engine, create_sessionmaker
from tests.ui.conftest import LiveApp, _arun, login, row_action, watch_expired_reads

pytestmark = pytest.mark.browser


def _focus_is_not_body(page: Page) -> None:
    assert page.evaluate("document.activeElement && document.activeElement !== document.body")


def test_create_move_open_rename_and_delete_a_folder(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user()
    live_app.create_conversation(user["id"], "Tarifa de invierno", [("user", "¿Tarifa?")])
    live_app.create_conversation(user["id"], "Suelta", [("user", "Hola")])
    login(page, live_app.base_url, user["email"], user["password"])
    folders = page.locator("section.folders")
    expect(folders.get_by_role("heading", name="Carpetas")).to_be_visible()
    expect(folders.locator(".folder-status")).to_have_text("Aún no tiene carpetas.")

    page.get_by_role("button", name="Nueva carpeta").click()
    dialog = page.get_by_role("dialog", name="Nueva carpeta")
    dialog.get_by_label("Nombre de la carpeta").fill("  Mantención\n2026 ")
    dialog.get_by_role("button", name="Crear carpeta").click()
    toggle = folders.get_by_role("button", name=re.compile("^Mantención 2026"))
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()
    # A second folder with the same name, ignoring case and accents: the server's words.
    page.get_by_role("button", name="Nueva carpeta").click()
    dialog = page.get_by_role("dialog", name="Nueva carpeta")
    dialog.get_by_label("Nombre de la carpeta").fill("MANTENCION 2026")
    dialog.get_by_role("button", name="Crear carpeta").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Ya tiene una carpeta llamada")
    expect(dialog.get_by_label("Nombre de la carpeta")).to_be_focused()
    dialog.get_by_role("button", name="Cancelar").click()
    _focus_is_not_body(page)

    row = page.locator(".conv-list .conv-item", has_text="Tarifa de invierno")
    row_action(row, "Mover a carpeta…")
    move = page.get_by_role("dialog", name="Mover a carpeta")
    expect(move.get_by_role("radio", name="Sin carpeta")).to_be_checked()
    move.get_by_role("radio", name="Mantención 2026").check()
    move.get_by_role("button", name="Mover").click()
    expect(page.locator(".toast").last).to_have_text("Conversación movida a «Mantención 2026».")
    # The whole list keeps it, with its folder shown; the focus is back on its menu button.
    expect(row.locator(".conv-folder")).to_have_text(re.compile("Mantención 2026$"))
    expect(row.get_by_role("button", name=re.compile("^Más acciones"))).to_be_focused()
    expect(toggle).to_contain_text("1")

    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    items = folders.locator(".folder-items")
    expect(items.get_by_role("link", name="Tarifa de invierno")).to_be_visible()
    expect(items.get_by_role("link", name="Suelta")).to_have_count(0)
    items.get_by_role("link", name="Tarifa de invierno").click()
    expect(page.locator("h1.title")).to_have_text("Tarifa de invierno")

    # Rename by keyboard from the folder's menu.
    # The menu button shows once its row has the focus: Tab from the folder's button.
    toggle.focus()
    page.keyboard.press("Tab")
    more = folders.get_by_role("button", name="Acciones de la carpeta «Mantención 2026»")
    expect(more).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("menuitem", name="Renombrar")).to_be_focused()
    page.keyboard.press("Enter")
    rename = page.get_by_role("dialog", name="Renombrar carpeta")
    rename.get_by_label("Nombre de la carpeta").fill("Taller")
    page.keyboard.press("Enter")
    renamed = folders.get_by_role("button", name="Acciones de la carpeta «Taller»")
    expect(renamed).to_be_focused()
    expect(row.locator(".conv-folder")).to_have_text(re.compile("Taller$"))

    # Delete: the dialog says the conversations stay; they do, with no folder.
    page.keyboard.press("Enter")
    page.get_by_role("menuitem", name="Eliminar").click()
    confirm = page.get_by_role("dialog", name="Eliminar carpeta")
    expect(confirm).to_contain_text("no se eliminan: quedan sin carpeta")
    confirm.get_by_role("button", name="Eliminar carpeta").click()
    expect(folders.locator(".folder")).to_have_count(0)
    expect(page.get_by_role("button", name="Nueva carpeta")).to_be_focused()
    expect(row).to_be_visible()
    expect(row.locator(".conv-folder")).to_have_count(0)


def test_folders_fit_a_phone(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user()
    live_app.create_conversation(user["id"], "En el teléfono", [("user", "Hola")])
    page.set_viewport_size({"width": 375, "height": 740})
    login(page, live_app.base_url, user["email"], user["password"])
    page.get_by_role("button", name="Abrir historial").click()
    page.get_by_role("button", name="Nueva carpeta").click()
    dialog = page.get_by_role("dialog", name="Nueva carpeta")
    dialog.get_by_label("Nombre de la carpeta").fill("Una carpeta de nombre bastante largo, " * 1)
    dialog.get_by_role("button", name="Crear carpeta").click()
    toggle = page.locator(".folder-toggle")
    expect(toggle).to_be_visible()
    box = toggle.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 375
    row = page.locator(".conv-list .conv-item", has_text="En el teléfono")
    row_action(row, "Mover a carpeta…")
    move = page.get_by_role("dialog", name="Mover a carpeta")
    move.get_by_role("radio", name=re.compile("^Una carpeta")).check()
    move.get_by_role("button", name="Mover").click()
    expect(row.locator(".conv-folder")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375


def test_an_open_folder_read_again_keeps_what_ver_mas_showed(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user()
    filed = [
        live_app.create_conversation(user["id"], f"Informe {n:02d}", [("user", "Hola")])
        for n in range(34)
    ]
    live_app.create_folder(user["id"], "Informes", filed)
    login(page, live_app.base_url, user["email"], user["password"])
    folders = page.locator("section.folders")
    folders.get_by_role("button", name=re.compile("^Informes")).click()
    links = folders.locator(".folder-items .conv-link")
    expect(links).to_have_count(30)
    folders.get_by_role("button", name="Ver más").click()
    expect(links).to_have_count(34)
    focused = links.nth(32)
    expect(focused).to_have_text("Informe 01")
    focused.focus()
    # Another tab renames a conversation of the folder; the list's quiet read (here on the
    # tab's focus) reads the open folder again and draws its rows anew.
    page.evaluate(
        "([id]) => import('/static/js/api.js').then((m) => m.api(`/conversations/${id}`,"
        " { method: 'PATCH', body: { title: 'Renombrado' } }))",
        [filed[-1]],
    )
    with page.expect_response(re.compile(r"/conversations\?folder_id=")):
        page.evaluate("window.dispatchEvent(new Event('focus'))")
    expect(links.first).to_have_text("Renombrado")
    expect(links).to_have_count(34)
    expect(folders.get_by_role("button", name="Ver más")).to_have_count(0)
    expect(folders.get_by_role("link", name="Informe 01")).to_be_focused()


def test_an_open_folder_follows_a_conversation_archived_or_deleted_in_the_list(
    page: Page, live_app: LiveApp
) -> None:
    user = live_app.create_user()
    filed = [
        live_app.create_conversation(user["id"], title, [("user", "Hola")])
        for title in ("Para archivar", "Para eliminar", "Se queda")
    ]
    live_app.create_folder(user["id"], "Proyecto", filed)
    login(page, live_app.base_url, user["email"], user["password"])
    folders = page.locator("section.folders")
    toggle = folders.get_by_role("button", name=re.compile("^Proyecto"))
    toggle.click()
    links = folders.locator(".folder-items .conv-link")
    expect(links).to_have_count(3)
    expect(toggle).to_contain_text("3")

    row_action(page.locator(".conv-list .conv-item", has_text="Para eliminar"), "Eliminar")
    page.get_by_role("dialog", name="Eliminar conversación").get_by_role(
        "button", name="Eliminar"
    ).click()
    expect(links).to_have_text(["Se queda", "Para archivar"])  # no link to what is gone
    expect(toggle).to_contain_text("2")
    row_action(page.locator(".conv-list .conv-item", has_text="Para archivar"), "Archivar")
    expect(links).to_have_text(["Se queda"])
    expect(toggle).to_contain_text("1")


def test_an_open_folders_quiet_reads_never_refresh_the_session(
    page: Page, live_app: LiveApp
) -> None:
    """The folders are read again after each of the list's quiet reads: with the access token
    expired they stop as the list does (no /auth/refresh) and ask again with the next token."""
    user = live_app.create_user()
    first = live_app.create_conversation(user["id"], "Primera", [("user", "Hola")])
    live_app.create_folder(user["id"], "Abierta", [first])
    login(page, live_app.base_url, user["email"], user["password"])
    folders = page.locator("section.folders")
    folders.get_by_role("button", name=re.compile("^Abierta")).click()
    links = folders.locator(".folder-items .conv-link")
    expect(links).to_have_text(["Primera"])
    watched = watch_expired_reads(page)
    for pattern in (re.compile(r"/conversations\?folder_id="), re.compile(r"/folders$")):
        page.route(pattern, watched.answer)
        page.evaluate("window.dispatchEvent(new Event('focus'))")
        page.wait_for_timeout(500)  # what would have followed the 401: a refresh, a retry
        page.unroute(pattern, watched.answer)
    reads, refreshes = watched.reads, watched.refreshes
    assert len(reads) == 2 and refreshes == []
    assert "folder_id=" in reads[0] and reads[1].endswith("/folders")
    expect(links).to_have_text(["Primera"])  # what was shown stays

    second = live_app.create_conversation(user["id"], "Segunda", [("user", "Hola")])
    live_app.create_folder(user["id"], "Otra", [second])
    page.evaluate("import('/static/js/api.js').then((api) => api.refresh())")
    expect(folders.get_by_role("button", name=re.compile("^Otra"))).to_be_visible()
    assert len(refreshes) == 1


def test_a_folder_deleted_in_another_tab_leaves_the_list_when_opened(
    page: Page, live_app: LiveApp
) -> None:
    user = live_app.create_user()
    inside = live_app.create_conversation(user["id"], "Dentro", [("user", "Hola")])
    live_app.create_folder(user["id"], "Borrada", [inside])
    live_app.create_folder(user["id"], "Queda", [])
    login(page, live_app.base_url, user["email"], user["password"])
    folders = page.locator("section.folders")
    gone = folders.get_by_role("button", name=re.compile("^Borrada"))
    expect(gone).to_be_visible()
    # Another tab deletes it (the same API, not this tab's section).
    page.evaluate(
        "() => import('/static/js/api.js').then(async (m) => {"
        " const [f] = (await m.api('/folders')).filter((x) => x.name === 'Borrada');"
        " await m.api(`/folders/${f.id}`, { method: 'DELETE' }); })"
    )
    gone.click()
    expect(page.locator(".toast").last).to_contain_text("No existe esa carpeta")
    expect(gone).to_have_count(0)
    expect(folders.get_by_role("button", name=re.compile("^Queda"))).to_be_focused()


def test_while_an_answer_runs_the_folders_are_not_read_every_5_s(
    page: Page, live_app: LiveApp
) -> None:
    """The list asks every 5 s while an answer runs; the folders (and each open folder's page)
    follow only when the list changed, or every 30 s."""
    user = live_app.create_user()
    running = live_app.create_conversation(
        user["id"], "En curso", [("user", "Hola"), ("assistant", "Escribiendo")]
    )
    live_app.create_folder(user["id"], "Abierta", [running])

    async def _streaming() -> None:
        engine = create_engine(live_app.db_url)
        try:
            async with create_sessionmaker(engine)() as session:
                await session.execute(
                    update(Message)
                    .where(
                        Message.conversation_id == uuid.UUID(running), Message.role == "assistant"
                    )
                    .values(status="streaming")
                )
                await session.commit()
        finally:
            await engine.dispose()

    _arun(_streaming())
    login(page, live_app.base_url, user["email"], user["password"])
    folders = page.locator("section.folders")
    folders.get_by_role("button", name=re.compile("^Abierta")).click()
    # The folder's row is the list's: the running dot too.
    expect(folders.locator(".folder-items .conv-title")).to_have_text(["En curso"])
    expect(folders.locator(".folder-items .conv-item.running")).to_have_count(1)
    expect(page.locator(".conv-list .conv-item.running")).to_have_count(1)
    lists: list[str] = []
    folder_reads: list[str] = []
    page.on(
        "request",
        lambda r: (
            (folder_reads if re.search(r"/folders$|folder_id=", r.url) else lists).append(r.url)
            if re.search(r"/folders$|/conversations\?", r.url)
            else None
        ),
    )
    page.wait_for_timeout(11_000)
    assert len(lists) >= 2  # the list's 5-s refreshes
    assert folder_reads == []  # nothing changed: the folders wait for their 30 s
