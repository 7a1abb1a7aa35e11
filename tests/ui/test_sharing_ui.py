"""Shared links ("Compartir"): the owner creates a link from the conversation's header and
copies it; another account opens it (after signing in, back to the link), reads the shared
branch with hostile Markdown rendered inert, and continues it in a copy of its own; the owner
stops sharing from Configuración and the link then says it is gone; the shared page fits a
phone."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.ui.conftest import LiveApp, Watch, login

pytestmark = pytest.mark.browser

HOSTILE = "Mire esto: <img src=x onerror=alert('shared')> y **negrita**"
# In "usted", as the whole interface.
EXPLAINED = (
    "Cualquier persona con una cuenta en EnergyApp que tenga el enlace podrá leer esta "
    "conversación tal como está ahora. Los mensajes que agregue después no se verán hasta que "
    "actualice el enlace."
)


@pytest.fixture
def reader_page(browser: Browser) -> Iterator[Page]:
    """A second person's browser: its own storage, the same checks as ``page``."""
    ctx: BrowserContext = browser.new_context(
        viewport={"width": 375, "height": 740}, locale="es-CL"
    )
    ctx.set_default_timeout(15_000)
    watch = Watch()
    pg = ctx.new_page()
    pg.on("console", watch.on_console)
    pg.on("pageerror", lambda exc: watch.errors.append(f"pageerror: {exc}"))
    pg.on("dialog", lambda dialog: (watch.dialogs.append(dialog.message), dialog.dismiss()))
    yield pg
    ctx.close()
    watch.assert_clean()


def _share_link(page: Page, context: BrowserContext, live_app: LiveApp, conversation: str) -> str:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app.base_url)
    page.goto(f"{live_app.base_url}/#/chat/{conversation}")
    page.get_by_role("button", name="Compartir").click()
    dialog = page.get_by_role("dialog", name="Compartir conversación")
    expect(dialog).to_contain_text(EXPLAINED)
    dialog.get_by_role("button", name="Crear enlace").click()
    field = dialog.get_by_label("Enlace", exact=True)
    expect(field).to_have_value(re.compile(re.escape(f"{live_app.base_url}/#/compartida/")))
    url = field.input_value()
    copy = dialog.get_by_role("button", name="Copiar enlace")
    expect(copy).to_be_focused()
    copy.click()
    expect(dialog.locator("#share-status")).to_have_text("Enlace copiado.")
    assert page.evaluate("() => navigator.clipboard.readText()") == url
    dialog.get_by_role("button", name="Cerrar").click()
    expect(page.get_by_role("button", name="Compartir")).to_be_focused()
    return url


def test_share_read_and_continue(
    page: Page, context: BrowserContext, reader_page: Page, live_app: LiveApp
) -> None:
    owner = live_app.create_user(full_name="Ana Soto")
    reader = live_app.create_user(full_name="Luis Rojas")
    conversation = live_app.create_conversation(
        owner["id"],
        "Tarifas eléctricas",
        [("user", "<img src=x onerror=alert('question')>"), ("assistant", HOSTILE)],
    )
    login(page, live_app.base_url, owner["email"], owner["password"])
    url = _share_link(page, context, live_app, conversation)

    # Not signed in: the login first, then back to the link.
    reader_page.goto(url)
    reader_page.fill("#login-email", reader["email"])
    reader_page.fill("#login-password", reader["password"])
    reader_page.click("button[type=submit]")
    expect(reader_page.locator("#shared-title")).to_have_text("Tarifas eléctricas")
    expect(reader_page.locator("#shared-byline")).to_have_text(
        re.compile(r"^Conversación compartida por Ana Soto · \d{2}-\d{2}-\d{4} \d{2}:\d{2}$")
    )
    answer = reader_page.locator("#shared-messages .msg-assistant .md")
    expect(answer).to_contain_text("<img src=x onerror=alert('shared')>")
    expect(answer.locator("strong")).to_have_text("negrita")
    expect(reader_page.locator("#shared-messages .msg-user .bubble")).to_have_text(
        "<img src=x onerror=alert('question')>"
    )
    assert reader_page.locator("#shared-messages img:not(.bot-avatar)").count() == 0
    assert reader_page.locator("#shared-messages [onerror]").count() == 0
    assert reader_page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")

    reader_page.get_by_role("button", name="Continuar en mi cuenta").click()
    expect(reader_page).to_have_url(re.compile(r"#/chat/[0-9a-f-]{36}$"))
    expect(reader_page.locator(".msg-assistant .md")).to_contain_text("negrita")
    expect(reader_page.locator(".msg-user .bubble")).to_have_text(
        "<img src=x onerror=alert('question')>"
    )
    expect(reader_page.locator("h1")).to_contain_text("Tarifas eléctricas (copia)")


