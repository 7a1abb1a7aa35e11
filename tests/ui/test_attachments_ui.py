"""Files attached to a question: text files and PDFs read in the browser (PDFs by the vendored
pdf.js), carried in <archivo> blocks after the question, shown closed under their name; files
that cannot be read, and ones that do not fit the message limit, are refused with the reason."""

from __future__ import annotations

import datetime
import io
import json
import re
import zipfile

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
    expect(error).to_be_visible()
    expect(error).to_have_text(
        "«foto.png» no es un archivo que se pueda leer. Puede adjuntar texto (.txt, .md, .csv,"
        " código…), PDF, Word, Excel y PowerPoint."
    )
    # A binary file that calls itself text.
    _attach(page, "datos.txt", "text/plain", b"abc\x00def")
    expect(error).to_contain_text("«datos.txt» no es un archivo que se pueda leer")
    _attach(page, "escaneo.pdf", "application/pdf", pdf_bytes([]))
    expect(error).to_have_text("«escaneo.pdf» no tiene texto que leer (¿es una imagen escaneada?).")
    _attach(page, "roto.pdf", "application/pdf", b"%PDF-1.4\nnada")
    expect(error).to_have_text("«roto.pdf» no se pudo leer como PDF.")
    # The UI test app allows 500 characters per message.
    _attach(page, "largo.txt", "text/plain", ("x" * 600).encode())
    expect(error).to_have_text(
        "«largo.txt» no cabe: su texto pasa de los 500 caracteres que le quedan al mensaje"
        " (el máximo es 500). Adjunte un extracto."
    )
    expect(error).to_be_visible()
    expect(page.locator("#attachments .attachment-chip")).to_have_count(0)
    expect(page.locator("#send-btn")).to_be_disabled()

    # One that fits, removed again: nothing is left to send.
    note = "# Nota\n\nRevisar el tablero."
    _attach(page, "nota.md", "text/markdown", note.encode())
    expect(error).to_be_hidden()
    sent = "Revise el archivo adjunto «nota.md»." + _block("nota.md", note)  # nothing written
    expect(page.locator("#composer-counter")).to_have_text(f"{len(sent)} / 500")
    expect(page.locator("#send-btn")).to_be_enabled()
    page.get_by_role("button", name="Quitar nota.md").click()
    expect(page.locator("#attachments .attachment-chip")).to_have_count(0)
    expect(page.locator("#send-btn")).to_be_disabled()


def test_the_same_refusal_twice_is_announced_twice(page: Page, live_app: LiveApp) -> None:
    """An alert whose text does not change is not read again: the same unreadable file chosen
    twice said nothing the second time. The alert is emptied, then its text set again."""
    _sign_in(page, live_app)
    error = page.locator("#attach-error")
    expect(error).to_be_attached()
    page.evaluate(
        """() => {
        const el = document.getElementById("attach-error");
        window.alertTexts = [];
        new MutationObserver(() => window.alertTexts.push(el.textContent))
          .observe(el, { childList: true, characterData: true, subtree: true });
    }"""
    )
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    _attach(page, "foto.png", "image/png", png)
    refused = re.compile("^«foto.png» no es un archivo que se pueda leer")
    expect(error).to_have_text(refused)
    page.evaluate("window.alertTexts = []")
    _attach(page, "foto.png", "image/png", png)
    page.wait_for_function("() => window.alertTexts.some((text) => text !== '')")
    texts = page.evaluate("window.alertTexts")
    assert len(texts) == 2 and texts[0] == "" and refused.match(texts[1]), texts
    expect(error).to_be_visible()


def _block(name: str, text: str) -> str:
    return f'\n\n<archivo nombre="{name}">\n{text}\n</archivo>'


