// @ts-check
// Pieces shared by the admin screens: the keyset pager, the error box, CSV downloads, day inputs.
import { api, apiFetch, errorDetail } from "../api.js";
import { h, toast, parseDay, clear } from "../dom.js";
/** @import { Page } from "../api.js" */

export const PAGE = 25;

/** @param {unknown} err */
export function errorBox(err) {
  return h("div", { class: "alert alert-error", role: "alert", text: errorDetail(err, "No se pudo cargar la información.") });
}

/**
 * Keyset pager: keeps the cursors of the pages visited so "Anterior" works. Only the latest load
 * may show its page: a slow answer to an older filter or page never replaces a newer one.
 * @param {(cursor: string | null, current: () => boolean) => Promise<string | null>} load shows a
 *   page while `current()` holds, returns the next one's cursor
 */
export function pager(load) {
  /** @type {(string | null)[]} */
  const cursors = [null];
  let index = 0;
  const prev = h("button", { type: "button", class: "btn btn-sm", text: "Anterior" });
  const next = h("button", { type: "button", class: "btn btn-sm", text: "Siguiente" });
  const label = h("span", { class: "muted small" });
  const el = h("div", { class: "pager" }, label, prev, next);
  let latest = 0;
  const go = async () => {
    const mine = ++latest;
    prev.disabled = true;
    next.disabled = true;
    const nextCursor = await load(cursors[index], () => mine === latest);
    if (mine !== latest) return;
    if (nextCursor && cursors.length === index + 1) cursors.push(nextCursor);
    label.textContent = `Página ${index + 1}`;
    prev.disabled = index === 0;
    next.disabled = !nextCursor;
  };
  prev.addEventListener("click", () => { index -= 1; go(); });
  next.addEventListener("click", () => { index += 1; go(); });
  return { el, reset: () => { cursors.length = 1; index = 0; return go(); } };
}

/**
 * A keyset pager over a table: each page of `path(cursor)` (null: do not load, the caller said
 * why in `status`) replaces `tbody`'s rows with `rows(item)` for each item, or one `empty` row.
 * @template T
 * @param {object} spec
 * @param {HTMLElement} spec.tbody
 * @param {HTMLElement} spec.status where a load error is shown
 * @param {number} spec.columns
 * @param {string} spec.empty
 * @param {(cursor: string | null) => string | null} spec.path
 * @param {(item: T) => HTMLElement | HTMLElement[]} spec.rows
 * @param {(page: Page<T>) => void} [spec.loaded]
 */
export function pagedTable(spec) {
  return pager(async (cursor, current) => {
    const path = spec.path(cursor);
    if (path === null) return null;
    try {
      /** @type {Page<T>} */
      const page = await api(path);
      if (!current()) return null;
      clear(spec.status);
      clear(spec.tbody);
      if (!page.items.length) spec.tbody.appendChild(h("tr", {}, h("td", { colspan: spec.columns, class: "muted", text: spec.empty })));
      for (const item of page.items) spec.tbody.append(...[spec.rows(item)].flat());
      spec.loaded?.(page);
      return page.next_cursor;
    } catch (err) {
      if (current()) spec.status.replaceChildren(errorBox(err));
      return null;
    }
  });
}

/**
 * Download a CSV the API builds (with the session's token), under the name the server gives.
 * @param {string} path
 * @param {string} fallbackName
 */
export async function downloadCsv(path, fallbackName) {
  try {
    const response = await apiFetch(path, { headers: { Accept: "text/csv" } });
    const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: match ? match[1] : fallbackName, hidden: true });
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    toast("Descarga lista.");
  } catch (err) {
    toast(errorDetail(err, "No se pudo descargar el archivo."), "error");
  }
}

/**
 * A day typed as dd-mm-aaaa (es-CL), whatever the browser's own locale.
 * @param {string} id
 * @param {string} label
 */
export function dayInput(id, label) {
  return h("input", { class: "input input-day", id, type: "text", inputmode: "numeric", placeholder: "dd-mm-aaaa", "aria-label": label, maxlength: 10, autocomplete: "off" });
}

/**
 * The ISO days of two day inputs, or a Spanish message when one is not a date.
 * @param {HTMLInputElement} from
 * @param {HTMLInputElement} to
 * @returns {{ from: string | null, to: string | null } | string}
 */
export function readRange(from, to) {
  const start = parseDay(from.value);
  const end = parseDay(to.value);
  if (start === undefined || end === undefined) return "Escriba las fechas como dd-mm-aaaa, por ejemplo 09-11-2026.";
  if (start && end && end < start) return "La fecha «hasta» es anterior a la fecha «desde».";
  return { from: start, to: end };
}

/**
 * A moment typed as dd-mm-aaaa HH:MM on Santiago's clock (the server reads a time without a
 * zone as Santiago's).
 * @param {string} id
 * @param {string} label
 */
export function momentInput(id, label) {
  return h("input", { class: "input input-moment", id, type: "text", inputmode: "numeric", placeholder: "dd-mm-aaaa HH:MM", "aria-label": label, title: label, maxlength: 16, autocomplete: "off" });
}

/**
 * "dd-mm-aaaa HH:MM" as "aaaa-mm-ddTHH:MM" (no zone: Santiago's clock, as the server reads it);
 * null when empty, undefined when it is not a real day and time.
 * @param {string} text
 * @returns {string | null | undefined}
 */
export function parseMoment(text) {
  const value = text.trim();
  if (!value) return null;
  const match = /^(\S+)\s+(\d{1,2}):(\d{2})$/.exec(value);
  if (!match) return undefined;
  const day = parseDay(match[1]);
  const [hour, minute] = [Number(match[2]), Number(match[3])];
  if (!day || hour > 23 || minute > 59) return undefined;
  return `${day}T${String(hour).padStart(2, "0")}:${match[3]}`;
}
