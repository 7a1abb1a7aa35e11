"""What a QA pass over the admin panel found in the browser: each test shows one defect that
was fixed (the API-access switch, the keys tab on a phone, the usage totals after a failed
load)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from energyapp.admin import service as admin_service
from energyapp.core.roles import Role
from energyapp.db import create_engine, create_sessionmaker
from tests.ui.conftest import LiveApp, Watch, _arun, login, quick_login

pytestmark = pytest.mark.browser


def test_admin_turns_a_persons_api_access_off_and_on(page: Page, live_app: LiveApp) -> None:
    worker = live_app.create_user(full_name="Iván Integraciones")
    quick_login(page, live_app.base_url, "admin")
    page.goto(f"{live_app.base_url}/static/index.html#/admin/usuarios")
    # The search answered first: its answer cannot pass for the list read after the change.
    with page.expect_response(lambda r: "/admin/users?" in r.url and "q=" in r.url):
        page.fill("#user-search", worker["email"])
    row = page.locator(f"tr[data-user-id='{worker['id']}']")
    row.locator("[data-action=manage]").click()
    page.locator("dialog [data-action=api-access]").click()
    expect(page.locator("dialog")).to_contain_text(
        "¿Quitar el acceso a la API a Iván Integraciones? Sus claves de API dejarán de funcionar"
    )
    # The list is read again after the change; a dialog opened from the row drawn before that
    # shows the old state (found by CI: the row was clicked between the answer and its drawing).
    row.evaluate("tr => { tr.dataset.drawn = 'before the change'; }")
    with page.expect_response(
        lambda r: "/admin/users?" in r.url and r.request.method == "GET"
    ) as reloaded:
        page.locator("dialog button", has_text="Confirmar").click()
    assert reloaded.value.ok
    expect(page.locator(".toast")).to_have_text("Cambio guardado.")
    # The row drawn again: the dialog now offers to give the access back.
    fresh = page.locator(f"tr[data-user-id='{worker['id']}']:not([data-drawn])")
    expect(fresh).to_have_count(1)
    fresh.locator("[data-action=manage]").click()
    expect(page.locator("dialog [data-action=api-access]")).to_have_text("Devolver acceso a la API")
    page.locator("dialog [data-action=api-access]").click()
    # Not the toast: the first change's may still be shown, and leaving the page before the
    # answer came could cancel the change.
    with page.expect_response(
        lambda r: r.url.endswith("/api-access") and r.request.method == "PUT"
    ) as saved:
        page.locator("dialog button", has_text="Confirmar").click()
    assert saved.value.ok
    page.goto(f"{live_app.base_url}/static/index.html#/admin/auditoria")
    page.fill("#audit-person", "Iván Integraciones")
    labels = page.locator("#audit-table .audit-label")
    expect(labels).to_have_text(
        [
            "Habilitó las claves de API de Iván Integraciones",
            "Deshabilitó las claves de API de Iván Integraciones",
        ]
    )


def test_keys_tab_on_a_phone_shows_cards_with_the_revoke_button(
    browser: Browser, live_app: LiveApp, watch: Watch
) -> None:
    worker = live_app.create_user(full_name="Fernanda Teléfono")
    key_id = live_app.create_api_key(worker, "Planilla de turnos del mes de noviembre")
    context = browser.new_context(viewport={"width": 375, "height": 760}, locale="es-CL")
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
        login(page, live_app.base_url, "admin@example.com", "admin123")
        page.goto(f"{live_app.base_url}/static/index.html#/admin/claves")
        card = page.locator(f"#admin-api-keys tr[data-key-id='{key_id}']")
        expect(card).to_be_visible()
        expect(page.locator("#admin-api-keys thead")).to_be_hidden()
        expect(card.locator("td[data-label=Usuario]")).to_contain_text(worker["email"])
        revoke = card.get_by_role("button", name="Revocar la clave", exact=False)
        expect(revoke).to_be_in_viewport()
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        revoke.click()
        page.locator("dialog button", has_text="Revocar").click()
        expect(card.locator("td[data-label=Acciones]")).to_contain_text("Revocada el")
    finally:
        context.close()
    watch.assert_clean()


def test_keys_table_names_its_action_column_and_finds_a_persons_keys(
    page: Page, live_app: LiveApp
) -> None:
    worker = live_app.create_user(full_name="Óscar Búsqueda")
    key_id = live_app.create_api_key(worker, "Informe semanal")
    quick_login(page, live_app.base_url, "admin")
    page.goto(f"{live_app.base_url}/static/index.html#/admin/claves")
    expect(page.locator("#admin-api-keys thead th").last).to_have_text("Acciones")
    page.fill("#key-search", "oscar busqueda")
    rows = page.locator("#admin-api-keys tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-key-id", key_id)
    expect(rows.first).to_contain_text("Óscar Búsqueda")
    page.fill("#key-search", "nadie-se-llama-asi")
    expect(rows).to_have_text(["No hay claves de API que coincidan."])


def test_usage_failed_load_leaves_no_totals_of_the_previous_period(
    page: Page, live_app: LiveApp
) -> None:
    quick_login(page, live_app.base_url, "admin")
    page.goto(f"{live_app.base_url}/static/index.html#/admin/uso")
    summary = page.locator("#usage-summary")
    expect(summary).to_contain_text("tokens")
    # A real day, but before any data may be asked for: the server refuses it.
    page.fill("#usage-from", "01-01-1999")
    page.click("#usage-range button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("La fecha «desde» debe estar entre")
    expect(summary).to_have_text("")


def test_the_page_of_someone_without_conversations_names_them(
    page: Page, live_app: LiveApp
) -> None:
    worker = live_app.create_user(full_name="Nora Recién Llegada")
    quick_login(page, live_app.base_url, "supervisor")
    page.goto(f"{live_app.base_url}/static/index.html#/admin/usuario/{worker['id']}")
    expect(page.locator("#user-conversations tbody")).to_have_text(
        "Este usuario no tiene conversaciones."
    )
    expect(page.locator("h2")).to_have_text(
        f"Conversaciones de Nora Recién Llegada ({worker['email']})"
    )


def test_the_trail_says_the_servers_console_acted(page: Page, live_app: LiveApp) -> None:
    worker = live_app.create_user(full_name="Consuelo Consola")

    async def _promote() -> None:
        engine = create_engine(live_app.db_url)
        try:
            async with create_sessionmaker(engine)() as session:
                await admin_service.change_from_console(
                    session, worker["email"], role=Role.SUPERVISOR
                )
                await session.commit()
        finally:
            await engine.dispose()

    _arun(_promote())
    quick_login(page, live_app.base_url, "admin")
    page.goto(f"{live_app.base_url}/static/index.html#/admin/auditoria")
    page.fill("#audit-person", "Consuelo Consola")
    row = page.locator("#audit-table tbody tr:not(.audit-details)")
    expect(row).to_have_count(1)
    expect(row.locator("td[data-label=Quién]")).to_have_text("Consola del servidor")
    expect(row.locator(".audit-label")).to_have_text(
        "Cambió el rol de Consuelo Consola de Trabajador a Supervisor "
        "(desde la consola del servidor)"
    )


def test_the_viewer_of_a_long_conversation_says_more_exists_and_loads_it(
    page: Page, live_app: LiveApp
) -> None:
    # The viewer drew 20 pages of 200 messages and stopped without a word: the admin took the
    # first 4 000 messages for the whole conversation.
    worker = live_app.create_user(full_name="Larga Conversación")
    turns = [("user" if i % 2 == 0 else "assistant", f"Mensaje {i + 1}") for i in range(4_004)]
    conv_id = live_app.create_conversation(worker["id"], "Bitácora", turns)
    quick_login(page, live_app.base_url, "admin")
    page.goto(f"{live_app.base_url}/static/index.html#/admin/conversacion/{conv_id}")
    messages = page.locator("#admin-viewer .msg")
    more = page.locator("#viewer-more")
    expect(more).to_contain_text(
        "Se muestran los primeros 4.000 mensajes; la conversación tiene más.", timeout=30_000
    )
    expect(messages).to_have_count(4_000)
    more.get_by_role("button", name="Cargar más mensajes").click()
    expect(messages).to_have_count(4_004, timeout=30_000)
    expect(messages.last).to_contain_text("Mensaje 4004")
    expect(more).to_have_text("")


PLACEHOLDER_FITS = """() => {
  const input = document.querySelector("#key-search");
  const style = getComputedStyle(input);
  const context = document.createElement("canvas").getContext("2d");
  context.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return { text: context.measureText(input.placeholder).width, room };
}"""


@pytest.mark.parametrize("width", [360, 375])
def test_the_key_search_placeholder_reads_whole_on_a_phone(
    browser: Browser, live_app: LiveApp, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 760}, locale="es-CL")
    try:
        page = context.new_page()
        login(page, live_app.base_url, "admin@example.com", "admin123")
        page.goto(f"{live_app.base_url}/static/index.html#/admin/claves")
        expect(page.locator("#key-search")).to_be_visible()
        fit = page.evaluate(PLACEHOLDER_FITS)
        assert fit["text"] <= fit["room"], fit
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()
