// @ts-check
// Configuración: "Uso de hoy", the tokens the person used today (web and API, from the usage
// ledger: GET /auth/me/usage) against their role's daily quota, what is left and when the quota
// day starts again (midnight, Chilean time), so a refused message is never the first news.
import { api, errorDetail } from "../api.js";
import { h, formatDate } from "../dom.js";
import { formatCount } from "../plural.js";

/**
 * @typedef {object} MyUsage
 * @property {number | null} quota tokens a day for the person's role; null: no quota
 * @property {number} used_today
 * @property {number | null} remaining
 * @property {string} resets_at
 */

/** @param {MyUsage} usage */
function summary(usage) {
  const used = formatCount(usage.used_today);
  if (usage.quota === null) return `Ha usado ${used} tokens hoy. Su rol no tiene un límite diario.`;
  const quota = formatCount(usage.quota);
  if (!usage.remaining) return `Ha usado ${used} de ${quota} tokens hoy: alcanzó su cuota diaria.`;
  const percent = Math.min(100, Math.floor((usage.used_today * 100) / usage.quota));
  return `Ha usado ${used} de ${quota} tokens hoy (${percent} %). Le quedan ${formatCount(usage.remaining)}.`;
}

/** @param {string} iso the next quota day's start */
function resetText(iso) {
  const [day, time] = formatDate(iso).split(" ");
  return `Se renueva el ${day} a las ${time} (hora de Chile).`;
}

export function usageCard() {
  const text = h("p", { id: "usage-text", role: "status", text: "Leyendo su uso…" });
  const body = h("div", {}, text);
  api("/auth/me/usage").then((/** @type {MyUsage} */ usage) => {
    text.textContent = summary(usage);
    if (usage.quota !== null) {
      const high = Math.round(usage.quota * 0.8);
      body.appendChild(h("meter", {
        id: "usage-meter", min: "0", max: String(usage.quota), low: String(Math.round(usage.quota * 0.5)),
        high: String(high), optimum: "0", value: String(Math.min(usage.used_today, usage.quota)),
        "aria-label": "Cuota diaria usada", "aria-describedby": "usage-text",
      }));
      body.appendChild(h("p", { class: "hint", id: "usage-reset", text: resetText(usage.resets_at) }));
    }
  }).catch((err) => {
    text.textContent = errorDetail(err, "No se pudo leer su uso de hoy.");
  });
  return h("section", { class: "card", "aria-labelledby": "usage-h" },
    h("h2", { id: "usage-h", text: "Uso de hoy" }),
    body,
    h("p", { class: "hint", text: "Cuentan los tokens de sus preguntas (con el historial que se envía al modelo) y de las respuestas, en la web y en la API. Borrar conversaciones no los devuelve." }),
  );
}
