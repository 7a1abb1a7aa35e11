"""Saved prompts in the browser, the harder cases: the list opened by the button filtered by
what is typed next, a prompt past the limit now in force, markup shown as text, a press on the
popup, and the focus after a change in Configuración."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Route, expect

from tests.ui.conftest import LiveApp, login
from tests.ui.test_prompts_ui import (
    SPELLING,
    _chat_posts,
    _headers,
    _no_published_prompts,  # noqa: F401 (autouse fixture)
    _person_with_prompts,
    _save,
)

pytestmark = pytest.mark.browser


def test_opened_by_the_button_what_is_typed_filters_and_is_replaced(
    page: Page, live_app: LiveApp
) -> None:
    """Opened by the button over other text (or none), the words typed next filter the list,
    as after a "/", and the chosen prompt replaces them; Esc leaves them."""
    person = _person_with_prompts(live_app)
    login(page, live_app.base_url, person["email"], person["password"])
    sent = _chat_posts(page)
    field = page.locator("#composer-input")
    listbox = page.locator("#prompt-list")
    button = page.get_by_role("button", name="Indicaciones", exact=True)
    field.fill("Hola. ")
    button.click()
    expect(listbox.get_by_role("option")).to_have_count(2)
    field.type("ORTO")
    expect(page.locator("#prompt-popup")).to_be_visible()
    expect(listbox.get_by_role("option")).to_have_count(1)
    expect(listbox.get_by_role("option").first).to_contain_text("Revisión ortográfica")
    field.press("Enter")
    expect(field).to_have_value(f"Hola. {SPELLING}")
    expect(button).to_have_attribute("aria-expanded", "false")
    # In the empty field too; Esc keeps what was typed, and a new line closes the list.
    field.fill("")
    button.click()
    field.type("resu")
    expect(listbox.get_by_role("option")).to_have_count(1)
    field.press("Escape")
    expect(page.locator("#prompt-popup")).to_be_hidden()
    expect(field).to_have_value("resu")
    button.click()
    field.press("Shift+Enter")
    expect(page.locator("#prompt-popup")).to_be_hidden()
    page.wait_for_timeout(300)
    assert sent == []


def test_a_prompt_longer_than_the_limit_now_in_force_says_so(page: Page, live_app: LiveApp) -> None:
    """A prompt saved before the limit shrank (custom instructions written since): the list
    says so on it, and once inserted the counter is past the limit and Enviar is off."""
    person = _person_with_prompts(live_app)

    def shorter(route: Route) -> None:
        answer = route.fetch().json()
        route.fulfill(json={**answer, "max_message_chars": 40})

    page.route("**/chat/limit*", shorter)
    login(page, live_app.base_url, person["email"], person["password"])
    field = page.locator("#composer-input")
    expect(page.locator("#composer-counter")).to_have_text(re.compile(r"/ 40$"))
    field.press("/")
    options = page.locator("#prompt-list").get_by_role("option")
    expect(options).to_have_count(2)
    expect(options.nth(0)).not_to_contain_text("límite")  # 30 characters
    expect(options.nth(1)).to_contain_text(
        f"Tiene {len(SPELLING)} caracteres y el límite actual es 40"
    )
    field.press("ArrowDown")
    field.press("Enter")
    expect(field).to_have_value(SPELLING)
    expect(page.locator("#composer-counter")).to_have_class(re.compile(r"\bover\b"))
    expect(page.locator("#send-btn")).to_be_disabled()


def test_markup_in_a_prompt_is_shown_as_text_and_the_popup_keeps_the_focus(
    page: Page, live_app: LiveApp
) -> None:
    """A title or body with markup is inert in the list (and in the field once inserted); a
    press on the popup outside an option (its help line, its scroll bar) does not close it."""
    person = live_app.create_user()
    attack = '<img src=x onerror="window.__pwned = 1">'
    _save(live_app, _headers(live_app, person), "/prompts", attack, f"Cuerpo {attack}")
    login(page, live_app.base_url, person["email"], person["password"])
    field = page.locator("#composer-input")
    field.press("/")
    options = page.locator("#prompt-list").get_by_role("option")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text(attack)
    assert page.locator("#prompt-popup img").count() == 0
    page.locator("#prompt-popup .prompt-help").click()
    expect(page.locator("#prompt-popup")).to_be_visible()
    expect(field).to_be_focused()
    field.press("Enter")
    expect(field).to_have_value(f"Cuerpo {attack}")
    page.wait_for_timeout(200)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src=x]").count() == 0


def test_the_focus_stays_in_the_card_after_editing_and_deleting(
    page: Page, live_app: LiveApp
) -> None:
    """The list is drawn again after a change: the focus goes to the edited prompt's Editar, to
    the next prompt's Eliminar after a deletion, then to "Nueva indicación" (never <body>)."""
    person = _person_with_prompts(live_app)
    login(page, live_app.base_url, person["email"], person["password"])
    page.click("nav.tabs a:text('Configuración')")
    card = page.locator("#prompts-card")
    expect(card.locator("#prompts-list li")).to_have_count(2)
    card.get_by_role("button", name="Editar Resumen en puntos").click()
    dialog = page.get_by_role("dialog", name="Editar indicación")
    dialog.get_by_label("Texto de la indicación").fill("Resume en 3 puntos")
    dialog.get_by_role("button", name="Guardar").click()
    expect(card.locator("#prompts-list li").first).to_contain_text("Resume en 3 puntos")
    expect(card.get_by_role("button", name="Editar Resumen en puntos")).to_be_focused()
    for title, then in (
        ("Resumen en puntos", "Eliminar Revisión ortográfica"),
        ("Revisión ortográfica", "Nueva indicación"),
    ):
        card.get_by_role("button", name=f"Eliminar {title}").click()
        page.get_by_role("dialog", name="Eliminar indicación").get_by_role(
            "button", name="Eliminar"
        ).click()
        expect(card.get_by_role("button", name=f"Eliminar {title}")).to_have_count(0)
        expect(card.get_by_role("button", name=then)).to_be_focused()
