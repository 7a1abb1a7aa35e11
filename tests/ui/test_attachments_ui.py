"""Files attached to a question: text files and PDFs read in the browser (PDFs by the vendored
pdf.js), carried in <archivo> blocks after the question, shown closed under their name; files
that cannot be read, and ones that do not fit the message limit, are refused with the reason."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import LiveApp, login

pytestmark = pytest.mark.browser


def pdf_bytes(lines: list[str]) -> bytes:
    """A one-page PDF whose text is ``lines`` (Helvetica, ASCII), with a correct xref table."""
    stream = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        " /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out


def _sign_in(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user(full_name="Ana Adjuntos")
    login(page, live_app.base_url, user["email"], user["password"])


def _attach(page: Page, name: str, mime: str, data: bytes) -> None:
    page.set_input_files("#attach-input", files=[{"name": name, "mimeType": mime, "buffer": data}])


def test_a_text_file_and_a_pdf_go_with_the_question(page: Page, live_app: LiveApp) -> None:
    _sign_in(page, live_app)
    _attach(page, "lecturas.csv", "text/csv", b"fecha;kwh\r\n2026-11-01;12,5\r\n")
    _attach(
        page, "informe.pdf", "application/pdf", pdf_bytes(["Consumo total 420 kWh", "Planta Norte"])
    )
    chips = page.locator("#attachments .attachment-chip")
    expect(chips).to_have_count(2)
    expect(chips.nth(0)).to_contain_text("lecturas.csv")
    expect(chips.nth(1)).to_contain_text("informe.pdf")
    page.fill("#composer-input", "Resuma estos datos")
    with page.expect_request(lambda r: r.url.endswith("/chat") and r.method == "POST") as sent:
        page.click("#send-btn")
    content = json.loads(sent.value.post_data or "{}")["message"]
    assert content.startswith('Resuma estos datos\n\n<archivo nombre="lecturas.csv">\n')
    assert "fecha;kwh\n2026-11-01;12,5\n</archivo>" in content  # line ends made \n
    assert '<archivo nombre="informe.pdf">\nConsumo total 420 kWh' in content
    assert "Planta Norte" in content
    expect(chips).to_have_count(0)

    # The question shows what was written, and each file closed under its name.
    bubble = page.locator(".msg-user .bubble").last
    expect(bubble.locator("details.attached-file")).to_have_count(2)
    expect(bubble.locator("details.attached-file summary").first).to_contain_text("lecturas.csv")
    expect(bubble.locator(".attached-text").first).not_to_be_visible()
    bubble.locator("details.attached-file summary").nth(1).click()
    expect(bubble.locator(".attached-text").nth(1)).to_contain_text("Planta Norte")
    expect(page.locator(".msg-assistant").last).to_have_attribute("data-status", "complete")
    # Read back from the server after a reload, the same.
    page.reload()
    bubble = page.locator(".msg-user .bubble").last
    expect(bubble.locator("details.attached-file")).to_have_count(2)
    expect(bubble).to_contain_text("Resuma estos datos")
    # "Editar" starts from the question as sent, files included, not from what the bubble shows.
    page.locator(".msg-user .edit-btn").last.click()
    expect(page.locator(".edit-input")).to_have_value(content)


def test_files_that_cannot_go_are_refused_with_the_reason(page: Page, live_app: LiveApp) -> None:
    _sign_in(page, live_app)
    error = page.locator("#attach-error")
    _attach(page, "foto.png", "image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    expect(error).to_have_text(
        "«foto.png» no es un archivo de texto ni un PDF."
        " Puede adjuntar texto (.txt, .md, .csv, código…) y PDF."
    )
    # A binary file that calls itself text.
    _attach(page, "datos.txt", "text/plain", b"abc\x00def")
    expect(error).to_contain_text("«datos.txt» no es un archivo de texto")
    _attach(page, "escaneo.pdf", "application/pdf", pdf_bytes([]))
    expect(error).to_have_text("«escaneo.pdf» no tiene texto que leer (¿es una imagen escaneada?).")
    _attach(page, "roto.pdf", "application/pdf", b"%PDF-1.4\nnada")
    expect(error).to_have_text("«roto.pdf» no se pudo leer como PDF.")
    # The UI test app allows 500 characters per message.
    _attach(page, "largo.txt", "text/plain", ("x" * 600).encode())
    expect(error).to_contain_text(
        "«largo.txt» tiene 600 caracteres de texto y al mensaje le quedan 500"
    )
    expect(page.locator("#attachments .attachment-chip")).to_have_count(0)
    expect(page.locator("#send-btn")).to_be_disabled()

    # One that fits, removed again: nothing is left to send.
    note = "# Nota\n\nRevisar el tablero."
    _attach(page, "nota.md", "text/markdown", note.encode())
    expect(error).to_be_hidden()
    sent = "Revise el archivo adjunto." + _block("nota.md", note)  # nothing written: a default line
    expect(page.locator("#composer-counter")).to_have_text(f"{len(sent)} / 500")
    expect(page.locator("#send-btn")).to_be_enabled()
    page.get_by_role("button", name="Quitar nota.md").click()
    expect(page.locator("#attachments .attachment-chip")).to_have_count(0)
    expect(page.locator("#send-btn")).to_be_disabled()


def _block(name: str, text: str) -> str:
    return f'\n\n<archivo nombre="{name}">\n{text}\n</archivo>'
