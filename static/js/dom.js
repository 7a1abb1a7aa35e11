// @ts-check
// Small DOM helpers. Text always goes in through textContent; HTML only through markdown.js.
/** @import { Role } from "./state.js" */

/** @typedef {Node | string | number | false | null | undefined} Leaf */
/** @typedef {Leaf | Leaf[]} Child an array is spread (deeper ones too; a typedef cannot nest itself) */

/** @type {Record<string, string>} */
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/**
 * Text made safe inside HTML markup, attribute values included.
 * @param {string} text
 */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

/**
 * A new element. Attributes: `class`, `text` (its textContent), `dataset` (an object),
 * `on<event>` (a listener), true (present), null/undefined/false (absent), anything else as a
 * string. Children: nodes, text, arrays of them; null, undefined and false are skipped.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown> | null} [attrs]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = String(value);
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/**
 * @param {Element} el
 * @param {Child[]} children
 */
function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

const ICONS = {
  plus: "M12 5v14M5 12h14",
  share: "M18 2a3 3 0 1 0 0 6 3 3 0 0 0 0-6zM6 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6zM18 16a3 3 0 1 0 0 6 3 3 0 0 0 0-6zM8.6 13.5l6.8 4M15.4 6.5l-6.8 4",
  search: "M11 4a7 7 0 1 0 0 14 7 7 0 0 0 0-14zM21 21l-5-5",
  edit: "M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4",
  pin: "M9 4h6l-1 6 4 3H6l4-3-1-6zM12 13v7",
  archive: "M4 7h16v13H4zM2 3h20v4H2zM10 11h4",
  trash: "M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13",
  send: "M5 12h14M13 6l6 6-6 6",
  stop: "M7 7h10v10H7z",
  copy: "M9 9h11v11H9zM5 15H4V4h11v1",
  check: "M5 12l5 5L20 7",
  menu: "M4 6h16M4 12h16M4 18h16",
  close: "M6 6l12 12M18 6 6 18",
  logout: "M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10",
  retry: "M4 12a8 8 0 1 0 3-6.3M4 4v5h5",
  chevron: "M6 9l6 6 6-6",
  eye: "M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12zM12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6z",
  download: "M12 4v11M7 10l5 5 5-5M4 20h16",
  more: "M5 11h2v2H5zM11 11h2v2h-2zM17 11h2v2h-2z",
  keyboard: "M3 6h18v12H3zM7 10h.01M11 10h.01M15 10h.01M8 14h8",
  attach: "M20 11.5l-8 8a5 5 0 0 1-7-7l8.5-8.5a3.5 3.5 0 0 1 5 5L10 17.5a2 2 0 0 1-3-3l7.5-7.5",
  file: "M6 3h8l4 4v14H6zM14 3v4h4M9 12h6M9 16h6",
  prompt: "M6 3h12v18l-6-4-6 4zM9 8h6M9 11h4",
  folder: "M3 6h6l2 2h10v11H3z",
  thumbUp: "M7 11v9H4v-9zM7 11l4-8a2 2 0 0 1 3 2l-1 5h6a2 2 0 0 1 2 2.3l-1.2 6.5a2 2 0 0 1-2 1.7H7",
  thumbDown: "M17 13V4h3v9zM17 13l-4 8a2 2 0 0 1-3-2l1-5H5a2 2 0 0 1-2-2.3l1.2-6.5a2 2 0 0 1 2-1.7H17",
};

/** @typedef {keyof typeof ICONS} IconName */

/** @param {IconName} name */
export function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICONS[name] || "");
  svg.appendChild(path);
  return svg;
}

/**
 * A button showing only an icon, named for screen readers by `label` (also its tooltip).
 * @param {IconName} name
 * @param {string} label
 * @param {(event: MouseEvent) => void} onclick
 * @param {Record<string, unknown>} [extra] more attributes, as for h()
 */
export function iconButton(name, label, onclick, extra = {}) {
  return h("button", { type: "button", class: "icon-btn", "aria-label": label, title: label, onclick, ...extra }, icon(name));
}

