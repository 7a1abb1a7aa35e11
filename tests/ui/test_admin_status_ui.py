"""The admin tab "Estado": the stand-in labelled as such, a running and a waiting answer with
their people, read again on its own every 10 s (an empty queue says so), "Detener" on a row
(confirmed; the person is told), admins only."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.ui.conftest import LiveApp, login

pytestmark = pytest.mark.browser


def _signed_in(browser: Browser, app: LiveApp, full_name: str) -> Page:
    """A person of ``app``, signed in in a browser of their own."""
    person = app.create_user(full_name=full_name)
    page = browser.new_context().new_page()
    login(page, app.base_url, person["email"], person["password"])
    return page


def _ask(page: Page) -> None:
    page.fill("#composer-input", "Explique la tarifa BT1")
    page.keyboard.press("Enter")


def _ana_writes_and_beto_waits(browser: Browser, app: LiveApp) -> tuple[Page, Page]:
    """Ana's answer is being written (one slot, about 12 s) and Beto's waits: their pages."""
    # Both signed in first: a sign-in on a loaded machine could outlast Ana's 12-s answer.
    first = _signed_in(browser, app, "Ana Araya")
    second = _signed_in(browser, app, "Beto Bravo")
    _ask(first)
    expect(first.locator(".msg-assistant .md").last).not_to_be_empty()
    _ask(second)
    expect(second.locator(".msg-assistant").last).to_contain_text("En cola")
    return first, second


def test_the_tab_shows_who_is_written_for_and_who_waits(
    page: Page, browser: Browser, slow_app: LiveApp
) -> None:
    admin = slow_app.create_user("admin")
    login(page, slow_app.base_url, admin["email"], admin["password"])
    page.goto(f"{slow_app.base_url}/#/admin/estado")
    expect(page.locator(".admin-tabs a[aria-current=page]")).to_have_text("Estado")
    expect(page.locator(".stand-in-label")).to_have_text("Ollama de reemplazo (demostración)")
    expect(page.locator(".status-server .pill-ok")).to_have_text("Responde")
    expect(page.locator("#status-empty")).to_have_text("No hay respuestas en curso.")
    expect(page.locator("#status-summary")).to_have_text(
        "Escribiendo: 0. En espera: 0. Quien pregunte ahora no esperará: hay un espacio libre."
    )

    first, second = _ana_writes_and_beto_waits(browser, slow_app)
    page.click("#status-refresh")
    rows = page.locator("#status-queue tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#status-summary")).to_contain_text("Escribiendo: 1. En espera: 1.")
    expect(page.locator("#status-summary")).to_contain_text(" Espera más larga: ")
    for row, name, state in (
        (0, "Ana Araya", "Escribiendo"),
        (1, "Beto Bravo", "En espera (n.º 1)"),
    ):
        cells = rows.nth(row)
        expect(cells.locator("td[data-label=Persona]")).to_contain_text(name)
        expect(cells.locator("td[data-label=Persona] .muted")).to_contain_text("@")
        expect(cells.locator("td[data-label=Rol]")).to_have_text("Trabajador")
        expect(cells.locator("td[data-label=Tipo]")).to_have_text("Chat")
        expect(cells.locator("td[data-label=Estado]")).to_have_text(state)
        expect(cells.locator("td[data-label=Desde]")).to_contain_text("hace ")
    expect(page.locator("#status-queue caption")).to_have_text(
        "Respuestas que se escriben y que esperan"
    )
    said = page.locator("#status-said")
    expect(said).to_contain_text("Estado actualizado a las")
    told = said.inner_text()
    # The model the answer loaded is in the stand-in's memory.
    expect(page.locator(".status-models li")).to_contain_text("qwen2.5:3b-instruct")

    # Both answers stop; the tab sees it by itself at its next read (every 10 s).
    for asker in (first, second):
        asker.locator("#composer-input").focus()
        asker.keyboard.press("Escape")
    expect(page.locator("#status-empty")).to_have_text(
        "No hay respuestas en curso.", timeout=25_000
    )
    # Nothing of the timed reads is announced: the live region still says the click's read.
    expect(said).to_have_text(told)
    first.context.close()
    second.context.close()


def test_an_admin_stops_a_waiting_and_a_running_answer(
    page: Page, browser: Browser, slow_app: LiveApp
) -> None:
    """«Detener» asks first (Cancelar keeps the answer, the focus back on the button); once
    confirmed the row goes, the focus moves to the next row's "Detener" (then "Actualizar"),
    and each person reads that an admin stopped the answer."""
    admin = slow_app.create_user("admin")
    login(page, slow_app.base_url, admin["email"], admin["password"])
    page.goto(f"{slow_app.base_url}/#/admin/estado")
    expect(page.locator("#status-empty")).to_be_visible()
    first, second = _ana_writes_and_beto_waits(browser, slow_app)
    page.click("#status-refresh")
    rows = page.locator("#status-queue tbody tr")
    expect(rows).to_have_count(2)
    waiting = rows.nth(1).get_by_role("button", name="Detener la respuesta de Beto Bravo")
    waiting.click()
    expect(page.locator("dialog")).to_contain_text(
        "¿Detener la respuesta del chat que espera su turno para Beto Bravo"
    )
    page.click("dialog button:text('Cancelar')")
    expect(waiting).to_be_focused()
    expect(rows).to_have_count(2)

    waiting.click()
    page.click("dialog button:text('Detener')")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td[data-label=Persona]")).to_contain_text("Ana Araya")
    expect(
        rows.first.get_by_role("button", name="Detener la respuesta de Ana Araya")
    ).to_be_focused()
    told = "Un administrador detuvo esta respuesta."
    expect(second.locator(".msg-assistant .msg-error").last).to_have_text(told)
    expect(second.locator(".msg-assistant").last).to_contain_text("Respuesta detenida")

    page.keyboard.press("Enter")  # the focused "Detener" of Ana's running answer
    expect(page.locator("dialog")).to_contain_text(
        "¿Detener la respuesta del chat que se está escribiendo para Ana Araya"
    )
    page.click("dialog button:text('Detener')")
    expect(page.locator("#status-empty")).to_have_text("No hay respuestas en curso.")
    expect(page.locator("#status-refresh")).to_be_focused()
    expect(first.locator(".msg-assistant .msg-error").last).to_have_text(told)
    # Opened again, the stopped answer still says why.
    first.reload()
    expect(first.locator(".msg-assistant .msg-error").last).to_have_text(told)
    first.context.close()
    second.context.close()


def test_supervisors_do_not_see_the_tab(page: Page, slow_app: LiveApp) -> None:
    supervisor = slow_app.create_user("supervisor")
    login(page, slow_app.base_url, supervisor["email"], supervisor["password"])
    page.goto(f"{slow_app.base_url}/#/admin/uso")
    expect(page.locator(".admin-tabs a[aria-current=page]")).to_have_text("Uso")
    expect(page.locator(".admin-tabs a:text('Estado')")).to_have_count(0)


def test_the_timed_reads_never_refresh_the_session_and_end_with_the_tab(
    page: Page, live_app: LiveApp
) -> None:
    """Every 10 s the tab reads again on its own, not because the person did something: with
    the access token expired it stops quietly (a refresh would keep an idle session alive for
    ever) until a new token comes; once the person leaves the tab it reads no more."""
    admin = live_app.create_user("admin")
    page.clock.install()
    login(page, live_app.base_url, admin["email"], admin["password"])
    page.goto(f"{live_app.base_url}/#/admin/estado")  # a new page: its token is refreshed
    expect(page.locator("#status-stamp")).to_contain_text("se actualiza cada 10 segundos")
    reads: list[str] = []
    refreshes: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if "/admin/status" in r.url else None)
    page.on("request", lambda r: refreshes.append(r.url) if "/auth/refresh" in r.url else None)
    with page.expect_response("**/admin/status"):
        page.clock.run_for(10_500)
    assert len(reads) == 1

    def expired(route: Route) -> None:
        route.fulfill(status=401, json={"detail": "Token expirado.", "code": "token_expired"})

    page.route("**/admin/status", expired)
    with page.expect_response("**/admin/status"):
        page.clock.run_for(10_500)
    page.clock.run_for(30_000)
    page.wait_for_timeout(300)
    assert len(reads) == 2 and refreshes == []
    expect(page.locator("#status-now")).to_contain_text("Escribiendo: 0")  # what was shown stays

    page.unroute("**/admin/status", expired)
    with page.expect_response("**/admin/status"):  # a new token: the tab reads again
        page.evaluate("import('/static/js/api.js').then((api) => api.refresh())")
    page.click(".admin-tabs a:text('Uso')")
    expect(page.locator(".admin-tabs a[aria-current=page]")).to_have_text("Uso")
    seen = len(reads)
    page.clock.run_for(35_000)
    page.wait_for_timeout(300)
    assert len(reads) == seen
