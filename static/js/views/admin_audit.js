// @ts-check
// Audit trail screen: Spanish sentences, filters (person, action, days, outcome), details, CSV.
import { api, qs } from "../api.js";
import { h, formatDate } from "../dom.js";
import { PAGE, errorBox, pagedTable, downloadCsv, dayInput, readRange } from "./admin_common.js";

/**
 * An event of `GET /admin/audit` (`AuditEventOut`).
 * @typedef {object} AuditEvent
 * @property {string} id
 * @property {string} created_at
 * @property {string | null} actor_id
 * @property {string | null} actor_name
 * @property {string | null} actor_email
 * @property {string} action the stable code
 * @property {string} action_name
 * @property {string} label the Spanish sentence
 * @property {"success" | "failure"} outcome
 * @property {string | null} target_type
 * @property {string | null} target_id
 * @property {string | null} target_name
 * @property {string | null} target_email
 * @property {string | null} ip
 * @property {string | null} user_agent
 * @property {Record<string, unknown> | null} details
 */

/** @typedef {{ code: string, name: string }} AuditAction */

const OUTCOMES = [["", "Todos los resultados"], ["success", "Exitosas"], ["failure", "Fallidas"]];

/** @param {HTMLElement} body */
export function renderAudit(body) {
  const person = h("input", { class: "input", type: "search", id: "audit-person", placeholder: "Persona: nombre o correo", "aria-label": "Filtrar por persona (nombre o correo)", maxlength: 200 });
  const action = h("select", { class: "input", id: "audit-action", "aria-label": "Filtrar por acción" }, h("option", { value: "", text: "Todas las acciones" }));
  const from = dayInput("audit-from", "Desde (dd-mm-aaaa)");
  const to = dayInput("audit-to", "Hasta (dd-mm-aaaa)");
  const outcome = h("select", { class: "input", id: "audit-outcome", "aria-label": "Filtrar por resultado" }, OUTCOMES.map(([v, l]) => h("option", { value: v, text: l })));
  const exportButton = h("button", { type: "button", class: "btn btn-sm", id: "audit-export", text: "Exportar CSV" });
  const tbody = h("tbody");
  const status = h("div");

  /** @returns {Record<string, string | null> | null} the API's filters, null (and a message) when a day is wrong */
  const filters = () => {
    const range = readRange(from, to);
    if (typeof range === "string") {
      status.replaceChildren(h("div", { class: "alert alert-error", role: "alert", text: range }));
      return null;
    }
    return { q: person.value.trim(), action: action.value, outcome: outcome.value, from: range.from, to: range.to };
  };
  const pg = pagedTable({
    tbody, status, columns: 5, empty: "No hay registros que coincidan.",
    path: (cursor) => {
      const chosen = filters();
      return chosen && `/admin/audit${qs({ limit: PAGE, cursor, ...chosen })}`;
    },
    rows: (/** @type {AuditEvent} */ event) => eventRows(event),
  });
  /** @type {number | undefined} */
  let timer;
  const later = () => { clearTimeout(timer); timer = setTimeout(() => pg.reset(), 300); };
  person.addEventListener("input", later);
  for (const input of [from, to]) input.addEventListener("change", () => pg.reset());
  for (const select of [action, outcome]) select.addEventListener("change", () => pg.reset());
  exportButton.addEventListener("click", () => {
    const chosen = filters();
    if (chosen) downloadCsv(`/admin/audit/export.csv${qs(chosen)}`, "auditoria.csv");
  });
  body.append(
    h("div", { class: "toolbar" }, person, action,
      h("label", { class: "inline-label" }, "Desde", from), h("label", { class: "inline-label" }, "Hasta", to),
      outcome, exportButton),
    status,
    h("div", { class: "table-wrap" }, h("table", { class: "data cards-on-phone", id: "audit-table" },
      h("caption", { class: "sr-only", text: "Registro de auditoría" }),
      h("thead", {}, h("tr", {}, ["Cuándo", "Quién", "Qué hizo", "Resultado", "Detalles"].map((t) => h("th", { scope: "col", text: t })))),
      tbody)),
    pg.el,
  );
  api("/admin/audit/actions").then((/** @type {AuditAction[]} */ actions) => {
    for (const a of actions) action.appendChild(h("option", { value: a.code, text: a.name }));
  }).catch((err) => status.replaceChildren(errorBox(err)));
  pg.reset();
}

/**
 * Who acted when no person did: the server's commands, the daily retention task, or someone
 * not signed in (a failed login).
 * @param {AuditEvent} event
 */
function nobody(event) {
  if (event.details?.via === "console") return "Consola del servidor";
  if (event.action === "retention.run") return "Tarea automática";
  return "Sin sesión";
}

/**
 * The event's row and its hidden details row (raw code and ids).
 * @param {AuditEvent} event
 * @returns {HTMLTableRowElement[]}
 */
function eventRows(event) {
  const details = h("tr", { class: "audit-details", hidden: true },
    h("td", { colspan: 5 }, h("dl", { class: "kv" },
      h("dt", { text: "Código" }), h("dd", {}, h("code", { text: event.action })),
      h("dt", { text: "Id del evento" }), h("dd", { text: event.id }),
      h("dt", { text: "Quién (id)" }), h("dd", { text: event.actor_id || "—" }),
      h("dt", { text: "Objeto" }), h("dd", { text: [event.target_type, event.target_id].filter(Boolean).join(" ") || "—" }),
      h("dt", { text: "IP" }), h("dd", { text: event.ip || "—" }),
      h("dt", { text: "Navegador" }), h("dd", { class: "wrap", text: event.user_agent || "—" }),
      h("dt", { text: "Datos" }), h("dd", {}, h("pre", { class: "small", text: event.details ? JSON.stringify(event.details, null, 2) : "—" })))));
  const toggle = h("button", { type: "button", class: "btn btn-sm", "aria-expanded": "false", "data-action": "details", text: "Ver detalles" });
  toggle.addEventListener("click", () => {
    details.hidden = !details.hidden;
    toggle.setAttribute("aria-expanded", String(!details.hidden));
    toggle.textContent = details.hidden ? "Ver detalles" : "Ocultar detalles";
  });
  const who = event.actor_name
    ? [h("span", { text: event.actor_name }), h("br"), h("span", { class: "muted small", text: event.actor_email || "" })]
    : h("span", { class: "muted", text: nobody(event) });
  const failed = event.outcome === "failure";
  const row = h("tr", { dataset: { eventId: event.id, action: event.action } },
    h("td", { "data-label": "Cuándo", text: formatDate(event.created_at) }),
    h("td", { class: "wrap", "data-label": "Quién" }, h("span", {}, who)),
    h("td", { class: "wrap audit-label", "data-label": "Qué hizo", text: event.label }),
    h("td", { "data-label": "Resultado" }, h("span", { class: `pill ${failed ? "pill-off" : "pill-ok"}`, text: failed ? "Fallida" : "Exitosa" })),
    h("td", { "data-label": "Detalles" }, toggle));
  return [row, details];
}
