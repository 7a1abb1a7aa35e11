"""No horizontal overflow at 375 px, nor on an admin screen at 320 px; keyboard focus is visible."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.ui.conftest import LiveApp, Watch, admin_screens, login, quick_login

pytestmark = pytest.mark.browser

NO_OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"
# Neither the document nor the screen's own scroller (.page, whose overflow-y makes it scroll
# sideways too) may be wider than the window.
NO_SIDEWAYS = """() => document.documentElement.scrollWidth <= window.innerWidth
    && [...document.querySelectorAll('#main .page')].every((p) => p.scrollWidth <= p.clientWidth)"""
# What sticks out past the window's right edge (or the screen's scroller's), outside a scroller
# of its own (a table's .table-wrap), boxes and text alike: named in the failure's message.
WIDE = """() => {
    const page = document.querySelector('#main .page');
    const pageEdge = page ? page.getBoundingClientRect().left + page.clientWidth : Infinity;
    const edge = Math.min(window.innerWidth, pageEdge);
    // Inside a scroller of its own, or clipped: from 'box' up to the screen's scroller.
    const clipped = (box) => {
        for (let p = box; p && !p.matches('body, .page'); p = p.parentElement) {
            if (getComputedStyle(p).overflowX !== 'visible') return true;
        }
        return false;
    };
    const name = (el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}`
        + [...el.classList].map((c) => '.' + c).join('');
    const wide = [];
    const walker = document.createTreeWalker(
        document.getElementById('app'), NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const text = node.nodeType === Node.TEXT_NODE;
        const range = document.createRange();
        range.selectNodeContents(node);
        const right = (text ? range : node).getBoundingClientRect().right;
        if (right > edge + 0.5 && node.parentElement && !clipped(node.parentElement)) {
            const where = name(text ? node.parentElement : node);
            wide.push(text ? `text «${node.textContent.slice(0, 40)}» in ${where}` : where);
        }
    }
    return wide.slice(0, 8);
}"""


def test_phone_width_has_no_horizontal_overflow(
    browser: Browser, live_app: LiveApp, watch: Watch
) -> None:
    user = live_app.create_user(role="supervisor", full_name="Supervisora Con Un Nombre Largo")
    conv = live_app.create_conversation(
        user["id"],
        "Una conversación con un título bastante largo para un teléfono",
        [("user", "x" * 300), ("assistant", "```\n" + "y" * 300 + "\n```\n\n" + "palabra " * 80)],
    )
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="es-CL")
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
        page.goto(f"{live_app.base_url}/")
        expect(page.locator("#login-email")).to_be_visible()
        assert page.evaluate(NO_OVERFLOW)
        login(page, live_app.base_url, user["email"], user["password"])
        for route in (f"#/chat/{conv}", "#/config", "#/admin/usuarios", "#/admin/uso"):
            page.goto(f"{live_app.base_url}/static/index.html{route}")
            page.wait_for_selector("#main .chat, #main .page")
            page.wait_for_timeout(300)
            assert page.evaluate(NO_OVERFLOW), f"horizontal overflow at 375 px on {route}"
        # The sidebar is a drawer on a phone: hidden until the menu button opens it.
        page.goto(f"{live_app.base_url}/static/index.html#/chat/{conv}")
        expect(page.locator("#sidebar")).not_to_be_in_viewport()
        page.click("button[aria-label='Abrir historial']")
        expect(page.locator("#sidebar")).to_be_in_viewport()
        page.keyboard.press("Escape")
        expect(page.locator("#sidebar")).not_to_be_in_viewport()
    finally:
        context.close()
    watch.assert_clean()


def test_keyboard_focus_is_visible(page: Page, live_app: LiveApp) -> None:
    page.goto(f"{live_app.base_url}/")
    expect(page.locator("#login-email")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#login-password")).to_be_focused()
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_no_admin_screen_scrolls_sideways_at_320_px(
    browser: Browser, live_app: LiveApp, watch: Watch
) -> None:
    admin = live_app.create_user(role="admin", full_name="Administradora Con Nombre Largo")
    worker = live_app.create_user(
        full_name="Trabajadora Con Un Nombre Bastante Largo",
        email="trabajadora.con.un.correo.muy.largo@alvaradomazzei.cl",
    )
    conv = live_app.create_conversation(
        worker["id"],
        "Una conversación con un título bastante largo para un teléfono",
        [("user", "x" * 300), ("assistant", "```\n" + "y" * 300 + "\n```\n\n" + "palabra " * 80)],
    )
    live_app.create_api_key(worker, "Planilla de turnos del mes de noviembre")
    context = browser.new_context(viewport={"width": 320, "height": 640}, locale="es-CL")
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
        login(page, live_app.base_url, admin["email"], admin["password"])
        for route, ready in admin_screens(worker["id"], conv).items():
            page.goto(f"{live_app.base_url}/static/index.html#/admin/{route}")
            expect(page.locator(ready).first).to_be_visible()
            page.wait_for_timeout(300)
            assert page.evaluate(NO_SIDEWAYS), f"{route} scrolls sideways: {page.evaluate(WIDE)}"
    finally:
        context.close()
    watch.assert_clean()


@pytest.mark.parametrize("touch", [False, True], ids=["mouse", "touch"])
def test_configuracion_reads_the_same_everywhere_and_the_top_bar_fits_320_px(
    browser: Browser, live_app: LiveApp, watch: Watch, touch: bool
) -> None:
    # A touch screen makes every control of the top bar at least 44 px (pointer: coarse). Not
    # is_mobile: a mobile viewport would zoom out to fit a page too wide instead of scrolling.
    context = browser.new_context(
        viewport={"width": 320, "height": 640}, locale="es-CL", has_touch=touch
    )
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
        quick_login(page, live_app.base_url, "admin")
        tabs = page.get_by_role("navigation", name="Secciones").get_by_role("link")
        expect(tabs).to_have_text(["Chat", "Configuración", "Admin"])
        tabs.nth(1).click()
        expect(page.get_by_role("heading", name="Configuración", level=1)).to_be_focused()
        expect(tabs.nth(1)).to_have_attribute("aria-current", "page")
        profile = page.get_by_role("button", name=re.compile("menú de perfil"))
        for control in [*tabs.all(), profile]:
            expect(control).to_be_in_viewport(ratio=1)
        assert page.evaluate(NO_OVERFLOW), f"the top bar is too wide: {page.evaluate(WIDE)}"
        profile.click()
        expect(page.get_by_role("menuitem", name="Configuración")).to_be_visible()
    finally:
        context.close()
    watch.assert_clean()


# The window's bottom edge against the chat's: the screen (#main), the sidebar and the composer
# reach it whatever the conversation's length.
FILLS = """() => {
    const bottom = (sel) => document.querySelector(sel).getBoundingClientRect().bottom;
    return { window: window.innerHeight, main: bottom('#main'), sidebar: bottom('#sidebar'),
             composer: bottom('.composer') };
}"""


def test_the_chat_fills_the_window_below_a_short_conversation(
    page: Page, live_app: LiveApp
) -> None:
    # With no announcement the band under the header is hidden (display: none) and drops out of
    # the shell's grid: the screen then took the band's row, as tall as its content, and left
    # the window's lower part blank, the composer floating under a short conversation.
    user = live_app.create_user()
    conv = live_app.create_conversation(
        user["id"], "Corta", [("user", "Hola"), ("assistant", "Hola.")]
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, live_app.base_url, user["email"], user["password"])
    page.goto(f"{live_app.base_url}/static/index.html#/chat/{conv}")
    expect(page.locator(".msg").first).to_be_visible()
    sizes = page.evaluate(FILLS)
    assert sizes["main"] == sizes["window"], sizes
    assert sizes["sidebar"] == sizes["window"], sizes
    assert sizes["window"] - sizes["composer"] < 80, sizes  # the composer sits at the bottom
