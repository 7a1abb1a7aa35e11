"""A menu opened in the folders section survives the re-read that follows one's own action: the
folders' answer is held (page.route) while the person opens another row's menu, then let go;
the menu stays open on its row with the focus in it, and the section is drawn once it closes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from tests.ui.conftest import LiveApp, login, row_action

pytestmark = pytest.mark.browser

FOLDER_READS = re.compile(r"/folders$|/conversations\?folder_id=")


class HeldReads:
    """The folders' reads, each held in its handler (a blocking call there lets the page and
    the test go on) until :meth:`release`; those after it go through."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.held = 0
        self.holding = True

    def hold(self, route: Route) -> None:
        if self.holding:
            self.held += 1
            while self.holding:
                self.page.wait_for_timeout(20)
        route.continue_()

    def wait(self) -> None:
        """Until a read is held (the page asked)."""
        for _ in range(200):
            if self.held:
                return
            self.page.wait_for_timeout(25)
        raise AssertionError("no read of the folders was asked")

    def release(self) -> None:
        self.holding = False


def _signed_in_with_an_open_folder(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user()
    filed = [
        live_app.create_conversation(user["id"], title, [("user", "Hola")])
        for title in ("Uno", "Dos", "Tres")
    ]
    live_app.create_folder(user["id"], "Proyecto", filed)
    live_app.create_folder(user["id"], "Otra", [])
    login(page, live_app.base_url, user["email"], user["password"])
    page.locator(".folder-toggle", has_text="Proyecto").click()
    expect(page.locator(".folder-items .conv-title")).to_have_text(["Tres", "Dos", "Uno"])


def _folder_menu(page: Page, name: str) -> None:
    """Open the menu of the folder ``name`` by mouse (its button shows with the row focused)."""
    page.locator(".folder-toggle", has_text=name).focus()
    page.get_by_role("button", name=f"Acciones de la carpeta «{name}»").click()


def _a_menu_opened_during_a_held_reread(
    page: Page, live_app: LiveApp
) -> tuple[Locator, HeldReads, Locator]:
    """Uno pinned (its folder's re-read held), then Dos's menu opened by keyboard meanwhile."""
    _signed_in_with_an_open_folder(page, live_app)
    rows = page.locator(".folder-items .conv-item")
    held = HeldReads(page)
    page.route(FOLDER_READS, held.hold)
    row_action(rows.filter(has_text="Uno"), "Fijar")  # its folder is read again: held
    held.wait()
    rows.filter(has_text="Dos").locator(".conv-link").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    menu = page.get_by_role("menu", name="Más acciones para «Dos»")
    expect(menu).to_be_visible()
    return rows, held, menu


def test_a_folder_rows_menu_survives_the_reread_after_an_action(
    page: Page, live_app: LiveApp
) -> None:
    rows, held, menu = _a_menu_opened_during_a_held_reread(page, live_app)
    expect(menu.get_by_role("menuitem", name="Renombrar")).to_be_focused()

    with page.expect_response(FOLDER_READS):
        held.release()
    page.wait_for_timeout(300)  # the answers drawn (or not) by now
    expect(menu).to_be_visible()
    assert page.evaluate(
        "document.activeElement.closest('[role=menu]')?.isConnected === true"
        " && document.activeElement.closest('[role=menu]').hidden === false"
    )
    expect(menu.get_by_role("menuitem", name="Renombrar")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("menuitem", name="Fijar")).to_be_focused()

    # Closed, the section shows what was read (Uno pinned), the focus on Dos's menu button.
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    more = rows.filter(has_text="Dos").get_by_role("button", name="Más acciones para «Dos»")
    expect(more).to_be_focused()
    expect(rows.filter(has_text="Uno").locator(".conv-link svg.icon")).to_have_count(1)


def test_a_folder_menu_survives_the_reread_after_a_rename(page: Page, live_app: LiveApp) -> None:
    _signed_in_with_an_open_folder(page, live_app)
    held = HeldReads(page)
    _folder_menu(page, "Otra")
    page.get_by_role("menuitem", name="Renombrar").click()
    dialog = page.get_by_role("dialog", name="Renombrar carpeta")
    dialog.get_by_label("Nombre de la carpeta").fill("Otra bis")
    page.route(re.compile(r"/folders$"), held.hold)
    dialog.get_by_role("button", name="Guardar").click()
    expect(dialog).to_be_hidden()
    held.wait()

    # The other folder's menu, by mouse, while the re-read is held.
    _folder_menu(page, "Proyecto")
    menu = page.get_by_role("menu", name="Acciones de la carpeta «Proyecto»")
    expect(menu).to_be_visible()
    with page.expect_response(re.compile(r"/folders$")):
        held.release()
    page.wait_for_timeout(300)
    expect(menu).to_be_visible()
    expect(menu.get_by_role("menuitem", name="Renombrar")).to_be_focused()

    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(page.locator(".folder-name")).to_have_text(["Otra bis", "Proyecto"])
    expect(page.get_by_role("button", name="Acciones de la carpeta «Proyecto»")).to_be_focused()


def test_the_section_is_drawn_when_its_menu_closes_without_the_focus_leaving_it(
    page: Page, live_app: LiveApp
) -> None:
    """A press on the menu's margin takes the focus to <body> with the menu still open; a press
    in the chat then closes it with no focus change in the list: the held drawing comes anyway."""
    rows, held, menu = _a_menu_opened_during_a_held_reread(page, live_app)
    with page.expect_response(FOLDER_READS):
        held.release()
    page.wait_for_timeout(300)
    expect(rows.filter(has_text="Uno").locator(".conv-link svg.icon")).to_have_count(0)

    menu.click(position={"x": 2, "y": 2})  # its margin: the focus goes to <body>
    page.wait_for_timeout(100)
    expect(menu).to_be_visible()
    page.locator("#welcome").click()  # a press elsewhere closes it
    expect(menu).to_be_hidden()
    expect(rows.filter(has_text="Uno").locator(".conv-link svg.icon")).to_have_count(1)
