// @ts-check
// Model and user text → sanitized HTML. Every string passes DOMPurify; links only http(s)/mailto.
import { Marked } from "../vendor/marked/marked.esm.js";
import DOMPurify from "../vendor/dompurify/purify.es.mjs";
import hljs from "../vendor/highlight/core.min.js";
import python from "../vendor/highlight/languages/python.min.js";
import javascript from "../vendor/highlight/languages/javascript.min.js";
import typescript from "../vendor/highlight/languages/typescript.min.js";
import bash from "../vendor/highlight/languages/bash.min.js";
import sql from "../vendor/highlight/languages/sql.min.js";
import json from "../vendor/highlight/languages/json.min.js";
import xml from "../vendor/highlight/languages/xml.min.js";
import css from "../vendor/highlight/languages/css.min.js";
import java from "../vendor/highlight/languages/java.min.js";
import c from "../vendor/highlight/languages/c.min.js";
import cpp from "../vendor/highlight/languages/cpp.min.js";
import yaml from "../vendor/highlight/languages/yaml.min.js";
import { escapeHtml, h, icon, toast } from "./dom.js";
import { MATH_ATTRS, MATH_TAGS, mathMarkdown } from "./math.js";

const LANGS = { python, javascript, typescript, bash, sql, json, xml, css, java, c, cpp, yaml };
for (const [name, lang] of Object.entries(LANGS)) hljs.registerLanguage(name, lang);
hljs.registerAliases(["py"], { languageName: "python" });
hljs.registerAliases(["js"], { languageName: "javascript" });
hljs.registerAliases(["ts"], { languageName: "typescript" });
hljs.registerAliases(["sh", "shell"], { languageName: "bash" });
hljs.registerAliases(["html"], { languageName: "xml" });


// Raw HTML written by the model or a user is shown as text, never interpreted (as ChatGPT does).
const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    /** @param {{ text: string, block?: boolean }} token */
    html(token) {
      // A block of HTML (a page the model wrote without a code fence) keeps its lines and indents.
      if (token.block) return `<p class="raw-html">${escapeHtml(token.text.replace(/\n+$/, ""))}</p>\n`;
      return escapeHtml(token.text);
    },
    /** @param {{ text?: string }} token */
    image(token) {
      return escapeHtml(token.text || "");
    },
  },
}).use(mathMarkdown);
const SAFE_URL = /^(https?:|mailto:)/i;

DOMPurify.addHook("afterSanitizeAttributes", (/** @type {Element} */ node) => {
  // Links are HTML's `a` only: MathML (and SVG) once followed an `href` on any element.
  if (node.tagName !== "A") node.removeAttribute("href");
  else {
    const href = node.getAttribute("href") || "";
    if (!SAFE_URL.test(href.trim())) node.removeAttribute("href");
    else {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
    }
  }
});

const PURIFY = {
  ALLOWED_TAGS: ["p", "br", "strong", "em", "del", "code", "pre", "ul", "ol", "li", "blockquote", "a", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "hr", "span", ...MATH_TAGS],
  ALLOWED_ATTR: ["href", "title", "class", "align", ...MATH_ATTRS], // align: a table column's, from marked
  ALLOW_DATA_ATTR: false,
};

/**
 * HTML (marked's, with temml's MathML) through the allow-list; exported for the browser tests.
 * @param {string} html
 * @returns {DocumentFragment}
 */
export const sanitize = (html) => DOMPurify.sanitize(html, { ...PURIFY, RETURN_DOM_FRAGMENT: true });

/** @typedef {{ html: string, nodes: ChildNode[] }} Shown a top-level block's HTML and the nodes made of it */
/** @type {WeakMap<Element, Shown[]>} */
const shown = new WeakMap();

/**
 * Render Markdown into `target`, sanitized, with highlighted code blocks and copy buttons.
 * A streamed answer comes here on every frame: the leading blocks whose HTML did not change keep
 * their nodes (no new layout of their formulas, no new highlighting); the rest is built again.
 * @param {Element} target
 * @param {string | null | undefined} text
 */
export function renderMarkdown(target, text) {
  const blocks = marked.lexer(String(text ?? "")).map((token) => marked.parser([token]));
  let before = shown.get(target) ?? [];
  const nodes = before.flatMap((block) => block.nodes);
  // Someone else changed the children since: start afresh.
  if (nodes.length !== target.childNodes.length || nodes.some((node, i) => node !== target.childNodes[i])) before = [];
  let same = 0;
  while (same < blocks.length && same < before.length && before[same].html === blocks[same]) same++;
  if (same === 0) target.replaceChildren();
  for (const block of before.slice(same)) for (const node of block.nodes) node.remove();
  const now = before.slice(0, same);
  for (const html of blocks.slice(same)) {
    const fragment = sanitize(html);
    for (const code of fragment.querySelectorAll("pre > code")) decorateCode(code);
    now.push({ html, nodes: [...fragment.childNodes] });
    target.append(fragment);
  }
  shown.set(target, now);
}

/** @param {Element} code a <code> inside a <pre> */
function decorateCode(code) {
  const match = /language-([\w+-]+)/.exec(code.className || "");
  const lang = match && hljs.getLanguage(match[1]) ? match[1] : null;
  try {
    const result = lang ? hljs.highlight(code.textContent, { language: lang, ignoreIllegals: true }) : hljs.highlightAuto(code.textContent, Object.keys(LANGS));
    // hljs escapes its input; sanitize again anyway so nothing unexpected reaches the DOM.
    code.replaceChildren(DOMPurify.sanitize(result.value, { ALLOWED_TAGS: ["span"], ALLOWED_ATTR: ["class"], RETURN_DOM_FRAGMENT: true }));
    code.classList.add("hljs");
  } catch {
    /* leave the plain text */
  }
  const label = lang || (match ? match[1] : "código");
  const copyText = document.createTextNode("Copiar");
  const copy = h("button", { type: "button", class: "btn btn-ghost btn-sm copy-btn", "aria-label": "Copiar código" }, icon("copy"), copyText);
  copy.addEventListener("click", async () => {
    // The button's name stays "Copiar código": the outcome is said through the status toasts,
    // as for "Copiar" under an answer.
    try {
      await navigator.clipboard.writeText(code.textContent);
      copyText.textContent = "Copiado";
      toast("Código copiado.");
    } catch {
      copyText.textContent = "No se pudo copiar";
      toast("No se pudo copiar.", "error");
    }
    setTimeout(() => {
      copyText.textContent = "Copiar";
    }, 1500);
  });
  code.parentElement?.prepend(h("div", { class: "code-bar" }, h("span", { text: label }), copy));
}
