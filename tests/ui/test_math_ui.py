"""Formulas in answers: LaTeX becomes MathML (temml), prices in pesos stay text, code is left
alone, broken LaTeX shows as its source, a formula still streaming shows as text, and "Copiar"
gives the LaTeX back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.ui.conftest import LiveApp, login

pytestmark = pytest.mark.browser

# renderMarkdown() is what every answer goes through (stored, streamed, shared, admin viewer).
RENDER = """async (text) => {
  const { renderMarkdown } = await import("/static/js/markdown.js");
  const div = document.createElement("div");
  div.className = "md";
  document.body.append(div);
  renderMarkdown(div, text);
  const maths = [...div.querySelectorAll("math")].map((m) => ({
    display: m.getAttribute("display"),
    alttext: m.getAttribute("alttext"),
    annotation: m.querySelector("annotation")?.textContent ?? null,
    tags: [...m.querySelectorAll("*")].map((e) => e.localName),
    text: m.querySelector("semantics > :first-child")?.textContent ?? "",
    namespace: m.namespaceURI,
  }));
  const result = { html: div.innerHTML, text: div.innerText.trim(), maths,
    errors: [...div.querySelectorAll("code.math-error")].map((c) => c.textContent),
    codes: [...div.querySelectorAll("code:not(.math-error)")].map((c) => c.textContent) };
  div.remove();
  return result;
}"""

MONEY = [
    "Cuesta $5.000 y $10.000 según el plan.",
    "El precio está entre $300 y $500 por kWh.",
    "De $300-$500 según el tramo horario.",
    "Precios: $1.200,$1.500 y $2.000.",
    "Pagó US$5 y luego US$10.",
    "El cargo fijo es $1.990 (IVA incluido) y el despacho $ 2.000 $ extra.",
    "Con 3 cuotas de $15.990 paga $47.970.",
    # A `$` after a currency code, then a space and the amount, never closes a formula.
    "Precio: $1.000 (US$ 1,10).",
    "Entre $500 y US$ 600 al mes.",
    "De $5.000 a $10.000 (aprox. US$ 6 a US$ 12).",
    "Cuesta $5.000 o R$ 30 en Brasil.",
]


def _render(page: Page, text: str) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(RENDER, text)
    return result


@pytest.fixture
def app_page(page: Page, live_app: LiveApp) -> Page:
    page.goto(f"{live_app.base_url}/static/index.html")
    page.wait_for_load_state("load")
    return page


def test_inline_formulas_become_mathml(app_page: Page) -> None:
    out = _render(app_page, r"La potencia es \( P = V \cdot I \) y la energía $E=mc^2$.")
    assert len(out["maths"]) == 2
    first, second = out["maths"]
    assert first["namespace"] == "http://www.w3.org/1998/Math/MathML"
    assert first["display"] is None
    assert first["tags"][:6] == ["semantics", "mrow", "mi", "mo", "mi", "mo"]
    assert first["text"] == "P=V⋅I"
    # The source stays for screen readers (annotation and alttext), without the delimiters.
    assert first["annotation"] == r"P = V \cdot I"
    assert first["alttext"] == r"P = V \cdot I"
    assert "msup" in second["tags"]
    assert out["text"].startswith("La potencia es ")
    assert out["text"].endswith(".")


def test_display_formulas_become_block_mathml(app_page: Page) -> None:
    text = (
        "La energía:\n\n\\[ E = \\int_0^T P(t)\\,dt \\]\n\ny también\n\n"
        "$$\nW = \\frac{1}{2} C V^2\n$$\n\n"
        "En una frase \\[ R = \\frac{V}{I} \\] también."
    )
    out = _render(app_page, text)
    assert [m["display"] for m in out["maths"]] == ["block", "block", "block"]
    integral, energy, ohm = out["maths"]
    assert "msubsup" in integral["tags"]
    assert "∫" in integral["text"]
    assert "mfrac" in energy["tags"]
    assert energy["annotation"] == r"W = \frac{1}{2} C V^2"
    assert "mfrac" in ohm["tags"]
    assert out["html"].count('class="math-display"') == 3


@pytest.mark.parametrize("sentence", MONEY)
def test_prices_in_pesos_stay_text(app_page: Page, sentence: str) -> None:
    out = _render(app_page, sentence)
    assert out["maths"] == []
    assert out["errors"] == []
    assert out["text"] == sentence


def test_escaped_dollars_and_code_are_left_alone(app_page: Page) -> None:
    text = (
        "Pagó \\$x\\$ hoy y `$a$ \\( b \\)` en código.\n\n"
        "```latex\n\\[ E = mc^2 \\]\n$$x$$ y $y$\n```\n\n    $z$ indentado"
    )
    out = _render(app_page, text)
    assert out["maths"] == []
    assert out["text"].startswith("Pagó $x$ hoy y ")
    assert out["codes"][0] == "$a$ \\( b \\)"
    assert "\\[ E = mc^2 \\]\n$$x$$ y $y$" in out["codes"][1]
    assert out["codes"][2].startswith("$z$")


def test_emphasis_marks_inside_a_formula_stay_tex(app_page: Page) -> None:
    out = _render(app_page, "Sea $a*b$ y $c*d$, con _$x_1$_.")
    assert [m["annotation"] for m in out["maths"]] == ["a*b", "c*d", "x_1"]
    assert "<em>" in out["html"]  # the underscores around the formula still make emphasis


def test_invalid_latex_shows_its_source(app_page: Page) -> None:
    out = _render(
        app_page,
        "Mal: \\( \\frac{1}{ \\) y $\\notacommand{x}$ y\n\n\\[ \\begin{matrix} a \\]\n\nfin",
    )
    assert out["maths"] == []
    assert out["errors"] == [
        "\\( \\frac{1}{ \\)",
        "$\\notacommand{x}$",
        "\\[ \\begin{matrix} a \\]",
    ]
    assert out["text"].endswith("fin")


def test_a_formula_still_streaming_shows_as_text_until_closed(app_page: Page) -> None:
    partial = _render(app_page, "La energía es \\[ E = \\int_0^T P")
    assert partial["maths"] == []
    assert partial["text"] == "La energía es \\[ E = \\int_0^T P"
    inline = _render(app_page, "Con \\( P = V")
    assert inline["text"] == "Con \\( P = V"
    done = _render(app_page, "La energía es \\[ E = \\int_0^T P\\,dt \\]")
    assert [m["display"] for m in done["maths"]] == ["block"]


def _sse(*events: tuple[str, dict[str, object]]) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def test_streamed_formula_is_typeset_and_copy_gives_the_latex(
    page: Page, context: BrowserContext, live_app: LiveApp
) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app.base_url)
    user = live_app.create_user(full_name="Fernanda Fórmulas")
    login(page, live_app.base_url, user["email"], user["password"])
    answer_id = "5f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
    meta = {
        "conversation_id": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
        "user_message_id": "1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b",
        "assistant_message_id": answer_id,
    }
    parts = ["La energía es \\[ E = \\int", "_0^T P(t)\\,dt \\]", " y la potencia \\( P = V I \\)."]

    def answer(route: Route) -> None:
        done = {"assistant_message_id": answer_id, "status": "complete", "completion_tokens": 9}
        tokens = [("token", {"content": part}) for part in parts]
        body = _sse(("meta", meta), *tokens, ("done", done))
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    page.route("**/chat", answer)
    page.fill("#composer-input", "¿Qué es la energía?")
    page.keyboard.press("Enter")
    body = page.locator(".msg-assistant .md").last
    expect(body.locator("math")).to_have_count(2)
    expect(body.locator("math[display=block] annotation")).to_have_text(r"E = \int_0^T P(t)\,dt")
    page.locator(".msg-assistant").last.get_by_role("button", name="Copiar respuesta").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == "".join(parts)


def test_a_stored_answer_with_formulas_in_the_dark_theme(
    page: Page, context: BrowserContext, live_app: LiveApp
) -> None:
    """The formula takes the text's colour, so it reads in both themes."""
    user = live_app.create_user(full_name="Oscar Oscuro")
    content = (
        "La potencia es \\( P = V \\cdot I \\). En un período $T$ ($\\mathscr{L}$: Laplace):\n\n"
        "\\[ E = \\int_0^T P(t)\\,dt \\]\n\n"
        "$$ \\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix} \\quad \\sqrt{\\frac{P}{R}} $$\n\n"
        "Un kWh cuesta entre $150 y $200. Mal escrito: \\( \\frac{1}{ \\)"
    )
    conv = live_app.create_conversation(
        user["id"], "Energía", [("user", "¿E?"), ("assistant", content)]
    )
    context.add_init_script("localStorage.setItem('energyapp.theme', 'dark')")
    login(page, live_app.base_url, user["email"], user["password"])
    page.goto(f"{live_app.base_url}/#/chat/{conv}")
    body = page.locator(".msg-assistant .md").last
    expect(body.locator("math")).to_have_count(5)
    expect(body.locator("code.math-error")).to_have_text("\\( \\frac{1}{ \\)")
    colors = body.evaluate(
        "md => [getComputedStyle(md).color, getComputedStyle(md.querySelector('math mi')).color]"
    )
    assert colors[0] == colors[1]
    # temml's font for script capitals comes from /static (font-src 'self'), with no CSP report.
    page.wait_for_function(
        "() => [...document.fonts].some((f) => f.family.includes('Temml') && f.status === 'loaded')"
    )
    page.locator(".msg-assistant").last.screenshot(path=_screenshot_path("math-dark.png"))


