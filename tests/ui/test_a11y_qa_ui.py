"""Defects found by an accessibility pass of the chat as a keyboard-only user, a screen-reader
user and a phone user would meet them: what live regions say while a message is typed, who
wrote each message, the profile menu by keyboard, where the focus goes in Configuración, the
copy buttons' feedback, the touch targets and row actions on a phone."""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.ui.conftest import LiveApp, Watch, login
from tests.ui.test_layout_ui import NO_OVERFLOW

pytestmark = pytest.mark.browser

# Records what a screen reader would hear: the text of every live region (aria-live, role
# status or alert) each time something inside it changes.
LISTEN = """() => {
    window.heard = [];
    const live = "[aria-live]:not([aria-live=off]), [role=status], [role=alert], [role=log]";
    new MutationObserver((changes) => {
        for (const change of changes) {
            const { target } = change;
            const node = target instanceof Element ? target : target.parentElement;
            const region = node && node.closest(live);
            if (region) window.heard.push(region.textContent.trim());
        }
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
}"""


def _heard(page: Page) -> list[str]:
    heard: list[str] = page.evaluate("() => window.heard.filter(Boolean)")
    return heard


@contextlib.contextmanager
def _phone(browser: Browser, watch: Watch, touch: bool) -> Iterator[Page]:
    """A page of its own on a 375 x 667 phone, with a touch screen or not."""
    context = browser.new_context(
        viewport={"width": 375, "height": 667}, locale="es-CL", has_touch=touch, is_mobile=touch
    )
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
        yield page
    finally:
        context.close()
    watch.assert_clean()


def _login_new_worker(page: Page, live_app: LiveApp) -> dict[str, str]:
    user = live_app.create_user(full_name="Lectora Pantalla")
    login(page, live_app.base_url, user["email"], user["password"])
    return user


def test_typing_a_message_is_not_announced_key_by_key(page: Page, live_app: LiveApp) -> None:
    """The "12 / 500" counter was a live region: a screen reader read it after every key.
    The field describes itself with it; only crossing the limit is said, once."""
    _login_new_worker(page, live_app)
    composer = page.locator("#composer-input")
    expect(composer).to_be_focused()
    expect(page.locator(".list-status")).to_have_text("Aún no hay conversaciones.")  # loaded
    page.evaluate(LISTEN)
    page.keyboard.type("Hola, ¿cómo se mide la eficiencia?")
    expect(page.locator("#composer-counter")).to_have_text("34 / 500")
    assert _heard(page) == []
    composer.fill("a" * 499)
    page.keyboard.type("bcd")
    expect(page.locator("#composer-counter")).to_have_text("502 / 500")
    assert _heard(page) == ["El mensaje supera el límite de 500 caracteres."]
    for _ in range(3):
        page.keyboard.press("Backspace")
    expect(page.locator("#send-btn")).to_be_enabled()
    assert _heard(page) == ["El mensaje supera el límite de 500 caracteres."]
    expect(composer).to_have_attribute("aria-describedby", "composer-counter composer-help")


def test_a_screen_reader_hears_who_wrote_each_message(page: Page, live_app: LiveApp) -> None:
    """Only the bubble's colour and the logo told a question from an answer: each message now
    starts with a heading that says who wrote it (and lets a screen reader jump between them)."""
    user = _login_new_worker(page, live_app)
    conv = live_app.create_conversation(
        user["id"], "Turnos", [("user", "¿Quién está de turno?"), ("assistant", "El equipo B.")]
    )
    page.goto(f"{live_app.base_url}/#/chat/{conv}")
    expect(page.locator(".msg-assistant .md")).to_have_text("El equipo B.")
    page.fill("#composer-input", "¿Y mañana?")
    page.keyboard.press("Enter")
    expect(page.locator(".msg-assistant").last).to_have_attribute("data-status", "complete")
    headings = page.locator("#messages").get_by_role("heading", level=2)
    expect(headings).to_have_text(["Usted dijo:", "EnergyApp respondió:"] * 2)
    # Each heading is read just before its message's text.
    expect(page.locator("#messages")).to_contain_text("Usted dijo:¿Quién está de turno?")
    expect(page.locator("#messages")).to_contain_text("EnergyApp respondió:El equipo B.")