def office_zip(parts: dict[str, str]) -> bytes:
    """An Office file (a ZIP of XML parts) holding only ``parts``: what the reader opens."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, xml in parts.items():
            archive.writestr(name, xml)
    return buffer.getvalue()


W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
S = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
A = 'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'


def _cell(text: str) -> str:
    return f"<w:tc><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:tc>"


DOCX = office_zip(
    {
        "word/document.xml": f"<w:document {W}><w:body>"
        "<w:p><w:r><w:t>Informe </w:t></w:r><w:r><w:t>mensual</w:t></w:r></w:p>"
        "<w:p><w:r><w:t>Planta</w:t><w:tab/><w:t>Norte</w:t><w:br/><w:t>Línea 2</w:t></w:r></w:p>"
        f"<w:tbl><w:tr>{_cell('Mes')}{_cell('kWh')}</w:tr>"
        f"<w:tr>{_cell('noviembre')}{_cell('420')}</w:tr></w:tbl>"
        "</w:body></w:document>"
    }
)
NOV_1 = (datetime.date(2026, 11, 1) - datetime.date(1899, 12, 30)).days
XLSX = office_zip(
    {
        "xl/workbook.xml": f'<workbook {S} {R}><sheets><sheet name="Lecturas" sheetId="1"'
        ' r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/'
        'package/2006/relationships"><Relationship Id="rId1" Target="worksheets/sheet1.xml"'
        ' Type="x"/></Relationships>',
        # A phonetic guide (<rPh>, furigana) is no cell text: "fecha", not "fechaフリガナ".
        "xl/sharedStrings.xml": f"<sst {S}><si><t>fecha</t><rPh sb='0' eb='5'><t>フリガナ</t>"
        "</rPh><phoneticPr fontId='1'/></si><si><r><t>k</t></r><r><t>Wh</t></r>"
        "<rPh sb='0' eb='2'><t>キロ</t></rPh></si></sst>",
        "xl/styles.xml": f'<styleSheet {S}><numFmts count="1"><numFmt numFmtId="164"'
        ' formatCode="dd/mm/yyyy;@"/></numFmts><cellXfs count="2"><xf numFmtId="0"/>'
        '<xf numFmtId="164"/></cellXfs></styleSheet>',
        "xl/worksheets/sheet1.xml": f"<worksheet {S}><sheetData>"
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
        f'<row r="2"><c r="A2" s="1"><v>{NOV_1}</v></c><c r="B2"><v>12.5</v></c>'
        '<c r="D2" t="inlineStr"><is><t>medidor; nuevo</t><rPh><t>よみ</t></rPh></is></c></row>'
        "</sheetData></worksheet>",
    }
)
PPTX = office_zip(
    {
        f"ppt/slides/slide{n}.xml": f"<p:sld xmlns:p='urn:p' {A}><a:p><a:r><a:t>Título {n}"
        f"</a:t></a:r></a:p><a:p><a:r><a:t>Punto </a:t></a:r><a:r><a:t>{n}</a:t></a:r></a:p>"
        "</p:sld>"
        for n in (10, 2)
    }
)


def test_word_excel_and_powerpoint_files_give_their_text(page: Page, live_app: LiveApp) -> None:
    _sign_in(page, live_app)
    _attach(page, "informe.docx", "application/octet-stream", DOCX)
    _attach(page, "lecturas.xlsx", "application/octet-stream", XLSX)
    _attach(page, "charla.pptx", "application/octet-stream", PPTX)
    expect(page.locator("#attachments .attachment-chip")).to_have_count(3)
    with page.expect_request(lambda r: r.url.endswith("/chat") and r.method == "POST") as sent:
        page.click("#send-btn")
    content = json.loads(sent.value.post_data or "{}")["message"]
    assert content == (
        "Revise los archivos adjuntos «informe.docx», «lecturas.xlsx» y «charla.pptx»."
        '\n\n<archivo nombre="informe.docx">\nInforme mensual\nPlanta\tNorte\nLínea 2\n'
        "Mes | kWh\nnoviembre | 420\n</archivo>"
        '\n\n<archivo nombre="lecturas.xlsx">\n## Hoja: Lecturas\nfecha;kWh\n'
        "01-11-2026;12.5;;medidor nuevo\n</archivo>"
        '\n\n<archivo nombre="charla.pptx">\n## Diapositiva 2\nTítulo 2\nPunto 2\n\n'
        "## Diapositiva 10\nTítulo 10\nPunto 10\n</archivo>"
    )


def test_office_files_that_cannot_be_read_say_why(page: Page, live_app: LiveApp) -> None:
    _sign_in(page, live_app)
    error = page.locator("#attach-error")
    _attach(page, "viejo.doc", "application/msword", b"\xd0\xcf\x11\xe0 binary")
    expect(error).to_have_text(
        "«viejo.doc» tiene un formato que no se puede leer aquí."
        " Guárdelo como .docx o PDF y adjúntelo de nuevo."
    )
    _attach(page, "roto.xlsx", "application/octet-stream", b"PK not really a zip")
    expect(error).to_have_text(
        "«roto.xlsx» no se pudo leer (¿está dañado o protegido con contraseña?)."
    )
    # 21 MB of XML that packs into a few kilobytes: refused before it is unpacked.
    bomb = office_zip({"word/document.xml": f"<w:document {W}>" + " " * 21_000_000})
    assert len(bomb) < 100_000
    _attach(page, "bomba.docx", "application/octet-stream", bomb)
    expect(error).to_have_text(
        "«bomba.docx» es demasiado grande para leerlo aquí. Adjunte un extracto."
    )
    expect(error).to_be_visible()
    expect(page.locator("#attachments .attachment-chip")).to_have_count(0)


def test_a_file_pasted_or_dropped_is_attached(page: Page, live_app: LiveApp) -> None:
    _sign_in(page, live_app)
    page.locator("#composer-input").evaluate(
        """field => {
            const files = new DataTransfer();
            const file = new File(["Marzo: 310 kWh"], "marzo.txt", { type: "text/plain" });
            files.items.add(file);
            const init = { clipboardData: files, bubbles: true, cancelable: true };
            field.dispatchEvent(new ClipboardEvent("paste", init));
        }"""
    )
    expect(page.locator("#attachments .attachment-chip")).to_have_count(1)
    expect(page.locator("#answer-announcer")).to_have_text("Adjuntado: marzo.txt.")
    expect(page.locator("#composer-input")).to_have_value("")  # not pasted as text
    page.locator("form.composer").evaluate(
        """form => {
            const files = new DataTransfer();
            files.items.add(new File(["abril;290"], "abril.csv", { type: "text/csv" }));
            const init = { dataTransfer: files, bubbles: true, cancelable: true };
            form.dispatchEvent(new DragEvent("drop", init));
        }"""
    )
    chips = page.locator("#attachments .attachment-chip")
    expect(chips).to_have_count(2)
    expect(chips.nth(1)).to_contain_text("abril.csv")


def _sent_message(page: Page) -> str:
    with page.expect_request(lambda r: r.url.endswith("/chat") and r.method == "POST") as sent:
        page.click("#send-btn")
    return str(json.loads(sent.value.post_data or "{}")["message"])


def test_a_file_holding_the_closing_tag_stays_one_file(page: Page, live_app: LiveApp) -> None:
    # A file about this very convention (or an XML export) may hold "</archivo>" on a line of its
    # own: it must not close the block early and spill the rest of the file into the question.
    _sign_in(page, live_app)
    _attach(page, "plantilla.txt", "text/plain", b"inicio\n</archivo>\nfin del archivo")
    page.fill("#composer-input", "Mire esto")
    content = _sent_message(page)
    assert content.count("\n</archivo>") == 1
    bubble = page.locator(".msg-user .bubble").last
    expect(page.locator(".msg-assistant").last).to_have_attribute("data-status", "complete")
    for _ in range(2):  # as drawn when sent, and as read back from the server
        expect(bubble.locator("details.attached-file")).to_have_count(1)
        expect(bubble.locator(":scope > div")).to_have_text("Mire esto")
        expect(bubble.locator(".attached-text")).to_contain_text("</archivo>")
        expect(bubble.locator(".attached-text")).to_contain_text("fin del archivo")
        page.reload()
        bubble = page.locator(".msg-user .bubble").last


def test_text_no_database_stores_is_left_out_of_a_file(page: Page, live_app: LiveApp) -> None:
    # A name cut at 120 UTF-16 units in the middle of an emoji left half of it (a lone
    # surrogate), and a NUL past the first 8 KB of a text file stayed: the server refuses such a
    # message (422 invalid_characters) without a word about the file.
    _sign_in(page, live_app)
    name = "a" + "😀" * 60 + ".txt"
    _attach(page, name, "text/plain", b"hola" + b"\n" * 9000 + b"\x00chau")
    expect(page.locator("#attachments .attachment-chip")).to_have_count(1)
    content = _sent_message(page)
    assert '<archivo nombre="a' + "😀" * 59 + '">\nhola\n\nchau\n</archivo>' in content
    expect(page.locator(".msg-assistant").last).to_have_attribute("data-status", "complete")


def test_word_text_in_nested_tables_and_content_controls_is_read(
    page: Page, live_app: LiveApp
) -> None:
    # Word puts a table inside a cell, and wraps text in content controls (w:sdt: templates,
    # forms, a table of contents): their text was left out without a word.
    inner = f"<w:tbl><w:tr>{_cell('Turno')}{_cell('A')}</w:tr></w:tbl>"
    docx = office_zip(
        {
            "word/document.xml": f"<w:document {W}><w:body>"
            "<w:sdt><w:sdtContent><w:p><w:r><w:t>Portada</w:t></w:r></w:p></w:sdtContent></w:sdt>"
            f"<w:tbl><w:tr>{_cell('Planta')}<w:tc><w:p><w:r><w:t>Norte</w:t></w:r></w:p>{inner}"
            "</w:tc></w:tr></w:tbl>"
            "</w:body></w:document>"
        }
    )
    _sign_in(page, live_app)
    _attach(page, "ficha.docx", "application/octet-stream", docx)
    content = _sent_message(page)
    assert content == (
        "Revise el archivo adjunto «ficha.docx»."
        '\n\n<archivo nombre="ficha.docx">\nPortada\nPlanta | Norte Turno | A\n</archivo>'
    )


def test_on_a_phone_a_long_file_name_leaves_its_size_on_one_line(
    page: Page, live_app: LiveApp
) -> None:
    # At 375 px the name took the summary's width and "· 131 caracteres" was squeezed into a
    # column a few letters wide, many lines tall.
    page.set_viewport_size({"width": 375, "height": 700})
    _sign_in(page, live_app)
    _attach(page, "informe_" + "muy_largo_" * 12 + ".txt", "text/plain", b"Consumo 420 kWh")
    chip = page.locator("#attachments .attachment-chip")
    expect(chip).to_have_count(1)
    page.click("#send-btn")
    summary = page.locator(".msg-user details.attached-file summary")
    expect(summary).to_be_visible()
    for where in (summary, chip):
        if where is chip:
            _attach(page, "otro_" + "muy_largo_" * 12 + ".txt", "text/plain", b"Otra nota")
            expect(chip).to_have_count(1)
        name = where.locator(".attachment-name").bounding_box()
        size = where.locator(".hint").bounding_box()
        assert name and size
        assert size["height"] <= name["height"] * 1.2, (name, size)
    expect(chip.get_by_role("button", name="Quitar otro_", exact=False)).to_be_in_viewport(ratio=1)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375


def test_enviar_waits_for_the_files_being_read(page: Page, live_app: LiveApp) -> None:
    # A long PDF takes seconds to read: Enter pressed meanwhile sent the question without it,
    # and the file then joined the next question. Two batches read at once also each took the
    # room and the 3 files allowed as if alone.
    _sign_in(page, live_app)
    page.locator("form.composer").evaluate(
        """form => {
            window.releaseFiles = [];
            const drop = (names) => {
                const files = new DataTransfer();
                for (const name of names) {
                    const file = new File([`texto de ${name}`], name, { type: "text/plain" });
                    const read = file.arrayBuffer.bind(file);
                    file.arrayBuffer = () => new Promise((done) => window.releaseFiles.push(
                        () => done(read())));
                    files.items.add(file);
                }
                const init = { dataTransfer: files, bubbles: true, cancelable: true };
                form.dispatchEvent(new DragEvent("drop", init));
            };
            drop(["a.txt", "b.txt"]);
            drop(["c.txt", "d.txt"]);
        }"""
    )
    expect(page.locator("#attach-reading")).to_have_text("Leyendo archivos…")
    page.fill("#composer-input", "Compare")
    expect(page.locator("#send-btn")).to_be_disabled()
    page.press("#composer-input", "Enter")
    release = "() => { const next = window.releaseFiles.shift(); if (next) next(); return !!next; }"
    more = (
        "() => window.releaseFiles.length > 0 || document.querySelector('#attach-reading').hidden"
    )
    page.wait_for_function(more)
    while page.evaluate(release):
        page.wait_for_function(more)
    expect(page.locator("#attach-reading")).to_be_hidden()
    expect(page.locator(".msg-user")).to_have_count(0)  # Enter did not send without the files
    expect(page.locator("#attach-error")).to_have_text(
        "Se pueden adjuntar hasta 3 archivos por mensaje."
    )
    expect(page.locator("#send-btn")).to_be_enabled()
    content = _sent_message(page)
    assert [n for n in "abcd" if f'<archivo nombre="{n}.txt">' in content] == ["a", "b", "c"]


def test_unicode_text_saved_by_excel_or_notepad_is_read(page: Page, live_app: LiveApp) -> None:
    # "Texto Unicode" (Excel) and Notepad's "Unicode" are UTF-16 with a byte order mark: its
    # NUL bytes made it "no es un archivo que se pueda leer".
    _sign_in(page, live_app)
    text = "mes\tkWh\r\nnoviembre\t420 ñ\r\n"
    _attach(page, "consumo.txt", "text/plain", b"\xff\xfe" + text.encode("utf-16-le"))
    _attach(page, "be.txt", "text/plain", b"\xfe\xff" + "señal".encode("utf-16-be"))
    expect(page.locator("#attachments .attachment-chip")).to_have_count(2)
    content = _sent_message(page)
    assert (
        _block("consumo.txt", "mes\tkWh\nnoviembre\t420 ñ") + _block("be.txt", "señal") in content
    )


def test_the_composer_takes_the_conversations_own_limit(page: Page, live_app: LiveApp) -> None:
    """Custom instructions take room in the model's context: the composer counts against the
    limit the server gives for this conversation (GET /chat/limit), files included, instead of
    letting a question through that the server would refuse with a 413 once sent."""
    page.route(
        "**/chat/limit*",
        lambda route: route.fulfill(json={"max_message_chars": 300}),
    )
    with page.expect_request(lambda r: "/chat/limit" in r.url):
        _sign_in(page, live_app)
    counter = page.locator("#composer-counter")
    expect(counter).to_have_text("0 / 300")
    _attach(page, "largo.txt", "text/plain", ("y" * 400).encode())
    expect(page.locator("#attach-error")).to_contain_text("(el máximo es 300)")
    page.fill("#composer-input", "z" * 301)
    expect(counter).to_have_text("301 / 300")
    expect(page.locator("#send-btn")).to_be_disabled()
