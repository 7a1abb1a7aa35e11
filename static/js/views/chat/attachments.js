// @ts-check
// Files attached to a question. The browser reads them (text files as they are, PDFs through the
// vendored pdf.js, loaded only when a PDF comes, Word, Excel and PowerPoint files through
// office.js) and the question carries their text in
// <archivo nombre="…">…</archivo> blocks after what the person wrote: the server, the history,
// the export and the model see one plain message, and no uploaded file is ever parsed on the
// server. The question's bubble shows each block as a closed "details" with the file's name.
import { h, icon } from "../../dom.js";
import { OfficeError, docxText, pptxText, xlsxText } from "./office.js";

/** The largest file read at all (a PDF's text is far smaller than the file). */
export const MAX_FILE_BYTES = 10 * 1024 * 1024;
/** Files per question. */
export const MAX_FILES = 3;

const TEXT_EXTENSIONS = new Set([
  "txt", "md", "markdown", "csv", "tsv", "json", "xml", "html", "htm", "log", "yaml", "yml", "ini",
  "cfg", "conf", "toml", "sql", "py", "js", "mjs", "ts", "java", "c", "h", "cpp", "hpp", "cs",
  "go", "rs", "php", "rb", "sh", "bat", "ps1", "r", "m", "tex", "srt", "vtt",
]);
const OFFICE = { docx: docxText, xlsx: xlsxText, xlsm: xlsxText, pptx: pptxText };
/** Older binary Office formats, and the format to save them in. */
const LEGACY = { doc: "docx", xls: "xlsx", ppt: "pptx", odt: "docx", ods: "xlsx", odp: "pptx" };
/** For the file picker: what it offers first (any file can still be chosen and is checked). */
export const ACCEPT = [...TEXT_EXTENSIONS, "pdf", ...Object.keys(OFFICE)].map((e) => `.${e}`).concat(["text/*", "application/pdf"]).join(",");

const BLOCK = /\n*<archivo nombre="([^"\n]{1,120})">\n([\s\S]*?)\n<\/archivo>/g;

/** A file read and ready to go with the question. */
export class Attachment {
  /**
   * @param {string} name
   * @param {string} text
   */
  constructor(name, text) {
    this.name = name;
    // A line of the file's own that reads "</archivo>" would close its block early (the rest
    // of the file then reads as the question): a space before it keeps it text.
    this.text = text.replace(/^<\/archivo>/gm, " </archivo>");
  }

  /** The block the question carries. */
  block() {
    return `\n\n<archivo nombre="${this.name}">\n${this.text}\n</archivo>`;
  }
}

/** Why a file cannot be attached, in words for the person. */
export class AttachmentError extends Error {}

/**
 * A file's name as the block can carry it: no quotes, angle brackets or line breaks, 120 at most.
 * @param {string} name
 */
export function safeName(name) {
  const clean = storable(name.replace(/["<>\r\n\t]/g, "").trim().slice(0, 120));
  return clean || "archivo";
}

/**
 * `text` without what no database stores and the server refuses in a whole message (422
 * invalid_characters): NUL (past a text file's first 8 KB, from a PDF's font) and half an
 * emoji (a lone surrogate, as cutting a name leaves).
 * @param {string} text
 */
function storable(text) {
  // Pairs are matched first and kept; no lookbehind (a syntax error for Safari before 16.4).
  return text.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]|[\uD800-\uDFFF]|\0/g, (found) => found.length === 2 ? found : "");
}

/**
 * Line ends as \n, no trailing spaces, at most one empty line in a row, nothing unstorable.
 * @param {string} text
 */
function tidy(text) {
  return storable(text).replace(/\r\n?/g, "\n").replace(/[ \t]+\n/g, "\n").replace(/\n{3,}/g, "\n\n").trim();
}

/** @param {string} name */
function extension(name) {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
}

/**
 * Read one file into an attachment, or say why it cannot be. Long documents are read only a
 * little past `budget` characters: enough to know they do not fit.
 * @param {File} file
 * @param {number} budget
 * @returns {Promise<Attachment>}
 */
export async function readAttachment(file, budget) {
  const name = safeName(file.name);
  if (file.size > MAX_FILE_BYTES) {
    throw new AttachmentError(`«${name}» pesa más de 10 MB. Adjunte un archivo más pequeño o un extracto.`);
  }
  const ext = extension(file.name);
  const isPdf = ext === "pdf" || file.type === "application/pdf";
  let text;
  if (isPdf) text = await pdfText(file, name, budget);
  else if (ext in OFFICE) text = await officeText(file, name, ext, budget);
  else if (ext in LEGACY) {
    throw new AttachmentError(`«${name}» tiene un formato que no se puede leer aquí. Guárdelo como .${LEGACY[/** @type {keyof LEGACY} */ (ext)]} o PDF y adjúntelo de nuevo.`);
  } else text = await plainText(file, name, ext);
  if (!text) {
    throw new AttachmentError(isPdf
      ? `«${name}» no tiene texto que leer (¿es una imagen escaneada?).`
      : `«${name}» no tiene texto.`);
  }
  return new Attachment(name, text);
}

/**
 * @param {File} file
 * @param {string} name
 * @param {string} ext a key of OFFICE
 * @param {number} budget
 */
async function officeText(file, name, ext, budget) {
  const read = OFFICE[/** @type {keyof OFFICE} */ (ext)];
  try {
    return tidy(read(new Uint8Array(await file.arrayBuffer()), budget));
  } catch (err) {
    if (!(err instanceof OfficeError)) throw err;
    throw new AttachmentError(err.message === "too big"
      ? `«${name}» es demasiado grande para leerlo aquí. Adjunte un extracto.`
      : `«${name}» no se pudo leer (¿está dañado o protegido con contraseña?).`);
  }
}

/**
 * @param {File} file
 * @param {string} name
 * @param {string} ext
 */
async function plainText(file, name, ext) {
  const texty = file.type.startsWith("text/") || /json|xml|yaml|csv|javascript|sql/.test(file.type);
  if (!texty && !TEXT_EXTENSIONS.has(ext)) throw unsupported(name);
  const bytes = new Uint8Array(await file.arrayBuffer());
  // Excel's and Notepad's "Unicode" text is UTF-16 with a byte order mark (NUL bytes between
  // the letters): read as such, not taken for a binary file.
  const utf16 = bytes[0] === 0xff && bytes[1] === 0xfe ? "utf-16le" : bytes[0] === 0xfe && bytes[1] === 0xff ? "utf-16be" : null;
  if (utf16) return tidy(new TextDecoder(utf16).decode(bytes));
  // A NUL byte means a binary file whatever its name says (a .docx, an image renamed).
  if (bytes.subarray(0, 8192).includes(0)) throw unsupported(name);
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    // Spreadsheets saved on Windows in Spanish are often Latin-1.
    text = new TextDecoder("windows-1252").decode(bytes);
  }
  return tidy(text.replace(/^\uFEFF/, ""));
}