def test_stop_sharing_from_configuration(
    page: Page, context: BrowserContext, reader_page: Page, live_app: LiveApp
) -> None:
    owner = live_app.create_user(full_name="Ana Soto")
    reader = live_app.create_user()
    conversation = live_app.create_conversation(
        owner["id"], "Presupuesto", [("user", "Hola"), ("assistant", "Hola, ¿en qué le ayudo?")]
    )
    login(page, live_app.base_url, owner["email"], owner["password"])
    url = _share_link(page, context, live_app, conversation)
    login(reader_page, live_app.base_url, reader["email"], reader["password"])
    reader_page.goto(url)
    expect(reader_page.locator("#shared-title")).to_have_text("Presupuesto")

    page.goto(f"{live_app.base_url}/#/config")
    card = page.locator("section", has=page.get_by_role("heading", name="Enlaces compartidos"))
    expect(card.get_by_role("link", name="Presupuesto")).to_be_visible()
    expect(card).to_contain_text("1 visita")
    card.get_by_role("button", name="Dejar de compartir «Presupuesto»").click()
    page.get_by_role("dialog").get_by_role("button", name="Dejar de compartir").click()
    expect(card.locator("#shared-links-status")).to_have_text("Se dejó de compartir «Presupuesto».")
    expect(card.get_by_role("link", name="Presupuesto")).to_have_count(0)
    expect(page.get_by_role("heading", name="Enlaces compartidos")).to_be_focused()

    reader_page.reload()
    expect(reader_page.get_by_role("alert")).to_have_text(
        "Este enlace no existe o dejó de compartirse."
    )
    expect(reader_page.get_by_role("button", name="Continuar en mi cuenta")).to_have_count(0)

    # Shared again from the dialog: a new link; "Dejar de compartir" there puts "Crear enlace" back.
    page.goto(f"{live_app.base_url}/#/chat/{conversation}")
    page.get_by_role("button", name="Compartir").click()
    dialog = page.get_by_role("dialog", name="Compartir conversación")
    dialog.get_by_role("button", name="Crear enlace").click()
    expect(dialog.get_by_label("Enlace", exact=True)).not_to_have_value(url)
    dialog.get_by_role("button", name="Actualizar enlace").click()
    expect(dialog.locator("#share-status")).to_contain_text("Enlace actualizado")
    dialog.get_by_role("button", name="Dejar de compartir").click()
    expect(dialog.get_by_role("button", name="Crear enlace")).to_be_focused()


def test_a_failed_answer_says_so_on_the_shared_page(
    page: Page, context: BrowserContext, reader_page: Page, live_app: LiveApp
) -> None:
    """As in the chat, an answer that failed (or was stopped, or is being continued) carries
    its pill and, failed, the reason: without them a failed answer is a blank bubble."""
    owner = live_app.create_user()
    reader = live_app.create_user()
    conversation = live_app.create_conversation(
        owner["id"],
        "Caída",
        [("user", "Hola"), ("assistant", "Bien.")] + [("user", "¿Y?"), ("assistant", "")],
        last_error="llm_unavailable",
    )
    login(page, live_app.base_url, owner["email"], owner["password"])
    url = _share_link(page, context, live_app, conversation)
    login(reader_page, live_app.base_url, reader["email"], reader["password"])
    reader_page.goto(url)
    answers = reader_page.locator("#shared-messages .msg-assistant")
    expect(answers).to_have_count(2)
    expect(answers.nth(1).locator(".pill")).to_have_text("Respuesta con error")
    # And why, as the owner reads it in the chat.
    expect(answers.nth(1).locator(".msg-error")).to_have_text(
        "El servicio del modelo (Ollama) no estaba disponible. Puede reintentar cuando vuelva."
    )
    expect(answers.nth(0).locator(".pill")).to_have_count(0)
    expect(answers.nth(0).locator(".msg-error, .msg-cut")).to_have_count(0)


def test_copy_without_the_clipboard_leaves_the_link_selected(
    page: Page, context: BrowserContext, live_app: LiveApp
) -> None:
    """Clipboard refused (Configuración, whose card shows titles, not links) or missing (a page
    served over plain HTTP, where navigator.clipboard is undefined: the dialog): the link is
    left selected in a field, to copy by hand, and the status says so."""
    owner = live_app.create_user()
    conversation = live_app.create_conversation(
        owner["id"], "Presupuesto", [("user", "Hola"), ("assistant", "Hola, ¿en qué le ayudo?")]
    )
    login(page, live_app.base_url, owner["email"], owner["password"])
    url = _share_link(page, context, live_app, conversation)
    by_hand = "No se pudo copiar: el enlace quedó seleccionado para copiarlo a mano."
    selected = "(el) => el.selectionStart === 0 && el.selectionEnd === el.value.length"

    page.goto(f"{live_app.base_url}/#/config")
    card = page.locator("section", has=page.get_by_role("heading", name="Enlaces compartidos"))
    expect(card.get_by_role("link", name="Presupuesto")).to_be_visible()
    page.evaluate("() => { navigator.clipboard.writeText = () => Promise.reject(new Error()); }")
    card.get_by_role("button", name="Copiar el enlace de «Presupuesto»").click()
    expect(card.locator("#shared-links-status")).to_have_text(by_hand)
    field = card.get_by_role("textbox", name="Enlace de «Presupuesto»")
    expect(field).to_have_value(url)
    expect(field).to_be_focused()
    assert field.evaluate(selected)

    page.goto(f"{live_app.base_url}/#/chat/{conversation}")
    page.evaluate("() => Object.defineProperty(navigator, 'clipboard', { value: undefined })")
    page.get_by_role("button", name="Compartir").click()
    dialog = page.get_by_role("dialog", name="Compartir conversación")
    dialog.get_by_role("button", name="Copiar enlace").click()
    expect(dialog.locator("#share-status")).to_have_text(by_hand)
    expect(dialog.get_by_label("Enlace", exact=True)).to_be_focused()
    assert dialog.get_by_label("Enlace", exact=True).evaluate(selected)