const rtf = new Intl.RelativeTimeFormat("es-CL", { numeric: "auto" });
// Every date a person reads: dd-mm-aaaa (and HH:MM) on Santiago's clock, whatever the device's zone.
export const TIME_ZONE = "America/Santiago";
const dayFmt = new Intl.DateTimeFormat("es-CL", { timeZone: TIME_ZONE, day: "2-digit", month: "2-digit", year: "numeric" });
const timeFmt = new Intl.DateTimeFormat("es-CL", { timeZone: TIME_ZONE, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

/** @param {Date} date dd-mm-aaaa in Santiago */
export function formatDay(date) {
  const parts = Object.fromEntries(dayFmt.formatToParts(date).map((p) => [p.type, p.value]));
  return `${parts.day}-${parts.month}-${parts.year}`;
}

/** @param {string} key a calendar day "aaaa-mm-dd" (no time, no zone) as dd-mm-aaaa */
export function formatDayKey(key) {
  const [y, m, d] = key.slice(0, 10).split("-");
  return `${d}-${m}-${y}`;
}

/**
 * "dd-mm-aaaa" typed by a person as "aaaa-mm-dd" for the API; null when empty, undefined when
 * it is not a real day.
 * @param {string} text
 * @returns {string | null | undefined}
 */
export function parseDay(text) {
  const value = text.trim();
  if (!value) return null;
  const match = /^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$/.exec(value);
  if (!match) return undefined;
  const [d, m, y] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return undefined;
  return date.toISOString().slice(0, 10);
}

/** @param {string | null | undefined} iso "nunca" when there is no moment */
export function timeAgo(iso) {
  if (!iso) return "nunca";
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const abs = Math.abs(seconds);
  if (abs < 45) return "recién";
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
  if (abs < 86400 * 30) return rtf.format(Math.round(seconds / 86400), "day");
  return formatDay(new Date(iso));
}

/** @param {string | null | undefined} iso dd-mm-aaaa HH:MM in Santiago */
export function formatDate(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return `${formatDay(date)} ${timeFmt.format(date)}`;
}

/**
 * @param {string} message
 * @param {"info" | "error"} [kind]
 */
export function toast(message, kind = "info") {
  const box = /** @type {HTMLElement} */ (document.getElementById("toasts"));
  const el = h("div", { class: `toast ${kind === "error" ? "toast-error" : ""}`, text: message });
  box.appendChild(el);
  setTimeout(() => el.remove(), 4200);
}

/**
 * A modal <dialog>; resolves with the value given to close(value), or null when cancelled.
 * @template T
 * @param {string} title
 * @param {(close: (value: T | null) => void) => Node} build the dialog's content
 * @returns {Promise<T | null>}
 */
export function openDialog(title, build) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-label": title });
    /** @type {T | null} */
    let result = null;
    /** @param {T | null} value */
    const close = (value) => {
      result = value;
      dialog.close();
    };
    dialog.appendChild(h("h2", { text: title }));
    dialog.appendChild(build(close));
    // Back to the control that opened it, when it is still there (the caller may move it on).
    const opener = document.activeElement;
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(result);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

/**
 * The buttons under a dialog's form: "Cancelar" (closes it with null) and its submit button.
 * @param {(value: null) => void} close the dialog's, from openDialog()
 * @param {HTMLButtonElement} submit
 */
export function dialogActions(close, submit) {
  return h("div", { class: "dialog-actions" },
    h("button", { type: "button", class: "btn", onclick: () => close(null), text: "Cancelar" }),
    submit);
}

/**
 * A yes/no question; resolves true only when confirmed.
 * @param {string} title
 * @param {string} message
 * @param {string} [confirmLabel]
 * @param {boolean} [danger] a red confirm button
 * @returns {Promise<boolean>}
 */
export function confirmDialog(title, message, confirmLabel = "Confirmar", danger = false) {
  return openDialog(title, (/** @type {(value: boolean) => void} */ close) =>
    h("div", {},
      h("p", { text: message }),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn", onclick: () => close(false), text: "Cancelar" }),
        h("button", { type: "button", class: `btn ${danger ? "btn-danger" : "btn-primary"}`, onclick: () => close(true), text: confirmLabel }),
      ),
    ),
  ).then((value) => value === true);
}

/** @param {string | null | undefined} name */
export function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] || "?") + (parts[1]?.[0] || "")).toUpperCase();
}

/** @type {Record<Role, string>} */
export const ROLE_LABELS = { admin: "Administrador", supervisor: "Supervisor", trabajador: "Trabajador" };

/**
 * @template {Element} E
 * @param {E} el
 * @returns {E} el, now empty
 */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}