/** @param {string} name */
function unsupported(name) {
  return new AttachmentError(`«${name}» no es un archivo que se pueda leer. Puede adjuntar texto (.txt, .md, .csv, código…), PDF, Word, Excel y PowerPoint.`);
}

/**
 * The text of the pages, separated by an empty line, until past `budget` characters.
 * @param {File} file
 * @param {string} name
 * @param {number} budget
 */
async function pdfText(file, name, budget) {
  /** @type {any} pdf.js has no types here (checkJs is off for the vendored code). */
  const pdfjs = await import("../../../vendor/pdfjs/pdf.min.mjs");
  pdfjs.GlobalWorkerOptions.workerSrc = new URL("../../../vendor/pdfjs/pdf.worker.min.mjs", import.meta.url).href;
  /** @type {any} */
  let doc;
  try {
    doc = await pdfjs.getDocument({ data: new Uint8Array(await file.arrayBuffer()), isEvalSupported: false, disableFontFace: true, useSystemFonts: false }).promise;
  } catch (err) {
    const locked = err && typeof err === "object" && "name" in err && err.name === "PasswordException";
    throw new AttachmentError(locked ? `«${name}» está protegido con contraseña.` : `«${name}» no se pudo leer como PDF.`);
  }
  try {
    const pages = [];
    let length = 0;
    for (let n = 1; n <= doc.numPages && length <= budget; n++) {
      const page = await doc.getPage(n);
      const content = await page.getTextContent();
      /** @type {string[]} */
      const parts = [];
      for (const item of content.items) {
        if (typeof item.str !== "string") continue;
        parts.push(item.str, item.hasEOL ? "\n" : "");
      }
      pages.push(parts.join(""));
      length += pages[pages.length - 1].length + 2;
      page.cleanup();
    }
    return tidy(pages.join("\n\n"));
  } finally {
    doc.destroy();
  }
}

/**
 * A question as written and its attached files, for its bubble.
 * @param {string} content
 * @returns {{ text: string, files: { name: string, text: string }[] }}
 */
export function splitQuestion(content) {
  /** @type {{ name: string, text: string }[]} */
  const files = [];
  const text = content.replace(BLOCK, (_m, name, body) => {
    files.push({ name, text: body });
    return "";
  });
  return { text: text.trim(), files };
}

/** Each bubble's question as sent: its text no longer is, once files are drawn in it. */
const sent = new WeakMap();

/**
 * A question's bubble: what the person wrote, then each attached file closed under its name.
 * @param {string} content the question as sent
 */
export function questionBubble(content) {
  const { text, files } = splitQuestion(content);
  const bubble = files.length
    ? h("div", { class: "bubble" },
      text ? h("div", { text }) : null,
      ...files.map((f) => h("details", { class: "attached-file" },
        h("summary", {}, icon("chevron"), icon("file"), h("span", { class: "attachment-name", text: f.name }),
          h("span", { class: "hint small", text: ` · ${f.text.length.toLocaleString("es-CL")} caracteres` })),
        h("pre", { class: "attached-text", text: f.text }))))
    : h("div", { class: "bubble", text: content });
  sent.set(bubble, content);
  return bubble;
}

/**
 * The question a bubble shows, as it was sent (files included), for Editar and Reintentar.
 * @param {Element | null | undefined} bubble
 */
export function questionContent(bubble) {
  return bubble ? sent.get(bubble) ?? bubble.textContent ?? "" : "";
}
