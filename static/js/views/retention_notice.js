// @ts-check
// The chat list's warning of the retention policy: which of the user's conversations will be
// deleted soon (GET /conversations/retention). Hidden when nothing is about to be deleted.
import { api } from "../api.js";
import { h } from "../dom.js";
import { plural } from "../plural.js";

/** Days as a person in Chile reads them: dd-mm-aaaa in America/Santiago. */
const dayFmt = new Intl.DateTimeFormat("es-CL", { timeZone: "America/Santiago", day: "2-digit", month: "2-digit", year: "numeric" });

/**
 * @typedef {object} RetentionNotice
 * @property {number | null} retention_days
 * @property {number} warning_days
 * @property {number} expiring_count
 * @property {{ id: string, title: string, deleted_from: string }[]} expiring
 */

/** @param {string} iso */
export function localDay(iso) {
  return dayFmt.format(new Date(iso)).replaceAll("/", "-");
}

export function retentionNotice() {
  const box = h("div", { class: "alert alert-warn retention-notice", id: "retention-notice", role: "status", hidden: true });
  api("/conversations/retention").then((/** @type {RetentionNotice} */ notice) => {
    if (!notice.expiring_count) return;
    const n = notice.expiring_count;
    box.append(
      h("strong", { text: `${plural(n, "conversación se eliminará", "conversaciones se eliminarán")} pronto` }),
      h("div", { text: `Por la política de la empresa, las conversaciones sin mensajes nuevos en ${notice.retention_days} días se eliminan. Escriba en ellas o descárguelas desde Configuración para conservarlas.` }),
      h("ul", {}, notice.expiring.map((c) => h("li", { text: `«${c.title}»: desde el ${localDay(c.deleted_from)}` }))),
    );
    box.hidden = false;
  }).catch(() => {}); // a warning that cannot load must not break the chat
  return box;
}
