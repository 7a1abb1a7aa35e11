""" "Avisos generales" in the browser: the band under the header shows the active announcements
as text, "Cerrar aviso" closes one for good (after a reload, on another device), an admin
publishes one in the "Avisos generales" tab and a worker sees it; supervisors see no tab."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import text

from energyapp.db import create_engine
from tests.ui.conftest import LiveApp, _arun, login

pytestmark = pytest.mark.browser


def _api(app: LiveApp, person: dict[str, str]) -> httpx.Client:
    http = httpx.Client(base_url=app.base_url)
    tokens = http.post(
        "/auth/login", json={"email": person["email"], "password": person["password"]}
    ).json()
    http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
    return http


def _announce(app: LiveApp, admin: dict[str, str], body: str, **fields: Any) -> str:
    http = _api(app, admin)
    try:
        made = http.post("/admin/announcements", json={"body": body, **fields})
    finally:
        http.close()
    assert made.status_code == 201, made.text
    announcement_id: str = made.json()["id"]
    return announcement_id


@pytest.fixture(autouse=True)
def _no_announcements_left(live_app: LiveApp) -> Iterator[None]:
    """The app's database is shared by every browser test: no other test (the README's
    screenshots among them) may find a band these left."""

    async def _delete() -> None:
        engine = create_engine(live_app.db_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("DELETE FROM announcements"))
        finally:
            await engine.dispose()

    _arun(_delete())
    yield
    _arun(_delete())


def test_band_shows_text_inert_and_closing_holds(
    page: Page, browser: Browser, live_app: LiveApp
) -> None:
    admin = live_app.create_user("admin")
    worker = live_app.create_user()
    hostile = '<img src=x onerror="window.__pwned=1"> Reinicio a las 18:00'
    _announce(live_app, admin, hostile, level="warning")
    _announce(live_app, admin, "Nuevo modelo disponible")
    _announce(live_app, admin, "Solo supervisores", audience="supervisor")
    login(page, live_app.base_url, worker["email"], worker["password"])
    band = page.locator("#announcements .announcement")
    expect(band).to_have_count(2)
    expect(band.nth(0)).to_have_attribute("role", "alert")  # a warning, first
    expect(band.nth(0).locator(".announcement-text")).to_have_text(hostile)
    expect(band.nth(1)).to_have_attribute("role", "status")
    expect(band.nth(1)).to_have_text("Nuevo modelo disponible")
    assert page.locator("#announcements img").count() == 0
    assert page.evaluate("window.__pwned") is None
    # Under the header, above the screen.
    header_box, band_box = page.locator(".topbar").bounding_box(), band.nth(0).bounding_box()
    main_box = page.locator("#main").bounding_box()
    assert header_box and band_box and main_box
    assert header_box["y"] + header_box["height"] <= band_box["y"] < main_box["y"]

    band.nth(0).get_by_role("button", name="Cerrar aviso").click()
    expect(band).to_have_count(1)
    page.reload()
    expect(page.locator("#announcements .announcement")).to_have_text(["Nuevo modelo disponible"])
    # Another device of the same person: closed there too.
    other = browser.new_context(viewport={"width": 375, "height": 700}, locale="es-CL",
                                color_scheme="dark")  # fmt: skip
    try:
        phone = other.new_page()
        login(phone, live_app.base_url, worker["email"], worker["password"])
        phone_band = phone.locator("#announcements .announcement")
        expect(phone_band).to_have_text(["Nuevo modelo disponible"])
        fits = "document.documentElement.scrollWidth <= window.innerWidth"
        assert phone.evaluate(fits)
    finally:
        other.close()


def test_band_follows_new_announcements_when_the_tab_is_seen_again(
    page: Page, live_app: LiveApp
) -> None:
    admin = live_app.create_user("admin")
    worker = live_app.create_user()
    login(page, live_app.base_url, worker["email"], worker["password"])
    expect(page.locator("#announcements .announcement")).to_have_count(0)
    _announce(live_app, admin, "El servicio se reinicia a las 18:00", level="warning")
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', "
        "{value: 'visible', configurable: true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    expect(page.locator("#announcements .announcement")).to_have_text(
        ["El servicio se reinicia a las 18:00"]
    )
    page.locator(".profile-btn").click()
    page.locator("[data-action=logout]").click()
    page.wait_for_selector("#login-email")
    expect(page.locator("#announcements")).to_have_count(0)


def test_admin_publishes_edits_and_ends_in_the_tab(
    page: Page, browser: Browser, live_app: LiveApp
) -> None:
    admin = live_app.create_user("admin")
    worker = live_app.create_user()
    supervisor = live_app.create_user("supervisor")
    login(page, live_app.base_url, admin["email"], admin["password"])
    page.goto(f"{live_app.base_url}/#/admin/avisos")
    form = page.locator("#announcement-form")
    expect(form).to_be_visible()
    # Not "Avisos": Configuración's card of that name is the desktop notifications.
    expect(page.locator(".admin-tabs a[aria-current=page]")).to_have_text("Avisos generales")
    page.fill("#announcement-body", "  Mantención el sábado  ")
    expect(page.locator("#announcement-body-count")).to_have_text("20 / 500")
    page.fill("#announcement-body", "x" * 501)
    expect(page.locator("#announcement-save")).to_be_disabled()
    page.fill("#announcement-body", "Mantención el sábado")
    page.select_option("#announcement-level", "warning")
    page.fill("#announcement-ends", "31-12-2099 18:00")
    page.click("#announcement-save")
    row = page.locator("#announcements-table tbody tr[data-announcement-id]")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(0)).to_have_text("Mantención el sábado")
    expect(row.locator("td").nth(1)).to_have_text("Importante")
    expect(row.locator("td").nth(2)).to_have_text("Todos")
    expect(row.locator("td").nth(3)).to_have_text("Activo")
    expect(row.locator("td").nth(5)).to_have_text("31-12-2099 18:00")
    # The admin sees it in the band too.
    expect(page.locator("#announcements .announcement")).to_have_text(["Mantención el sábado"])

    worker_context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="es-CL")
    try:
        worker_page = worker_context.new_page()
        login(worker_page, live_app.base_url, worker["email"], worker["password"])
        expect(worker_page.locator("#announcements .announcement")).to_have_text(
            ["Mantención el sábado"]
        )
        # A bad date is refused in Spanish, before the server.
        row.locator("[data-action=edit]").click()
        page.fill("#announcement-ends", "31-02-2099 18:00")
        page.click("#announcement-save")
        expect(page.locator("#announcement-msg")).to_contain_text("dd-mm-aaaa HH:MM")
        page.fill("#announcement-ends", "")
        page.fill("#announcement-body", "Mantención el domingo")
        page.click("#announcement-save")
        expect(row.locator("td").nth(0)).to_have_text("Mantención el domingo")
        expect(row.locator("td").nth(5)).to_have_text("Sin término")
        row.locator("[data-action=end]").click()
        expect(row.locator("td").nth(3)).to_have_text("Terminado")
        worker_page.reload()
        worker_page.wait_for_selector("#main .chat")
        expect(worker_page.locator("#announcements .announcement")).to_have_count(0)
        row.locator("[data-action=delete]").click()
        page.locator("dialog button:text('Eliminar')").click()
        expect(page.locator("#announcements-table tbody")).to_contain_text("No hay avisos.")
    finally:
        worker_context.close()

    # Supervisors: no tab, and the address shows the users table.
    page.locator(".profile-btn").click()
    page.locator("[data-action=logout]").click()
    login(page, live_app.base_url, supervisor["email"], supervisor["password"])
    page.goto(f"{live_app.base_url}/#/admin/avisos")
    expect(page.locator("#users-table")).to_be_visible()
    expect(page.locator(".admin-tabs a:text('Avisos generales')")).to_have_count(0)
    expect(page.locator("#announcement-form")).to_have_count(0)


_SEEN_AGAIN = (
    "Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});"
    "document.dispatchEvent(new Event('visibilitychange'))"
)


def test_band_reads_never_refresh_the_session(page: Page, live_app: LiveApp) -> None:
    """The band reads on a timer, not because the person did something: when the access token
    has expired it stops quietly (no refresh, which would keep an idle session alive forever,
    and no "session ended"), and reads again once the tab has a new token."""
    admin = live_app.create_user("admin")
    worker = live_app.create_user()
    _announce(live_app, admin, "Nuevo modelo disponible")
    login(page, live_app.base_url, worker["email"], worker["password"])
    band = page.locator("#announcements .announcement")
    expect(band).to_have_text(["Nuevo modelo disponible"])
    refreshes: list[str] = []
    reads: list[str] = []
    page.on("request", lambda r: refreshes.append(r.url) if "/auth/refresh" in r.url else None)

    def expired(route: Any) -> None:
        reads.append(route.request.url)
        route.fulfill(status=401, json={"detail": "Token expirado.", "code": "token_expired"})

    page.route("**/announcements", expired)
    with page.expect_response("**/announcements"):
        page.evaluate(_SEEN_AGAIN)
    page.wait_for_timeout(300)  # what would have followed the 401: a refresh, a retry
    assert len(reads) == 1
    page.evaluate(_SEEN_AGAIN)  # stopped: no more reads until a new token
    page.wait_for_timeout(300)
    assert len(reads) == 1 and refreshes == []
    expect(band).to_have_text(["Nuevo modelo disponible"])  # what was shown stays
    expect(page.locator("#main .chat")).to_be_visible()  # still signed in, nothing said
    assert page.evaluate("Boolean(localStorage.getItem('energyapp.refresh'))")

    # The person's next request refreshes the session: the band reads again.
    page.unroute("**/announcements", expired)
    _announce(live_app, admin, "Mantención el sábado", level="warning")
    page.evaluate("import('/static/js/api.js').then((api) => api.refresh())")
    expect(band).to_have_text(["Mantención el sábado", "Nuevo modelo disponible"])
    assert len(refreshes) == 1


def test_clearing_the_start_when_editing_means_now(page: Page, live_app: LiveApp) -> None:
    """The form says "vacío: ahora" for the start: editing, as creating."""
    admin = live_app.create_user("admin")
    login(page, live_app.base_url, admin["email"], admin["password"])
    page.goto(f"{live_app.base_url}/#/admin/avisos")
    page.fill("#announcement-body", "Mantención el sábado")
    page.fill("#announcement-starts", "31-12-2099 10:00")
    page.click("#announcement-save")
    row = page.locator("#announcements-table tbody tr[data-announcement-id]")
    expect(row.locator("td").nth(3)).to_have_text("Programado")
    expect(page.locator("#announcements .announcement")).to_have_count(0)
    row.locator("[data-action=edit]").click()
    expect(page.locator("#announcement-starts")).to_have_value("31-12-2099 10:00")
    page.fill("#announcement-starts", "")
    page.click("#announcement-save")
    expect(row.locator("td").nth(3)).to_have_text("Activo")
    expect(row.locator("td").nth(4)).not_to_contain_text("2099")
    expect(page.locator("#announcements .announcement")).to_have_text(["Mantención el sábado"])


def _worker_sees_two(page: Page, live_app: LiveApp) -> tuple[dict[str, str], Locator]:
    """A warning and an info shown to a worker signed in on ``page``: the admin, the band."""
    admin = live_app.create_user("admin")
    worker = live_app.create_user()
    _announce(live_app, admin, "Reinicio a las 18:00", level="warning")
    _announce(live_app, admin, "Nuevo modelo disponible")
    login(page, live_app.base_url, worker["email"], worker["password"])
    band = page.locator("#announcements .announcement")
    expect(band).to_have_count(2)
    return admin, band


def test_a_read_inserts_only_what_is_new(page: Page, live_app: LiveApp) -> None:
    """An item inserted into the page again is announced again by a screen reader: a warning
    (role="alert") must be read out when it appears, not at every read of the band."""
    admin, band = _worker_sees_two(page, live_app)
    page.evaluate(
        "window.__inserted = [];"
        "new MutationObserver((changes) => { for (const c of changes) for (const n of"
        " c.addedNodes) window.__inserted.push(n.textContent); })"
        ".observe(document.getElementById('announcements'), {childList: true, subtree: true})"
    )
    page.evaluate(_SEEN_AGAIN)
    _announce(live_app, admin, "Mantención el sábado")
    page.evaluate(_SEEN_AGAIN)
    expect(band).to_have_text(
        ["Reinicio a las 18:00", "Mantención el sábado", "Nuevo modelo disponible"]
    )
    assert page.evaluate("window.__inserted") == ["Mantención el sábado"]


def test_closing_by_keyboard_keeps_the_focus(page: Page, live_app: LiveApp) -> None:
    """ "Cerrar aviso" by keyboard: the focus goes to the next item's button, then to the
    screen (#main), never to <body>, even while the closing is on its way."""
    _admin, band = _worker_sees_two(page, live_app)
    focused = (
        "document.activeElement.closest('[data-announcement-id]')?.textContent"
        " ?? document.activeElement.id"
    )
    band.nth(0).get_by_role("button", name="Cerrar aviso").focus()
    page.keyboard.press("Enter")
    expect(band).to_have_count(1)
    assert page.evaluate(focused) == "Nuevo modelo disponible"
    page.keyboard.press("Enter")
    expect(band).to_have_count(0)
    assert page.evaluate(focused) == "main"


def test_an_info_become_a_warning_is_read_out_as_one(page: Page, live_app: LiveApp) -> None:
    """An admin raises an info to a warning: the item comes back as an alert (a role changed
    in place is not read out), once."""
    admin, band = _worker_sees_two(page, live_app)
    info = band.filter(has_text="Nuevo modelo disponible")
    expect(info).to_have_attribute("role", "status")
    announcement_id = info.get_attribute("data-announcement-id")
    http = _api(live_app, admin)
    try:
        raised = http.patch(f"/admin/announcements/{announcement_id}", json={"level": "warning"})
    finally:
        http.close()
    assert raised.status_code == 200, raised.text
    page.evaluate(
        "window.__inserted = [];"
        "new MutationObserver((changes) => { for (const c of changes) for (const n of"
        " c.addedNodes) window.__inserted.push(n.getAttribute('role') + ' ' + n.textContent); })"
        ".observe(document.getElementById('announcements'), {childList: true})"
    )
    page.evaluate(_SEEN_AGAIN)
    expect(info).to_have_attribute("role", "alert")
    expect(info).to_have_class(re.compile(r"\bannouncement-warning\b"))
    # A later read leaves it in place: read out once.
    with page.expect_response(lambda r: r.url.endswith("/announcements")):
        page.evaluate(_SEEN_AGAIN)
    page.wait_for_timeout(300)
    expect(band).to_have_count(2)
    assert page.evaluate("window.__inserted") == ["alert Nuevo modelo disponible"]
