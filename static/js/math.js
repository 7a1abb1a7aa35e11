// @ts-check
// LaTeX in answers → MathML (temml), as marked extensions. `\(…\)` and `$…$` inline, `\[…\]` and
// `$$…$$` display. A lone `$` follows Pandoc's rule so Chilean prices ("$5.000 y $10.000") stay text.
import temml from "../vendor/temml/temml.mjs";
import { escapeHtml } from "./dom.js";

/** @typedef {{ type: string, raw: string, text: string, display?: boolean }} MathToken */

const PAIRS = [
  { open: "$$", close: "$$", display: true },
  { open: "\\[", close: "\\]", display: true },
  { open: "\\(", close: "\\)", display: false },
];
const OPENERS = /\$|\\[([]/;
// A display formula alone on its lines: a block of its own, never part of a paragraph.
const BLOCK = /^ {0,3}(\$\$|\\\[)((?:(?!\n[ \t]*\n)[\s\S])+?)(\$\$|\\\])[ \t]*(?:\n+|$)/;
const BLOCK_START = /(?:^|\n) {0,3}(?:\$\$|\\\[)/;
const CACHE_LIMIT = 500;
/** @type {Map<string, string>} raw formula → its HTML */
const cache = new Map();

// A currency's code before its `$` ("US$ 600", "R$ 30"), as the formula's last word.
const CURRENCY_CODE = /[\s(](?:US|USD|CLP|CL|MX|AR|CA|AU|NZ|HK|SG|COP|R)$/;

/**
 * The end of a `$…$` formula by Pandoc's rule: no space after the opening `$`, none before the
 * closing one, and no digit right after it ("$300 y $500" is money, not math); nor a currency's
 * `$` with its amount after a space ("$500 y US$ 600"). -1: not a formula.
 * @param {string} src starting with a single `$`
 */
function dollarEnd(src) {
  if (!src[1] || /\s|\$/.test(src[1])) return -1;
  for (let i = 1; i < src.length; i++) {
    const ch = src[i];
    if (ch === "\\") i++;
    else if (ch === "\n" && src[i + 1] === "\n") return -1;
    else if (ch === "$") {
      const money = /^[ \t]*\d/.test(src.slice(i + 1)) && CURRENCY_CODE.test(src.slice(1, i));
      return /\s/.test(src[i - 1]) || /\d/.test(src[i + 1] || "") || money ? -1 : i + 1;
    }
  }
  return -1;
}

/**
 * The formula that starts `src`, if it is closed: its raw text, TeX and mode.
 * @param {string} src
 * @returns {{ raw: string, tex: string, display: boolean } | null}
 */
function formulaAt(src) {
  for (const { open, close, display } of PAIRS) {
    if (!src.startsWith(open)) continue;
    const end = src.indexOf(close, open.length);
    if (end < 0 || src.slice(open.length, end).includes("\n\n") || !src.slice(open.length, end).trim()) return null;
    return { raw: src.slice(0, end + close.length), tex: src.slice(open.length, end), display };
  }
  if (!src.startsWith("$")) return null;
  const end = dollarEnd(src);
  return end < 0 ? null : { raw: src.slice(0, end), tex: src.slice(1, end - 1), display: false };
}

/**
 * MathML for `tex`, or its source in a `code` when it is not valid LaTeX (never an exception).
 * @param {string} tex
 * @param {boolean} display
 * @param {string} raw the text as written, delimiters included
 * @returns {string}
 */
function toMathML(tex, display, raw) {
  try {
    const html = temml.renderToString(tex.trim(), { displayMode: display, annotate: true, throwOnError: true, trust: false, maxExpand: 200 });
    // temml sets a few inline styles (a cell's padding, a colour): the CSP refuses them and says so
    // in the console, even in DOMPurify's inert document, so they go before it parses the string.
    // Text holds no raw `<`, so each match is a tag; attribute values are escaped.
    const tags = html.replace(/<[a-z][^>]*>/g, (/** @type {string} */ tag) => tag.replace(/ style="[^"]*"/g, ""));
    // The source again for screen readers that read `alttext` rather than the annotation.
    return tags.replace(/^<math/, `<math alttext="${escapeHtml(tex.trim())}"`);
  } catch {
    return `<code class="math-error">${escapeHtml(raw)}</code>`;
  }
}

/**
 * A formula's HTML, typeset once: a streamed answer is rendered again on every frame.
 * @param {string} tex
 * @param {boolean} display
 * @param {string} raw
 */
function typeset(tex, display, raw) {
  const key = `${display ? "D" : "I"}${raw}`;
  let html = cache.get(key);
  if (html === undefined) {
    html = toMathML(tex, display, raw);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, html);
  }
  return display ? `<span class="math-display">${html}</span>` : html;
}

/**
 * `src` with each closed `$…$` blanked out, so `*` and `_` in TeX open no emphasis (marked has
 * already masked escapes, `\\(` and `\\[` included, in the text this hook receives).
 * @param {string} src
 */
function maskFormulas(src) {
  let out = "";
  let i = 0;
  for (let start = src.indexOf("$"); start >= 0; start = src.indexOf("$", i)) {
    const formula = formulaAt(src.slice(start));
    const end = formula ? start + formula.raw.length : start + 1;
    out += src.slice(i, start) + (formula ? "$" + "a".repeat(formula.raw.length - 2) + "$" : "$");
    i = end;
  }
  return out + src.slice(i);
}

/** @param {MathToken} token */
const render = (token) => typeset(token.text, Boolean(token.display), token.raw.trim());

/** marked options: the extensions and the hook that keeps emphasis out of formulas. */
export const mathMarkdown = {
  hooks: { emStrongMask: maskFormulas },
  extensions: [
    {
      name: "mathBlock",
      level: /** @type {const} */ ("block"),
      start: (/** @type {string} */ src) => {
        const match = BLOCK_START.exec(src);
        return match ? match.index + (match[0].startsWith("\n") ? 1 : 0) : undefined;
      },
      tokenizer(/** @type {string} */ src) {
        const match = BLOCK.exec(src);
        if (!match || (match[1] === "$$") !== (match[3] === "$$") || !match[2].trim()) return undefined;
        return { type: "mathBlock", raw: match[0], text: match[2], display: true };
      },
      renderer: (/** @type {MathToken} */ token) => `<p class="math-block">${render(token)}</p>\n`,
    },
    {
      name: "math",
      level: /** @type {const} */ ("inline"),
      start: (/** @type {string} */ src) => {
        const at = src.search(OPENERS);
        return at < 0 ? undefined : at;
      },
      tokenizer(/** @type {string} */ src) {
        const formula = formulaAt(src);
        if (formula) return { type: "math", raw: formula.raw, text: formula.tex, display: formula.display };
        // An opener not closed yet (an answer still streaming) stays as written, backslash included.
        if (src.startsWith("\\[") || src.startsWith("\\(")) return { type: "mathOpen", raw: src.slice(0, 2), text: src.slice(0, 2) };
        return undefined;
      },
      renderer: (/** @type {MathToken} */ token) => render(token),
    },
    {
      name: "mathOpen",
      level: /** @type {const} */ ("inline"),
      renderer: (/** @type {MathToken} */ token) => escapeHtml(token.text),
    },
  ],
};

/** MathML elements and attributes that survive DOMPurify (no `maction`, `annotation-xml`, `href`, colours or styles). */
export const MATH_TAGS = [
  "math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup",
  "munder", "mover", "munderover", "mfrac", "msqrt", "mroot", "mstyle", "mpadded", "mphantom", "menclose",
  "mtable", "mtr", "mtd", "mlabeledtr", "mmultiscripts", "mprescripts", "none",
];
export const MATH_ATTRS = [
  "display", "displaystyle", "scriptlevel", "mathvariant", "stretchy", "fence", "separator", "form", "lspace", "rspace",
  "minsize", "maxsize", "symmetric", "movablelimits", "largeop", "accent", "accentunder", "linethickness",
  "columnalign", "rowalign", "columnspacing", "rowspacing", "columnlines", "rowlines", "frame", "framespacing",
  "width", "height", "depth", "voffset", "notation", "encoding", "alttext",
];