def test_the_profile_menu_works_as_a_menu_by_keyboard(page: Page, live_app: LiveApp) -> None:
    """The profile menu said role="menu" but took no arrow keys, stayed open when Tab left it
    (its items were tab stops of their own) and Escape on its button did nothing: it now
    follows the menu button pattern of the rows' "Más acciones", up to signing out."""
    _login_new_worker(page, live_app)
    button = page.locator(".profile-btn")
    menu = page.locator("#profile-menu")
    settings = menu.get_by_role("menuitem", name="Configuración")
    sign_out = menu.get_by_role("menuitem", name="Cerrar sesión")
    button.focus()
    page.keyboard.press("Enter")
    expect(settings).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    expect(sign_out).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(settings).to_be_focused()
    page.keyboard.press("End")
    expect(sign_out).to_be_focused()
    page.keyboard.press("Tab")  # leaves the menu: it closes
    expect(menu).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    button.focus()
    page.keyboard.press("ArrowUp")  # opens on the last item
    expect(sign_out).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(button).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#login-email")).to_be_visible()


def test_the_focus_on_detener_stays_in_the_composer_when_the_answer_ends(
    page: Page, live_app: LiveApp
) -> None:
    """A keyboard user waiting on "Detener" lost the focus to <body> when the answer ended by
    itself (the button is hidden then): it goes to the message field."""
    _login_new_worker(page, live_app)
    expect(page.locator("#model-select")).to_be_visible()  # a tab stop between field and button
    page.fill("#composer-input", "Una pregunta")
    page.keyboard.press("Enter")
    stop = page.get_by_role("button", name="Detener")
    page.keyboard.press("Tab")  # "Adjuntar archivo"
    page.keyboard.press("Tab")  # "Indicaciones" (the saved prompts)
    page.keyboard.press("Tab")  # the model picker
    page.keyboard.press("Tab")
    expect(stop).to_be_focused()
    expect(page.locator(".msg-assistant").last).to_have_attribute("data-status", "complete")
    expect(stop).to_be_hidden()
    expect(page.locator("#composer-input")).to_be_focused()


def test_copying_a_code_block_is_announced(
    page: Page, context: BrowserContext, live_app: LiveApp
) -> None:
    """«Copiar código» showed «Copiado» only to the eye (its aria-label kept the name): a screen
    reader heard nothing. The outcome is now said through the toasts' status region."""
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app.base_url)
    user = _login_new_worker(page, live_app)
    conv = live_app.create_conversation(
        user["id"], "Código", [("user", "Un ejemplo"), ("assistant", "```python\nx = 1\n```")]
    )
    page.goto(f"{live_app.base_url}/#/chat/{conv}")
    copy = page.get_by_role("button", name="Copiar código")
    expect(copy).to_be_visible()
    page.evaluate(LISTEN)
    copy.focus()
    page.keyboard.press("Enter")
    expect(copy).to_have_text("Copiado")
    assert page.evaluate("() => navigator.clipboard.readText()") == "x = 1\n"
    expect(page.locator("#toasts")).to_have_text("Código copiado.")
    assert _heard(page) == ["Código copiado."]


