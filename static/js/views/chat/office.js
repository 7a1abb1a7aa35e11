// @ts-check
// The text of Word (.docx) and Excel (.xlsx) files, read in the browser: both are ZIP archives of
// XML parts, unpacked with the vendored fflate (only the parts needed, each at most 20 MB
// unpacked, so a ZIP bomb is refused before it is inflated) and read with the browser's own
// DOMParser. A Word document gives its paragraphs, tables as "a | b" rows; a workbook gives each
// sheet as "## Hoja: name" and its rows as values separated by ";", dates as dd-mm-aaaa.
import { strFromU8, unzipSync } from "../../../vendor/fflate/fflate.esm.js";

const MAX_PART_BYTES = 20 * 1024 * 1024;
const W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
const S = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

/** A file that is not the Office document its name says, or one too big to unpack. */
export class OfficeError extends Error {}

/**
 * The named parts of a ZIP archive (those present).
 * @param {Uint8Array} bytes
 * @param {(name: string) => boolean} wanted
 * @returns {Record<string, Document>}
 */
function parts(bytes, wanted) {
  /** @type {Record<string, Uint8Array>} */
  let files;
  try {
    files = unzipSync(bytes, {
      filter: (/** @type {{ name: string, originalSize: number }} */ f) => {
        if (!wanted(f.name)) return false;
        if (f.originalSize > MAX_PART_BYTES) throw new OfficeError("too big");
        return true;
      },
    });
  } catch (err) {
    throw err instanceof OfficeError ? err : new OfficeError("not a zip");
  }
  /** @type {Record<string, Document>} */
  const docs = {};
  for (const [name, data] of Object.entries(files)) {
    const doc = new DOMParser().parseFromString(strFromU8(data, false), "application/xml");
    if (doc.getElementsByTagName("parsererror").length) throw new OfficeError("bad xml");
    docs[name] = doc;
  }
  return docs;
}

/**
 * @param {Element} el
 * @param {string} ns
 * @param {string} name
 */
function children(el, ns, name) {
  return [...el.children].filter((c) => c.namespaceURI === ns && c.localName === name);
}

/**
 * A paragraph's text: its runs' text, tabs and breaks.
 * @param {Element} p
 */
function paragraph(p) {
  let out = "";
  for (const el of p.getElementsByTagNameNS(W, "*")) {
    if (el.localName === "t") out += el.textContent;
    else if (el.localName === "tab") out += "\t";
    else if (el.localName === "br" || el.localName === "cr") out += "\n";
  }
  return out;
}

/**
 * A Word document's text, stopping once it passes `budget` characters.
 * @param {Uint8Array} bytes
 * @param {number} budget
 */
export function docxText(bytes, budget) {
  const doc = parts(bytes, (n) => n === "word/document.xml")["word/document.xml"];
  const body = doc?.getElementsByTagNameNS(W, "body")[0];
  if (!body) throw new OfficeError("no body");
  return blockLines(body, budget).join("\n");
}

/**
 * The lines of a body or a table cell: paragraphs, table rows as "a | b" (a table inside a
 * cell joins its cell's line), and what content controls (w:sdt) and w:customXml hold.
 * @param {Element} container
 * @param {number} budget stop once the lines pass it
 * @returns {string[]}
 */
function blockLines(container, budget) {
  /** @type {string[]} */
  const lines = [];
  let length = 0;
  for (const block of container.children) {
    if (length > budget) break;
    if (block.namespaceURI !== W) continue;
    /** @type {string[]} */
    let found = [];
    if (block.localName === "p") found = [paragraph(block)];
    else if (block.localName === "tbl") {
      found = children(block, W, "tr").map((row) => children(row, W, "tc")
        .map((cell) => blockLines(cell, budget).map((line) => line.trim()).filter(Boolean).join(" ")).join(" | "));
    } else if (block.localName === "sdt") {
      found = children(block, W, "sdtContent").flatMap((content) => blockLines(content, budget - length));
    } else if (block.localName === "customXml") found = blockLines(block, budget - length);
    lines.push(...found);
    for (const line of found) length += line.length + 1;
  }
  return lines;
}

/**
 * Whether a number format shows a date (Excel's built-in date formats, or a custom one with
 * day, month or year in it once quoted text and [colours] are left out).
 * @param {number} id
 * @param {Map<number, string>} custom
 */