def _screenshot_path(name: str) -> str:
    from tests.ui.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / name)


def test_a_growing_answer_keeps_the_blocks_already_shown(app_page: Page) -> None:
    """A streamed answer is rendered again on every frame: the blocks that did not change keep
    their nodes, so their formulas are not laid out again (what made long answers lag)."""
    result = app_page.evaluate(
        """async () => {
          const { renderMarkdown } = await import("/static/js/markdown.js");
          const div = document.createElement("div");
          document.body.append(div);
          const first = "Uno \\\\( a^2 \\\\)\\n\\n```python\\nx = 1\\n```\\n\\nDos";
          renderMarkdown(div, first);
          const math = div.querySelector("math"), pre = div.querySelector("pre");
          renderMarkdown(div, first + " y tres \\\\( b");
          const kept = div.querySelector("math") === math && div.querySelector("pre") === pre;
          const grown = div.lastElementChild.textContent;
          renderMarkdown(div, "Cero\\n\\n" + first);
          const shifted = div.querySelectorAll("p").length;
          div.replaceChildren();  // someone else emptied it
          renderMarkdown(div, first);
          const again = div.querySelectorAll("math, pre .code-bar").length;
          renderMarkdown(div, "");
          return { kept, grown, shifted, again, empty: div.childNodes.length };
        }"""
    )
    assert result == {
        "kept": True,
        "grown": "Dos y tres \\( b",
        "shifted": 3,
        "again": 2,
        "empty": 0,
    }