def test_configuracion_keeps_the_focus_through_its_steps(page: Page, live_app: LiveApp) -> None:
    """Each step of the name edit and of 2FA replaced the control that had the focus, which
    fell to <body>: a keyboard user started again from the top of the page every time. Each
    step now hands the focus on (its field, its first button, or its explanation)."""
    user = live_app.create_user(
        email=f"teclado{secrets.token_hex(3)}@inacapmail.cl", full_name="Nombre Antiguo"
    )
    login(page, live_app.base_url, user["email"], user["password"])
    page.goto(f"{live_app.base_url}/#/config")
    edit = page.get_by_role("button", name="Editar nombre")
    edit.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#profile-name")).to_be_focused()
    page.keyboard.type(" Cambiado")
    page.keyboard.press("Escape")  # cancels
    expect(edit).to_be_focused()
    expect(page.locator(".profile-name")).to_have_text("Nombre Antiguo")
    page.keyboard.press("Enter")
    page.keyboard.press("End")
    page.keyboard.type(" Nuevo")
    page.keyboard.press("Enter")  # saves
    expect(page.locator(".profile-name")).to_have_text("Nombre Antiguo Nuevo")
    expect(edit).to_be_focused()

    page.locator("#tfa-pass").focus()
    page.keyboard.type(user["password"])
    page.keyboard.press("Enter")
    code = page.locator("#tfa-code")
    expect(code).to_be_focused()
    expect(code).to_have_accessible_description(re.compile("Ingrese esta clave"))
    totp = pyotp.TOTP(page.locator("#totp-secret").inner_text().strip())
    page.keyboard.type(totp.now())
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Copiar códigos")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Ya los guardé")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("La verificación en dos pasos está activada")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#tfa-off-pass")).to_be_focused()
    page.keyboard.type(user["password"])
    page.keyboard.press("Tab")
    page.keyboard.type(totp.at(time.time() + 30))  # the code just used is refused again
    page.keyboard.press("Enter")
    expect(page.get_by_text("Proteja su cuenta con un código")).to_be_focused()


# Every control shown, smaller than 44 px in either direction.
TOUCH_TARGETS = """() => [...document.querySelectorAll(
        "#main :is(button, a, select, input:not([type=checkbox])), header :is(button, a)")]
    .filter((el) => el.checkVisibility({ visibilityProperty: true }))
    .map((el) => {
        const box = el.getBoundingClientRect();
        return { name: el.getAttribute("aria-label") || el.textContent.trim() || el.id,
                 width: Math.round(box.width), height: Math.round(box.height) };
    })
    .filter((t) => t.height < 44 || t.width < 44)"""


def test_on_a_phone_every_control_is_a_44_px_touch_target(
    browser: Browser, live_app: LiveApp, watch: Watch
) -> None:
    """On a touch screen the icon buttons were 28 to 34 px (the drawer's, the rows' "Más
    acciones", ‹ ›), the message actions 30 px and the model picker 22 px high; and a row's
    "Más acciones" showed only under a hovering pointer, which a phone has not: only the open
    conversation could be renamed or deleted."""
    user = live_app.create_user(full_name="Tomás Táctil")
    conv = live_app.create_conversation(
        user["id"],
        "Medidores",
        [("user", "¿Cómo leo el medidor?"), ("assistant", "Así:\n\n```bash\nleer --todo\n```")],
        versions={1: ["Una versión anterior"]},
    )
    live_app.create_conversation(user["id"], "Otra conversación", [("user", "Hola")])
    with _phone(browser, watch, touch=True) as page:
        login(page, live_app.base_url, user["email"], user["password"])
        page.goto(f"{live_app.base_url}/#/chat/{conv}")
        expect(page.locator(".msg-assistant .md")).to_contain_text("leer --todo")
        expect(page.locator("#model-select")).to_be_visible()
        assert page.evaluate(TOUCH_TARGETS) == []
        page.get_by_role("button", name="Abrir historial").tap()
        other = page.locator(".conv-item", has_text="Otra conversación")
        more = other.get_by_role("button", name="Más acciones para «Otra conversación»")
        expect(more).to_be_visible()
        assert page.evaluate(TOUCH_TARGETS) == []
        more.tap()
        expect(page.get_by_role("menuitem", name="Renombrar")).to_be_visible()
        assert page.evaluate(TOUCH_TARGETS) == []
        assert page.evaluate(NO_OVERFLOW)