function isDateFormat(id, custom) {
  if ((id >= 14 && id <= 22) || (id >= 45 && id <= 47)) return true;
  const code = custom.get(id);
  return Boolean(code && /[dmy]/i.test(code.replace(/"[^"]*"|\[[^\]]*\]|\\./g, "")));
}

/**
 * Excel's day number (1900 system) as dd-mm-aaaa, with HH:MM when it has a time.
 * @param {number} serial
 */
function excelDate(serial) {
  const ms = Math.round((serial - 25569) * 86400000);
  const d = new Date(ms);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  const day = `${pad(d.getUTCDate())}-${pad(d.getUTCMonth() + 1)}-${d.getUTCFullYear()}`;
  return serial % 1 ? `${day} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}` : day;
}

/**
 * "C" → 2: a cell reference's column, from 0.
 * @param {string} ref
 */
function column(ref) {
  let n = 0;
  for (const ch of ref.replace(/\d+$/, "")) n = n * 26 + ch.charCodeAt(0) - 64;
  return n - 1;
}

/**
 * The text of a string (a shared string's <si>, an inline string's <is>): its <t>, plain or in
 * rich-text runs, without the phonetic guide (<rPh>: furigana over Japanese text) that Excel
 * keeps beside it and shows only on request.
 * @param {Element} item
 */
function stringText(item) {
  return [...item.getElementsByTagNameNS(S, "t")]
    .filter((t) => !(t.parentElement?.namespaceURI === S && t.parentElement.localName === "rPh"))
    .map((t) => t.textContent)
    .join("");
}

/**
 * A workbook's sheets as text, stopping once it passes `budget` characters.
 * @param {Uint8Array} bytes
 * @param {number} budget
 */
export function xlsxText(bytes, budget) {
  const meta = parts(bytes, (n) => ["xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/sharedStrings.xml", "xl/styles.xml"].includes(n));
  const workbook = meta["xl/workbook.xml"];
  if (!workbook) throw new OfficeError("no workbook");
  const targets = new Map([...(meta["xl/_rels/workbook.xml.rels"]?.getElementsByTagName("Relationship") ?? [])]
    .map((r) => [r.getAttribute("Id"), (r.getAttribute("Target") || "").replace(/^\/?(xl\/)?/, "xl/")]));
  const shared = [...(meta["xl/sharedStrings.xml"]?.getElementsByTagNameNS(S, "si") ?? [])].map(stringText);
  const styles = meta["xl/styles.xml"];
  const custom = new Map([...(styles?.getElementsByTagNameNS(S, "numFmt") ?? [])]
    .map((f) => [Number(f.getAttribute("numFmtId")), f.getAttribute("formatCode") || ""]));
  const xfs = styles?.getElementsByTagNameNS(S, "cellXfs")[0];
  const dateStyles = xfs ? children(xfs, S, "xf").map((xf) => isDateFormat(Number(xf.getAttribute("numFmtId")), custom)) : [];

  const sheets = [...workbook.getElementsByTagNameNS(S, "sheet")]
    .map((s) => ({ name: s.getAttribute("name") || "", path: targets.get(s.getAttributeNS(R, "id")) || "" }));
  const paths = new Set(sheets.map((s) => s.path));
  const sheetDocs = parts(bytes, (n) => paths.has(n));
  /** @type {string[]} */
  const out = [];
  let length = 0;
  for (const sheet of sheets) {
    const doc = sheetDocs[sheet.path];
    if (!doc || length > budget) continue;
    out.push(`## Hoja: ${sheet.name}`);
    for (const row of doc.getElementsByTagNameNS(S, "row")) {
      /** @type {string[]} */
      const cells = [];
      for (const c of children(row, S, "c")) {
        const type = c.getAttribute("t");
        const raw = children(c, S, "v")[0]?.textContent ?? "";
        let value = raw;
        if (type === "s") value = shared[Number(raw)] ?? "";
        else if (type === "inlineStr") value = stringText(children(c, S, "is")[0] ?? c);
        else if (type === "b") value = raw === "1" ? "VERDADERO" : "FALSO";
        else if ((!type || type === "n") && raw && dateStyles[Number(c.getAttribute("s") || 0)]) value = excelDate(Number(raw));
        const ref = c.getAttribute("r");
        cells[ref ? column(ref) : cells.length] = value.replace(/\s*[\r\n;]+\s*/g, " ");
      }
      const line = Array.from(cells, (v) => v ?? "").join(";").replace(/;+$/, "");
      if (line) out.push(line);
      length += line.length + 1;
      if (length > budget) break;
    }
    out.push("");
  }
  return out.join("\n");
}

const A = "http://schemas.openxmlformats.org/drawingml/2006/main";

/**
 * A presentation's text, slide by slide ("## Diapositiva n"), stopping past `budget` characters.
 * @param {Uint8Array} bytes
 * @param {number} budget
 */
export function pptxText(bytes, budget) {
  const slides = parts(bytes, (n) => /^ppt\/slides\/slide\d+\.xml$/.test(n));
  const number = (/** @type {string} */ name) => Number(/(\d+)\.xml$/.exec(name)?.[1]);
  const names = Object.keys(slides).sort((a, b) => number(a) - number(b));
  if (!names.length) throw new OfficeError("no slides");
  /** @type {string[]} */
  const out = [];
  let length = 0;
  for (const name of names) {
    if (length > budget) break;
    const lines = [...slides[name].getElementsByTagNameNS(A, "p")]
      .map((p) => [...p.getElementsByTagNameNS(A, "t")].map((t) => t.textContent).join(""))
      .filter((line) => line.trim());
    const text = [`## Diapositiva ${number(name)}`, ...lines, ""].join("\n");
    out.push(text);
    length += text.length;
  }
  return out.join("\n");
}
