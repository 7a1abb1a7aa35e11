// @ts-check
// The answers' ratings in "Uso": 👍 and 👎 per day of the period, and "Respuestas mal
// valoradas" (who, when, the model, the comment, a link to the read-only viewer). Comments are
// people's words: always text.
import { api, qs } from "../api.js";
import { h, clear, formatDate, formatDayKey, icon } from "../dom.js";
import { PAGE, errorBox, pagedTable } from "./admin_common.js";
import { formatCount, plural } from "../plural.js";

/** @typedef {{ day: string, up: number, down: number }} RatingsDay */
/** @typedef {{ items: RatingsDay[], totals: { up: number, down: number } }} RatingsReport */

/**
 * An answer rated 👎 (`PoorAnswerOut`).
 * @typedef {object} PoorAnswer
 * @property {string} message_id
 * @property {string} conversation_id
 * @property {string} updated_at when it was rated
 * @property {string | null} full_name null: the account was deleted
 * @property {string | null} email
 * @property {string | null} model
 * @property {string | null} comment
 */

/** @param {PoorAnswer} item */
function poorRow(item) {
  return h("tr", { dataset: { messageId: item.message_id } },
    h("td", { "data-label": "Fecha", text: formatDate(item.updated_at) }),
    h("td", { class: "wrap", "data-label": "Persona" }, item.full_name ?? "Cuenta eliminada", item.email ? h("div", { class: "muted small", text: item.email }) : null),
    h("td", { "data-label": "Modelo", text: item.model || "—" }),
    h("td", { class: "wrap feedback-text", "data-label": "Comentario", text: item.comment || "Sin comentario" }),
    h("td", { "data-label": "Conversación" },
      h("a", { class: "btn btn-sm", href: `#/admin/conversacion/${encodeURIComponent(item.conversation_id)}`, "aria-label": `Ver la conversación valorada por ${item.full_name ?? "una cuenta eliminada"} el ${formatDate(item.updated_at)}` }, icon("eye"), "Ver conversación")));
}

/**
 * The two cards, loaded again for each period (`clear` empties them while another loads, or
 * when the period cannot be shown).
 * @returns {{ el: HTMLElement[], load: (range: { from: string, to: string }) => void, clear: () => void }}
 */
export function ratingsCards() {
  const summary = h("p", { class: "muted", id: "ratings-summary" });
  const perDay = h("tbody");
  const dayStatus = h("div");
  const poor = h("tbody");
  const poorStatus = h("div");
  /** @type {{ from: string, to: string } | null} */
  let range = null;
  const pg = pagedTable({
    tbody: poor, status: poorStatus, columns: 5, empty: "Ninguna respuesta mal valorada en el período.",
    path: (cursor) => range && `/admin/usage/ratings/down${qs({ ...range, limit: PAGE, cursor })}`,
    rows: (/** @type {PoorAnswer} */ item) => poorRow(item),
  });
  const el = [
    h("section", { class: "card" }, h("h2", { text: "Valoraciones de las respuestas" }), dayStatus, summary,
      h("div", { class: "table-wrap" }, h("table", { class: "data cards-on-phone", id: "ratings-days" },
        h("thead", {}, h("tr", {}, ["Día", "Buenas", "Malas"].map((t) => h("th", { scope: "col", text: t })))),
        perDay))),
    h("section", { class: "card" }, h("h2", { text: "Respuestas mal valoradas" }), poorStatus,
      h("div", { class: "table-wrap" }, h("table", { class: "data cards-on-phone", id: "ratings-poor" },
        h("thead", {}, h("tr", {}, ["Fecha", "Persona", "Modelo", "Comentario", "Conversación"].map((t) => h("th", { scope: "col", text: t })))),
        poor)),
      pg.el),
  ];
  const empty = () => {
    range = null;
    for (const part of [summary, perDay, dayStatus, poor, poorStatus]) clear(part);
  };
  const load = async (/** @type {{ from: string, to: string }} */ chosen) => {
    empty();
    range = chosen;
    pg.reset();
    try {
      /** @type {RatingsReport} */
      const report = await api(`/admin/usage/ratings${qs(chosen)}`);
      if (range !== chosen) return;
      const { up, down } = report.totals;
      summary.textContent = `${plural(up, "respuesta valorada como buena", "respuestas valoradas como buenas")} y ${plural(down, "como mala", "como malas")}.`;
      if (!report.items.length) perDay.appendChild(h("tr", {}, h("td", { colspan: 3, class: "muted", text: "Sin valoraciones en el período." })));
      for (const r of [...report.items].reverse()) {
        perDay.appendChild(h("tr", {}, h("td", { "data-label": "Día", text: formatDayKey(r.day) }),
          h("td", { "data-label": "Buenas", text: formatCount(r.up) }), h("td", { "data-label": "Malas", text: formatCount(r.down) })));
      }
    } catch (err) {
      if (range === chosen) dayStatus.replaceChildren(errorBox(err));
    }
  };
  return { el, load, clear: empty };
}
