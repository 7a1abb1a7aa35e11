"""Hostile text from the model, a title or a user name renders as text; no script ever runs."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import LiveApp, Watch, login

pytestmark = pytest.mark.browser

PAYLOADS = [
    "<img src=x onerror=alert('img')>",
    "<script>alert('script')</script>",
    "[haz clic](javascript:alert('link'))",
    "[ref][x]\n\n[x]: javascript:alert('ref')",
    "<a href=\"javascript:alert('a')\">enlace</a>",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![imagen](x\" onerror=\"alert('md-img'))",
    "<svg onload=alert('svg')>",
    "<iframe src=javascript:alert('iframe')></iframe>",
]
NAME = "<img src=x onerror=alert('name')>Eva"
TITLE = "<script>alert('title')</script>Título"


def test_hostile_answer_title_and_name_render_as_text(page: Page, live_app: LiveApp) -> None:
    answer = "Respuesta:\n\n" + "\n\n".join(PAYLOADS) + "\n\n[seguro](https://example.com)"
    user = live_app.create_user(full_name=NAME)
    live_app.create_conversation(user["id"], TITLE, [("user", PAYLOADS[0]), ("assistant", answer)])
    login(page, live_app.base_url, user["email"], user["password"])

    expect(page.locator(".conv-title").first).to_have_text(TITLE)
    expect(page.locator(".profile-name")).to_have_text(NAME)
    page.locator(".conv-link").first.click()
    body = page.locator(".msg-assistant .md")
    expect(body).to_contain_text("<img src=x onerror=alert('img')>")
    expect(body).to_contain_text("<script>alert('script')</script>")
    expect(page.locator(".msg-user .bubble")).to_have_text(PAYLOADS[0])
    assert page.locator(".md img, .md script, .md iframe, .md svg").count() == 0
    hrefs = page.locator(".md a").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    # Unsafe links keep their text but lose the href; only the https one stays a link.
    assert [h for h in hrefs if h is not None] == ["https://example.com"]
    assert len(hrefs) >= 4
    assert page.locator(".md [onerror], .md [onload]").count() == 0
    # Clicking the neutralised link does nothing (the page fixture fails on any dialog).
    page.locator(".md a", has_text="haz clic").click()
    page.wait_for_timeout(200)


def test_hostile_name_in_admin_panel(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user(full_name=NAME)
    conv = live_app.create_conversation(
        user["id"], TITLE, [("user", "hola"), ("assistant", "\n\n".join(PAYLOADS))]
    )
    admin = live_app.create_user(role="admin", full_name="Admin XSS")
    login(page, live_app.base_url, admin["email"], admin["password"])
    page.goto(f"{live_app.base_url}/static/index.html#/admin/usuarios")
    page.fill("#user-search", user["email"])
    expect(page.locator(f"tr[data-user-id='{user['id']}'] td").first).to_have_text(NAME)
    page.goto(f"{live_app.base_url}/static/index.html#/admin/usuario/{user['id']}")
    expect(page.locator("#user-conversations tbody td").first).to_have_text(TITLE)
    page.goto(f"{live_app.base_url}/static/index.html#/admin/conversacion/{conv}")
    expect(page.locator("#admin-viewer .md")).to_contain_text("<svg onload=alert('svg')>")
    assert page.locator("#admin-viewer .md :is(img, svg, iframe, script)").count() == 0


# LaTeX is typeset by temml into MathML, which DOMPurify lets through: hostile TeX and hostile
# MathML (as if temml wrote it) must bring no link, script, style or event attribute with them.
TEX_PAYLOADS = [
    r"$\href{javascript:alert('href')}{clic}$",
    r"\( \url{javascript:alert('url')} \)",
    r"\[ \includegraphics{javascript:alert('img')} \]",
    r"$\htmlStyle{background:url(javascript:alert('style'))}{x}$",
    r"$$ \color{red}{x} \mathcolor{#000}{y} \colorbox{black}{z} $$",
    r"\( \text{</math><img src=x onerror=alert('mtext')>} \)",
    r"$\mathrm{\"><svg onload=alert('svg')>}$",
    r"\( \def\x{\x}\x \)",
]
MATHML_PAYLOADS = [
    "<math><maction actiontype='statusline#javascript:alert(1)'><mtext>x</mtext>"
    "<mtext>y</mtext></maction></math>",
    "<math><mi href='javascript:alert(2)'>x</mi><mrow href='https://example.com'>y</mrow></math>",
    "<math xmlns:xlink='http://www.w3.org/1999/xlink'>"
    "<mrow xlink:href='javascript:alert(3)'>x</mrow></math>",
    "<math><mi style='color:red' mathcolor='red'"
    " mathbackground='url(javascript:alert(4))'>x</mi></math>",
    "<math><annotation-xml encoding='text/html'>"
    "<img src=x onerror=alert(5)></annotation-xml></math>",
    "<math><semantics><mi>x</mi><annotation encoding='text/html'><img src=x onerror=alert(6)>"
    "</annotation></semantics></math>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(7)>"
    "</style></mglyph></table></mtext></math>",
    "<math><a href='javascript:alert(8)'>a</a><mi onclick='alert(9)' id='clobber'>x</mi></math>",
    "<math><mi>ok</mi></math><svg><a xlink:href='javascript:alert(10)'><text>t</text></a></svg>",
]
BAD_MATH = (
    ".md :is(img, script, iframe, svg, style, maction, annotation-xml, mglyph,"
    " a[href^='javascript']), .md [style], .md [onerror], .md [onload], .md [onclick],"
    " .md [id], .md math [href], .md [mathcolor], .md [mathbackground]"
)


def test_hostile_latex_in_an_answer_brings_no_script(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user(full_name="Tomás TeX")
    answer = "Fórmulas:\n\n" + "\n\n".join(TEX_PAYLOADS)
    conv = live_app.create_conversation(
        user["id"], "TeX", [("user", "hola"), ("assistant", answer)]
    )
    login(page, live_app.base_url, user["email"], user["password"])
    page.goto(f"{live_app.base_url}/#/chat/{conv}")
    body = page.locator(".msg-assistant .md")
    expect(body).to_contain_text("Fórmulas:")
    expect(body.locator("math").first).to_be_attached()
    assert page.locator(BAD_MATH).count() == 0
    assert page.locator(".md [href]").count() == 0
    # Commands that need trust (links, pictures, styles) are shown as their source, as text.
    expect(body.locator("code.math-error").first).to_contain_text("javascript:alert('href')")
    page.wait_for_timeout(200)


def test_the_sanitizer_keeps_mathml_and_drops_its_tricks(
    page: Page, live_app: LiveApp, watch: Watch
) -> None:
    page.goto(f"{live_app.base_url}/static/index.html")
    page.wait_for_load_state("load")
    result = page.evaluate(
        """async (payloads) => {
          const { sanitize } = await import("/static/js/markdown.js");
          const div = document.createElement("div");
          div.className = "md";
          document.body.append(div);
          for (const html of payloads) div.append(sanitize(html));
          const names = new Set();
          for (const el of div.querySelectorAll("*")) {
            for (const a of el.attributes) names.add(a.name);
          }
          return { maths: div.querySelectorAll("math").length,
                   mi: div.querySelectorAll("math mi").length, attributes: [...names].sort() };
        }""",
        MATHML_PAYLOADS,
    )
    assert result["maths"] == len(MATHML_PAYLOADS)
    assert result["mi"] >= 4  # the harmless MathML stays MathML
    assert set(result["attributes"]) <= {"encoding", "class"}
    assert page.locator(BAD_MATH).count() == 0
    page.wait_for_timeout(200)
    # DOMPurify parses in an inert document under the page's CSP, which refuses (and reports) the
    # raw markup's inline handlers and styles; answers never get there (marked escapes raw HTML).
    refused = ("Applying inline style violates", "Executing inline event handler violates")
    watch.errors[:] = [e for e in watch.errors if not e.startswith(refused)]
