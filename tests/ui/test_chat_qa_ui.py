"""Defects found by an exploratory pass over the chat as a person uses it: where the focus goes
after Regenerar, an edit or Reintentar; the title of a conversation whose first answer was
stopped; the "model down" band once the model answers; the phone's drawer and composer; a
draft kept per conversation; Detener before `meta`; raw HTML and table alignment in answers;
the status region not drawn anew for every token."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.ui.conftest import LiveApp, Watch, login

pytestmark = pytest.mark.browser

ANSWER = ".msg-assistant"
HEALTH = re.compile(r".*/health$")


def _login_new_worker(page: Page, live_app: LiveApp) -> dict[str, str]:
    user = live_app.create_user(full_name="Quintina Calidad")
    login(page, live_app.base_url, user["email"], user["password"])
    return user


def _send(page: Page, text: str) -> None:
    page.fill("#composer-input", text)
    page.keyboard.press("Enter")


def _answered(page: Page) -> None:
    """The last answer is complete and its stream read to the end (title included)."""
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "complete")
    page.wait_for_function("() => sessionStorage.getItem('energyapp.streaming') === null")
    expect(page.locator("#send-btn")).to_be_visible()


def test_regenerate_and_edit_by_keyboard_keep_the_focus_off_the_body(
    page: Page, live_app: LiveApp
) -> None:
    _login_new_worker(page, live_app)
    _send(page, "Primera pregunta")
    _answered(page)
    composer = page.locator("#composer-input")

    # "Regenerar" is removed with the answer it replaces: the focus goes to the composer.
    page.locator(ANSWER).last.get_by_role("button", name="Regenerar").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#stop-btn")).to_be_visible()
    expect(composer).to_be_focused()
    _answered(page)

    # The regenerated answer's branch is drawn again once it is complete (its versions): wait for
    # it, or the focus below lands on a button about to be replaced.
    expect(page.locator(ANSWER).last.get_by_role("group", name="Versión 2 de 2")).to_be_visible()
    # Editar, then Enter: the field is gone once sent; the composer has the focus, so Esc stops.
    edit = page.locator(".msg-user").last.get_by_role("button", name="Editar")
    edit.focus()
    expect(edit).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("textbox", name="Editar mensaje")).to_be_focused()
    page.keyboard.press("End")
    page.keyboard.type(", con más detalle")
    page.keyboard.press("Enter")
    expect(page.locator("#stop-btn")).to_be_visible()
    expect(composer).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "stopped")


def test_a_stopped_first_answer_shows_the_conversations_name(page: Page, live_app: LiveApp) -> None:
    _login_new_worker(page, live_app)
    _send(page, "Cómo bajar el consumo eléctrico de noche")
    expect(page.locator(f"{ANSWER} .md").last).not_to_be_empty()
    page.get_by_role("button", name="Detener").click()
    expect(page.locator(ANSWER).last).to_have_attribute("data-status", "stopped")
    # The server named it after the question's first words; no `title` event comes for a
    # stopped answer, so the screen asks for it instead of keeping "Nueva conversación".
    named = re.compile(r"^Cómo bajar el consumo")
    expect(page.locator("h1.title")).to_have_text(named)
    expect(page.locator(".conv-item.active .conv-title")).to_have_text(named)
    expect(page).to_have_title(re.compile(r"^Cómo bajar el consumo .* · EnergyApp$"))


def test_the_model_down_band_goes_once_the_model_answers(page: Page, live_app: LiveApp) -> None:
    asked: list[str] = []

    def down_first(route: Route) -> None:
        asked.append(route.request.url)
        if len(asked) == 1:  # Ollama was down when the screen opened; it is back since
            body = {"status": "degraded", "db": "ok", "ollama": "unavailable", "version": "t"}
            route.fulfill(json=body)
        else:
            route.continue_()

    page.route(HEALTH, down_first)
    _login_new_worker(page, live_app)
    warning = page.locator("#model-warning")
    expect(warning).to_be_visible()
    _send(page, "Hola")
    # An answer streaming is proof enough: the band (checked again only every 30 s) goes now.
    expect(page.locator(f"{ANSWER} .md").last).not_to_be_empty()
    expect(warning).to_be_hidden()
    expect(page.locator("#model-select")).to_be_visible()  # the picker /models failed to fill
    _answered(page)
    assert len(asked) == 1


def test_phone_drawer_leaves_the_tab_order_when_closed_and_composer_fits(
    browser: Browser, live_app: LiveApp, watch: Watch
) -> None:
    user = live_app.create_user(full_name="Teresa Teléfono")
    live_app.create_conversation(user["id"], "Consumo de febrero", [("user", "Hola")])
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="es-CL")
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
        login(page, live_app.base_url, user["email"], user["password"])
        # Two stand-in models: the picker shows "… (reemplazo)"; the send button stays inside
        # the composer instead of being cut off at the screen's edge.
        expect(page.locator("#model-select")).to_be_visible()
        composer = page.locator(".composer").bounding_box()
        send = page.locator("#send-btn").bounding_box()
        assert composer and send
        assert send["x"] + send["width"] <= composer["x"] + composer["width"]

        # Closed, the drawer's controls are neither shown nor reachable with Tab.
        menu = page.get_by_role("button", name="Abrir historial")
        expect(menu).to_have_attribute("aria-expanded", "false")
        expect(page.locator("#conv-search")).to_be_hidden()
        page.get_by_role("button", name=re.compile(r"menú de perfil")).focus()
        page.keyboard.press("Tab")
        expect(menu).to_be_focused()

        # Opened, the search has the focus; Escape closes it and gives the focus back.
        page.keyboard.press("Enter")
        expect(menu).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#conv-search")).to_be_focused()
        expect(page.locator(".conv-link", has_text="Consumo de febrero")).to_be_visible()
        page.keyboard.press("Escape")
        expect(menu).to_be_focused()
        expect(menu).to_have_attribute("aria-expanded", "false")
        expect(page.locator("#conv-search")).to_be_hidden()
    finally:
        context.close()
    watch.assert_clean()


def test_a_draft_waits_in_its_conversation_while_another_is_looked_at(
    page: Page, live_app: LiveApp
) -> None:
    user = _login_new_worker(page, live_app)
    other = live_app.create_conversation(
        user["id"], "Consumo de marzo", [("user", "Hola"), ("assistant", "Hola, ¿en qué le ayudo?")]
    )
    page.reload()
    composer = page.locator("#composer-input")
    page.fill("#composer-input", "Pregunta larga a medio escribir\nsobre la tarifa")
    page.locator(f".conv-item[data-id='{other}'] .conv-link").click()
    expect(page.locator("h1.title")).to_have_text("Consumo de marzo")
    expect(composer).to_have_value("")
    page.fill("#composer-input", "Otra a medias")

    page.get_by_role("button", name="Nueva conversación", exact=True).click()
    expect(composer).to_have_value("Pregunta larga a medio escribir\nsobre la tarifa")
    expect(page.locator("#composer-counter")).to_have_text("47 / 500")
    page.locator(f".conv-item[data-id='{other}'] .conv-link").click()
    expect(composer).to_have_value("Otra a medias")

    # Sent (once the conversation is drawn), it is no draft any more.
    expect(page.locator(".msg-user .bubble").last).to_have_text("Hola")
    composer.press("Enter")
    expect(page.locator(".msg-user .bubble").last).to_have_text("Otra a medias")
    _answered(page)
    page.get_by_role("button", name="Nueva conversación", exact=True).click()
    page.locator(f".conv-item[data-id='{other}'] .conv-link").click()
    expect(page.locator(".msg-user .bubble").last).to_have_text("Otra a medias")
    expect(composer).to_have_value("")


def test_nothing_is_sent_into_a_conversation_still_loading(page: Page, live_app: LiveApp) -> None:
    """A draft comes back the moment its conversation opens: Enter then sent it, and the
    conversation drawn a moment later swept the question and its answer off the screen."""
    user = _login_new_worker(page, live_app)
    other = live_app.create_conversation(
        user["id"], "Tarifas", [("user", "Hola"), ("assistant", "Hola, ¿en qué le ayudo?")]
    )
    page.reload()
    held: list[Route] = []
    holding = [True]
    page.route(
        re.compile(r".*/conversations/[^/?]+/messages.*"),
        lambda route: held.append(route) if holding[0] else route.continue_(),
    )
    asked: list[str] = []
    page.on("request", lambda request: asked.append(f"{request.method} {request.url}"))
    page.locator(f".conv-item[data-id='{other}'] .conv-link").click()
    composer = page.locator("#composer-input")
    composer.fill("¿Y en invierno?")
    expect(page.locator("#send-btn")).to_be_disabled()
    composer.press("Enter")
    for _ in range(400):
        if held:
            break
        page.wait_for_timeout(25)
    assert held and not [url for url in asked if url.startswith("POST") and url.endswith("/chat")]
    expect(composer).to_have_value("¿Y en invierno?")  # nothing lost
    holding[0] = False
    for route in held:
        route.continue_()
    expect(page.locator(".msg-user .bubble").last).to_have_text("Hola")
    expect(page.locator("#send-btn")).to_be_enabled()
    composer.press("Enter")
    expect(page.locator(".msg-user .bubble").last).to_have_text("¿Y en invierno?")
    _answered(page)
    expect(page.locator(".msg-user .bubble")).to_have_count(2)


def test_detener_before_the_answer_has_an_id_still_stops_it(page: Page, live_app: LiveApp) -> None:
    _login_new_worker(page, live_app)
    held: list[Route] = []
    page.route("**/chat", lambda route: held.append(route))  # it waits, as on a busy server
    _send(page, "Una pregunta larga")
    page.wait_for_function("() => document.querySelector('#stop-btn:not([hidden])')")
    for _ in range(400):  # the button shows before the request reaches the route
        if held:
            break
        page.wait_for_timeout(25)
    assert len(held) == 1
    page.keyboard.press("Escape")  # the composer has the focus: Esc is "Detener"
    held[0].continue_()
    answer = page.locator(ANSWER).last
    expect(answer).to_have_attribute("data-status", "stopped")
    expect(answer.locator(".pill")).to_have_text("Respuesta detenida")
    expect(page.locator("#composer-input")).to_be_focused()


PAGE_ANSWER = (
    "Aquí tiene la página:\n\n"
    '<div class="tarjeta">\n  <h2>Consumo</h2>\n</div>\n\n'
    "| Mes | Consumo (kWh) |\n|:----|----:|\n| Enero | 1.234 |\n| Febrero | 987 |"
)


def _open_answer(page: Page, live_app: LiveApp, answer: str) -> None:
    user = _login_new_worker(page, live_app)
    conv = live_app.create_conversation(
        user["id"], "Página", [("user", "Hazme una página"), ("assistant", answer)]
    )
    page.goto(f"{live_app.base_url}/static/index.html#/chat/{conv}")
    expect(page.locator(f"{ANSWER} .md")).to_contain_text("Aquí tiene la página")


def test_html_written_without_a_code_fence_keeps_its_lines(page: Page, live_app: LiveApp) -> None:
    _open_answer(page, live_app, PAGE_ANSWER)
    body = page.locator(f"{ANSWER} .md")
    # Shown as text (never as elements), line by line and indented as the model wrote it.
    assert '<div class="tarjeta">\n  <h2>Consumo</h2>\n</div>' in body.inner_text()
    assert body.locator("div, h2").count() == 0


def test_a_tables_column_alignment_is_kept(page: Page, live_app: LiveApp) -> None:
    _open_answer(page, live_app, PAGE_ANSWER)
    cells = page.locator(f"{ANSWER} .md td")
    expect(cells).to_have_count(4)
    align = "e => getComputedStyle(e).textAlign"
    assert cells.nth(1).evaluate(align) in ("right", "-webkit-right")  # the kWh, right-aligned
    assert cells.nth(0).evaluate(align) in ("left", "start", "-webkit-left")


def test_the_generating_status_is_not_drawn_anew_for_every_token(
    page: Page, live_app: LiveApp
) -> None:
    _login_new_worker(page, live_app)
    _send(page, "Una respuesta larga")
    expect(page.locator(f"{ANSWER} .md").last).not_to_be_empty()
    # A role="status" element is announced when it appears: once, not again with every token.
    page.evaluate(
        """() => {
            window.statusDrawn = 0;
            new MutationObserver((changes) => {
                for (const change of changes)
                    for (const node of change.addedNodes)
                        if (node instanceof Element && node.matches("[role=status]"))
                            window.statusDrawn += 1;
            }).observe(document.querySelector("#messages"), { childList: true, subtree: true });
        }"""
    )
    _answered(page)
    assert page.evaluate("window.statusDrawn") == 0


def test_a_screen_reader_hears_when_the_answer_ends(page: Page, slow_app: LiveApp) -> None:
    """The answer's text is not a live region (token by token it would be noise): a polite
    status says once that it ended, stopped or complete. (An answer of the quick stand-in, 2.4
    s, could end on a loaded machine before "Detener" was clicked: this app's take 12 s.)"""
    _login_new_worker(page, slow_app)
    announcer = page.locator("#answer-announcer")
    expect(announcer).to_have_attribute("role", "status")
    _send(page, "Una pregunta")
    expect(page.locator("#stop-btn")).to_be_visible()
    page.locator("#stop-btn").click()
    expect(announcer).to_have_text("Respuesta detenida.")
    _send(page, "Otra pregunta")
    expect(page.locator("#stop-btn")).to_be_visible()
    expect(announcer).to_have_text("")  # cleared while the next answer is written
    expect(announcer).to_have_text("Respuesta completa.", timeout=60_000)


def test_an_edit_past_the_limit_is_kept_whole_and_not_sent(page: Page, live_app: LiveApp) -> None:
    """The edit box had maxlength: a long paste was cut without a word. It now keeps all of it,
    counts it like the composer, and Enviar waits until it fits."""
    _login_new_worker(page, live_app)
    _send(page, "Pregunta corta")
    _answered(page)
    limit = page.evaluate(
        "() => import('/static/js/state.js').then((m) => m.state.config.max_message_chars)"
    )
    page.locator(".msg-user").last.get_by_role("button", name="Editar").click()
    field = page.get_by_role("textbox", name="Editar mensaje")
    field.fill("a" * (limit + 5))
    assert len(field.input_value()) == limit + 5
    send = page.locator(".edit-form button[type=submit]")
    expect(send).to_be_disabled()
    expect(page.locator(".edit-form .counter")).to_have_class(re.compile(r"\bover\b"))
    field.fill("Pregunta corregida")
    expect(send).to_be_enabled()


def test_a_list_answered_after_sign_out_breaks_nothing_and_stops_there(
    page: Page, live_app: LiveApp, watch: Watch
) -> None:
    """Found by CI: the sidebar's list, answered before the person signed out but read after,
    refreshed the composer for a user who was gone ("no user is signed in" thrown in the page).
    And the sidebar left behind kept asking for the list."""
    page.clock.install()
    held: list[Route] = []

    def hold_the_first(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route(re.compile(r".*/conversations\?.*"), hold_the_first)
    _login_new_worker(page, live_app)
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the sidebar asked for no list"
    answer = held[0].fetch()  # the server answers while the person is still signed in
    assert answer.status == 200
    page.click(".profile-btn")
    page.click("[data-action=logout]")
    expect(page.locator("#login-email")).to_be_visible()
    with page.expect_event("requestfinished"):
        held[0].fulfill(response=answer)  # and the page reads it once they are gone
    page.wait_for_timeout(300)  # the answer is read and drawn after its request ends
    assert watch.errors == []
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.clock.run_for(61_000)
    page.wait_for_timeout(300)
    assert [url for url in asked if "/conversations" in url] == []
    expect(page.locator("#login-email")).to_be_visible()


def test_a_list_that_fails_to_load_is_not_asked_again_every_frame(
    page: Page, live_app: LiveApp
) -> None:
    """A failed first page of the sidebar was asked again at the next frame, and again: sixty
    requests a second for as long as the server failed. It is asked again at the next refresh."""
    asked: list[str] = []

    def failing(route: Route) -> None:
        asked.append(route.request.url)
        route.fulfill(status=503, json={"detail": "No disponible.", "code": "unavailable"})

    page.clock.install()
    page.route(re.compile(r".*/conversations\?.*"), failing)
    _login_new_worker(page, live_app)
    expect(page.locator("#sidebar")).to_contain_text("No disponible.")
    page.wait_for_timeout(1000)
    assert len(asked) == 1
    page.unroute(re.compile(r".*/conversations\?.*"))
    page.clock.run_for(31_000)  # the refresh: the list comes back
    expect(page.locator("#sidebar")).to_contain_text("Aún no hay conversaciones.")
