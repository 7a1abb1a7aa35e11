"""Saved prompts in the browser: "/" in the empty composer (or the "Indicaciones" button) opens
the list, typing filters it, ↓ and Enter insert a prompt's text without sending it, Esc keeps
the text typed; "Guardar como indicación" under a question; Configuración's card; the admin's
published ones."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request, expect
from sqlalchemy import text

from energyapp.db import create_engine
from tests.ui.conftest import LiveApp, _arun, login

pytestmark = pytest.mark.browser

SUMMARY = "Resume este texto en 5 puntos:\n\n"
SPELLING = "Revisa la ortografía y la redacción del siguiente texto:"


@pytest.fixture(autouse=True)
def _no_published_prompts(live_app: LiveApp) -> Iterator[None]:
    """The browser tests share one database: the prompts published here, which everyone sees,
    are removed after each test."""
    yield

    async def purge() -> None:
        engine = create_engine(live_app.db_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("DELETE FROM saved_prompts WHERE user_id IS NULL"))
        finally:
            await engine.dispose()

    _arun(purge())


def _headers(live_app: LiveApp, person: dict[str, str]) -> dict[str, str]:
    with httpx.Client(base_url=live_app.base_url) as http:
        body = {"email": person["email"], "password": person["password"]}
        token = http.post("/auth/login", json=body).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _save(live_app: LiveApp, headers: dict[str, str], url: str, title: str, body: str) -> None:
    with httpx.Client(base_url=live_app.base_url) as http:
        saved = http.post(url, json={"title": title, "body": body}, headers=headers)
        assert saved.status_code == 201, saved.text


def _chat_posts(page: Page) -> list[str]:
    sent: list[str] = []

    def seen(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/chat"):
            sent.append(request.url)

    page.on("request", seen)
    return sent


def _person_with_prompts(live_app: LiveApp) -> dict[str, str]:
    person = live_app.create_user()
    headers = _headers(live_app, person)
    _save(live_app, headers, "/prompts", "Resumen en puntos", SUMMARY)
    _save(live_app, headers, "/prompts", "Revisión ortográfica", SPELLING)
    return person


def test_slash_opens_the_list_typing_filters_and_enter_inserts(
    page: Page, live_app: LiveApp
) -> None:
    person = _person_with_prompts(live_app)
    admin = live_app.create_user("admin")
    _save(live_app, _headers(live_app, admin), "/admin/prompts", "Acta de reunión", "Redacta")
    login(page, live_app.base_url, person["email"], person["password"])
    sent = _chat_posts(page)
    field = page.locator("#composer-input")
    listbox = page.get_by_role("listbox", name="Indicaciones guardadas")
    expect(listbox).to_be_hidden()
    field.press("/")
    expect(listbox).to_be_visible()
    options = listbox.get_by_role("option")
    # Their own first, by title; then the published one, marked.
    expect(options).to_have_count(3)
    expect(options.nth(0)).to_contain_text("Resumen en puntos")
    expect(options.nth(1)).to_contain_text("Revisión ortográfica")
    expect(options.nth(2)).to_contain_text("Publicada")
    expect(field).to_have_attribute("aria-activedescendant", "prompt-option-0")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    # Accents and case do not matter; the body is searched too.
    field.type("REVISION")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("Revisión ortográfica")
    field.fill("")
    field.type("/redac")  # in the bodies only ("redacción", "Redacta")
    expect(options).to_have_count(2)
    expect(options.nth(0)).to_contain_text("Revisión ortográfica")
    expect(options.nth(1)).to_contain_text("Acta de reunión")
    field.press("ArrowDown")
    expect(field).to_have_attribute("aria-activedescendant", "prompt-option-1")
    field.press("ArrowDown")  # round to the first
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    field.press("Enter")
    expect(listbox).to_be_hidden()
    expect(field).to_have_value(SPELLING)
    expect(field).to_be_focused()
    caret = field.evaluate("(el) => [el.selectionStart, el.selectionEnd, el.value.length]")
    assert caret == [len(SPELLING)] * 3
    expect(page.locator("#composer-counter")).to_have_text(re.compile(rf"^{len(SPELLING)} / "))
    expect(page.locator("#send-btn")).to_be_enabled()
    page.wait_for_timeout(300)
    assert sent == []  # nothing sent until Enviar
    expect(page.locator(".msg")).to_have_count(0)


def test_escape_keeps_the_text_and_a_click_inserts(page: Page, live_app: LiveApp) -> None:
    person = _person_with_prompts(live_app)
    login(page, live_app.base_url, person["email"], person["password"])
    sent = _chat_posts(page)
    field = page.locator("#composer-input")
    listbox = page.locator("#prompt-list")
    field.type("/resu")
    expect(listbox.get_by_role("option")).to_have_count(1)
    field.press("Escape")
    expect(listbox).to_be_hidden()
    expect(field).to_have_value("/resu")
    field.type("men")  # closed by Esc: typing on does not open it again
    expect(page.locator("#prompt-popup")).to_be_hidden()
    expect(field).to_have_value("/resumen")
    # The button opens it too (filtered by the "/…" typed); a click on an option inserts it.
    button = page.get_by_role("button", name="Indicaciones", exact=True)
    expect(button).to_have_attribute("aria-expanded", "false")
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(listbox.get_by_role("option")).to_have_count(1)
    listbox.get_by_role("option").first.click()
    expect(field).to_have_value(SUMMARY.strip())
    expect(field).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")
    # On a field with other text the button inserts at the caret.
    field.fill("Hola. ")
    button.click()
    expect(listbox.get_by_role("option")).to_have_count(2)
    field.press("ArrowDown")
    field.press("Enter")
    expect(field).to_have_value(f"Hola. {SPELLING}")
    page.wait_for_timeout(300)
    assert sent == []


def test_an_empty_list_says_how_to_create_one(page: Page, live_app: LiveApp) -> None:
    person = live_app.create_user()
    login(page, live_app.base_url, person["email"], person["password"])
    page.locator("#composer-input").press("/")
    expect(page.locator("#prompt-popup")).to_be_visible()
    expect(page.locator("#prompt-status")).to_contain_text("Guardar como indicación")
    expect(page.locator("#prompt-list [role=option]")).to_have_count(0)
    page.locator("#composer-input").press("Enter")  # nothing to insert: closes, keeps "/"
    expect(page.locator("#prompt-popup")).to_be_hidden()
    expect(page.locator("#composer-input")).to_have_value("/")


def test_a_question_is_saved_as_a_prompt_and_then_listed(page: Page, live_app: LiveApp) -> None:
    person = live_app.create_user()
    question = "Explica la ley de Ohm con un ejemplo de una estufa eléctrica de 2000 W"
    conversation = live_app.create_conversation(
        person["id"], "Ohm", [("user", question), ("assistant", "V = I · R")]
    )
    login(page, live_app.base_url, person["email"], person["password"])
    page.goto(f"{live_app.base_url}/#/chat/{conversation}")
    save = page.get_by_role("button", name="Guardar como indicación")
    expect(save).to_have_count(1)  # under the question only
    save.click()
    dialog = page.get_by_role("dialog", name="Guardar como indicación")
    expect(dialog.get_by_label("Título")).to_have_value("Explica la ley de Ohm con")
    expect(dialog.get_by_label("Texto de la indicación")).to_have_value(question)
    dialog.get_by_label("Título").fill("Ley de Ohm")
    dialog.get_by_role("button", name="Guardar").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#toasts")).to_contain_text("Indicación «Ley de Ohm» guardada")
    page.locator("#composer-input").press("/")
    option = page.locator("#prompt-list").get_by_role("option")
    expect(option).to_have_count(1)
    expect(option).to_contain_text("Ley de Ohm")
    # The same title again is refused with the server's reason; the dialog stays open.
    save.click()
    dialog = page.get_by_role("dialog", name="Guardar como indicación")
    dialog.get_by_label("Título").fill("LEY de ohm")
    dialog.get_by_role("button", name="Guardar").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Ya existe una indicación")
    dialog.get_by_role("button", name="Cancelar").click()
    expect(dialog).to_be_hidden()


def test_the_configuration_card_creates_edits_and_deletes(page: Page, live_app: LiveApp) -> None:
    person = live_app.create_user()
    login(page, live_app.base_url, person["email"], person["password"])
    page.click("nav.tabs a:text('Configuración')")
    card = page.locator("#prompts-card")
    expect(card.locator("#prompts-status")).to_contain_text("Aún no tiene indicaciones")
    card.get_by_role("button", name="Nueva indicación").click()
    dialog = page.get_by_role("dialog", name="Nueva indicación")
    dialog.get_by_label("Título").fill("Correo 📧")
    # Counted as the server counts: the emoji is one character (String.length says 2).
    expect(dialog.locator("[id^=prompt-title-count]")).to_have_text("8 / 80")
    dialog.get_by_label("Título").fill("x" * 81)
    expect(dialog.get_by_role("button", name="Guardar")).to_be_disabled()
    dialog.get_by_label("Título").fill("Correo formal")
    dialog.get_by_label("Texto de la indicación").fill("Redacta un correo formal para <b>")
    dialog.get_by_role("button", name="Guardar").click()
    expect(dialog).to_be_hidden()
    items = card.locator("#prompts-list li")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Correo formal")
    expect(card.locator("#prompts-status")).to_have_text("1 indicación de 100 posibles.")
    expect(card.locator("b")).to_have_count(0)  # shown as text

    card.get_by_role("button", name="Editar Correo formal").click()
    dialog = page.get_by_role("dialog", name="Editar indicación")
    expect(dialog.get_by_label("Título")).to_have_value("Correo formal")
    dialog.get_by_label("Título").fill("Correo a proveedores")
    dialog.get_by_role("button", name="Guardar").click()
    expect(items.first).to_contain_text("Correo a proveedores")

    card.get_by_role("button", name="Eliminar Correo a proveedores").click()
    page.get_by_role("dialog", name="Eliminar indicación").get_by_role(
        "button", name="Eliminar"
    ).click()
    expect(items).to_have_count(0)
    expect(card.locator("#prompts-status")).to_contain_text("Aún no tiene indicaciones")


def test_admins_publish_in_their_tab_and_others_do_not_see_it(
    page: Page, live_app: LiveApp
) -> None:
    admin = live_app.create_user("admin")
    login(page, live_app.base_url, admin["email"], admin["password"])
    page.goto(f"{live_app.base_url}/#/admin/indicaciones")
    page.get_by_role("button", name="Publicar indicación").click()
    dialog = page.get_by_role("dialog", name="Publicar indicación")
    dialog.get_by_label("Título").fill("Acta de reunión")
    dialog.get_by_label("Texto de la indicación").fill("Redacta el acta de esta reunión:")
    dialog.get_by_role("button", name="Guardar").click()
    expect(page.locator("#admin-prompts-list li")).to_have_count(1)
    expect(page.locator("#admin-prompts-status")).to_have_text("1 indicación publicada para todos.")
    page.get_by_role("button", name="Editar Acta de reunión").click()
    dialog = page.get_by_role("dialog", name="Editar indicación")
    dialog.get_by_label("Título").fill("Acta breve")
    dialog.get_by_role("button", name="Guardar").click()
    expect(page.locator("#admin-prompts-list li")).to_contain_text(["Acta breve"])


def test_supervisors_have_no_tab_and_see_published_ones_in_the_composer(
    page: Page, live_app: LiveApp
) -> None:
    admin = live_app.create_user("admin")
    _save(live_app, _headers(live_app, admin), "/admin/prompts", "Acta de reunión", "Redacta")
    supervisor = live_app.create_user("supervisor")
    login(page, live_app.base_url, supervisor["email"], supervisor["password"])
    page.goto(f"{live_app.base_url}/#/admin/usuarios")
    expect(page.locator("nav.admin-tabs")).to_be_visible()
    expect(page.locator("nav.admin-tabs a", has_text="Indicaciones")).to_have_count(0)
    page.goto(f"{live_app.base_url}/#/chat")
    page.locator("#composer-input").press("/")
    expect(page.locator("#prompt-list").get_by_role("option")).to_contain_text(["Acta de reunión"])


def test_the_shortcuts_dialog_lists_the_slash(page: Page, live_app: LiveApp) -> None:
    person = live_app.create_user()
    login(page, live_app.base_url, person["email"], person["password"])
    page.get_by_role("button", name="Atajos de teclado").click()
    dialog = page.get_by_role("dialog", name="Atajos de teclado")
    expect(dialog).to_contain_text("Al comienzo del mensaje: indicaciones guardadas")


NO_OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"


def test_on_a_phone_in_the_dark_theme_the_list_fits(browser: Browser, live_app: LiveApp) -> None:
    person = live_app.create_user("admin")
    headers = _headers(live_app, person)
    _save(live_app, headers, "/prompts", "Un título largo " * 4, "palabra" * 60)
    _save(live_app, headers, "/prompts", "Resumen", SUMMARY)
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="es-CL")
    try:
        page = context.new_page()
        page.goto(f"{live_app.base_url}/")
        page.evaluate("localStorage.setItem('energyapp.theme', 'dark')")
        login(page, live_app.base_url, person["email"], person["password"])
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        page.locator("#composer-input").press("/")
        popup = page.locator("#prompt-popup")
        expect(popup.get_by_role("option")).to_have_count(2)
        expect(popup).to_be_in_viewport(ratio=1)
        expect(page.get_by_role("button", name="Indicaciones", exact=True)).to_be_in_viewport()
        # The list is drawn on the theme's background, not the light one.
        background = popup.evaluate("(el) => getComputedStyle(el).backgroundColor")
        assert background == "rgb(23, 26, 31)", background
        assert page.evaluate(NO_OVERFLOW)
        page.screenshot(path="/tmp/energyapp-prompts-phone-dark.png")
        for route in ("#/config", "#/admin/indicaciones"):
            page.goto(f"{live_app.base_url}/static/index.html{route}")
            page.wait_for_selector("#prompts-list li, #admin-prompts-status")
            page.wait_for_timeout(300)
            assert page.evaluate(NO_OVERFLOW), f"horizontal overflow at 375 px on {route}"
        page.goto(f"{live_app.base_url}/static/index.html#/config")
        page.locator("#prompts-list li").first.wait_for()
        page.locator("#prompts-card").screenshot(path="/tmp/energyapp-prompts-card.png")
    finally:
        context.close()