def test_the_phone_drawer_is_modal_while_open(
    browser: Browser, live_app: LiveApp, watch: Watch
) -> None:
    """Tab out of the open drawer went on into the conversation behind it, to "Abrir historial"
    and the messages that the drawer covers, and a screen reader read them as if shown. While
    the drawer is open the conversation is now inert; a tap on it still closes the drawer."""
    user = live_app.create_user(full_name="Teodoro Teléfono")
    live_app.create_conversation(user["id"], "Consumo de marzo", [("user", "Hola")])
    with _phone(browser, watch, touch=False) as page:
        login(page, live_app.base_url, user["email"], user["password"])
        drawer = page.get_by_role("button", name="Abrir historial")
        drawer.focus()
        page.keyboard.press("Enter")
        expect(page.locator("#conv-search")).to_be_focused()
        page.locator(".conv-link", has_text="Consumo de marzo").focus()
        page.keyboard.press("Tab")
        assert page.evaluate("() => !document.activeElement.closest('.chat-main')")
        expect(page.locator(".composer-wrap")).to_have_js_property("inert", True)
        expect(drawer).to_have_attribute("aria-expanded", "true")

        page.mouse.click(350, 400)  # on the dimmed conversation
        expect(drawer).to_have_attribute("aria-expanded", "false")
        expect(page.locator("#sidebar")).not_to_be_in_viewport()
        expect(page.locator(".composer-wrap")).to_have_js_property("inert", False)
        drawer.click()
        expect(page.locator("#sidebar")).to_be_in_viewport()
        help_box = page.get_by_role("button", name="Atajos de teclado").bounding_box()
        assert help_box
        page.mouse.click(help_box["x"] + 5, help_box["y"] + 5)  # beside the drawer: closes it
        expect(drawer).to_have_attribute("aria-expanded", "false")
        expect(page.get_by_role("dialog")).to_have_count(0)


def test_with_the_on_screen_keyboard_open_the_composer_and_the_conversation_fit(
    browser: Browser, live_app: LiveApp, watch: Watch
) -> None:
    """With a phone's keyboard open the page is 350 px high (the viewport asks to be resized
    above the keyboard, not covered by it): a message of a few lines grew the field to 220 px
    and, with the note under it, pushed the send button off the screen and squeezed the
    conversation to nothing."""
    user = live_app.create_user(full_name="Tecla Virtual")
    conv = live_app.create_conversation(
        user["id"], "Turnos", [("user", "Hola"), ("assistant", "Un kilovatio hora. " * 30)]
    )
    with _phone(browser, watch, touch=True) as page:
        login(page, live_app.base_url, user["email"], user["password"])
        page.goto(f"{live_app.base_url}/#/chat/{conv}")
        expect(page.locator(".msg-assistant .md")).to_contain_text("kilovatio")
        viewport = page.locator("meta[name=viewport]")
        expect(viewport).to_have_attribute("content", re.compile(r"resizes-content"))
        page.set_viewport_size({"width": 375, "height": 350})
        page.locator("#composer-input").fill("Una línea\n" * 6)
        expect(page.locator("#send-btn")).to_be_in_viewport(ratio=1)
        assert page.evaluate("() => document.documentElement.scrollHeight <= innerHeight")
        messages = page.locator("#messages").bounding_box()
        assert messages and messages["height"] >= 60


def test_a_long_conversation_scrolls_with_the_keyboard(page: Page, live_app: LiveApp) -> None:
    """The messages' scroller had tabindex="-1": with no control in view (a long answer) the
    keyboard could not scroll back through it. It is now a named tab stop after the header."""
    user = _login_new_worker(page, live_app)
    long_answer = "\n\n".join(f"Párrafo {n}: " + "texto de la respuesta " * 12 for n in range(40))
    conv = live_app.create_conversation(
        user["id"], "Informe", [("user", "Un informe largo"), ("assistant", long_answer)]
    )
    page.goto(f"{live_app.base_url}/#/chat/{conv}")
    messages = page.get_by_role("region", name="Mensajes")
    expect(messages).to_contain_text("Párrafo 39")
    page.wait_for_function("() => document.querySelector('#messages').scrollTop > 0")
    page.get_by_role("button", name="Atajos de teclado").focus()
    page.keyboard.press("Tab")
    expect(messages).to_be_focused()
    page.keyboard.press("Home")
    page.wait_for_function("() => document.querySelector('#messages').scrollTop === 0")
    page.keyboard.press("PageDown")
    page.wait_for_function("() => document.querySelector('#messages').scrollTop > 0")


def test_switching_versions_says_which_version_is_shown(page: Page, live_app: LiveApp) -> None:
    """After ‹ or › the focus lands on the button of the message drawn again, inside a group
    named only "Versiones": the "2/3" beside it was never read. The group now says it."""
    user = _login_new_worker(page, live_app)
    conv = live_app.create_conversation(
        user["id"],
        "Versiones",
        [("user", "Pregunta"), ("assistant", "Respuesta nueva")],
        versions={1: ["Respuesta vieja"]},
    )
    page.goto(f"{live_app.base_url}/#/chat/{conv}")
    answer = page.locator(".msg-assistant")
    expect(answer.locator(".md")).to_have_text("Respuesta nueva")
    expect(answer.get_by_role("group", name="Versión 2 de 2")).to_be_visible()
    answer.get_by_role("button", name="Versión anterior").focus()
    page.keyboard.press("Enter")
    expect(answer.locator(".md")).to_have_text("Respuesta vieja")
    focused_group = page.locator(".versions:focus-within")
    expect(focused_group).to_have_accessible_name("Versión 1 de 2")
    expect(page.get_by_role("button", name="Versión siguiente")).to_be_focused()


def test_a_new_screen_gets_its_title_and_the_focus(page: Page, live_app: LiveApp) -> None:
    """Configuración chosen by keyboard left the focus on <body> (its menu item was gone with
    the old screen) and the window's title still named the conversation left behind."""
    user = _login_new_worker(page, live_app)
    conv = live_app.create_conversation(user["id"], "Turnos", [("user", "Hola")])
    page.goto(f"{live_app.base_url}/#/chat/{conv}")
    expect(page).to_have_title("Turnos · EnergyApp")
    page.locator(".profile-btn").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # Configuración
    expect(page.get_by_role("heading", name="Configuración", level=1)).to_be_focused()
    expect(page).to_have_title("Configuración · EnergyApp")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Editar nombre")).to_be_focused()
    page.get_by_role("link", name="Chat", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#composer-input")).to_be_focused()
    expect(page).to_have_title("EnergyApp LLM")


def test_two_questions_edited_at_once_each_describe_their_own_count(
    page: Page, live_app: LiveApp
) -> None:
    """Every edit box pointed to id "edit-counter": with two questions open in Editar, the
    second field was described by the first one's count."""
    user = _login_new_worker(page, live_app)
    conv = live_app.create_conversation(
        user["id"],
        "Dos preguntas",
        [("user", "Uno"), ("assistant", "R1"), ("user", "Pregunta dos"), ("assistant", "R2")],
    )
    page.goto(f"{live_app.base_url}/#/chat/{conv}")
    expect(page.locator(".msg-assistant")).to_have_count(2)
    for question in page.locator(".msg-user").all():
        question.get_by_role("button", name="Editar").click()
    fields = page.get_by_role("textbox", name="Editar mensaje")
    expect(fields).to_have_count(2)
    expect(fields.nth(0)).to_have_accessible_description("3 / 500")
    expect(fields.nth(1)).to_have_accessible_description("12 / 500")


def test_the_lists_refresh_does_not_repeat_its_status(page: Page, live_app: LiveApp) -> None:
    """The list is drawn again on every refresh (a window focus, every 30 s): its polite status
    was written again each time, and a screen reader heard "Aún no hay conversaciones." (or
    "Sin resultados para su búsqueda.") over and over."""
    _login_new_worker(page, live_app)
    status = page.locator(".list-status")
    expect(status).to_have_text("Aún no hay conversaciones.")
    # The folders are read beside the list: their first status is written once, before listening.
    expect(page.locator(".folder-status")).to_have_text("Aún no tiene carpetas.")
    page.evaluate(LISTEN)
    for _ in range(3):
        with page.expect_response(lambda r: "/conversations?" in r.url):
            page.evaluate("() => window.dispatchEvent(new Event('focus'))")
    page.wait_for_timeout(300)  # the answers are drawn
    assert _heard(page) == []
    expect(status).to_have_text("Aún no hay conversaciones.")
