// @ts-check
// "Uso": tokens and answers per day (chart) and per user (top users) for a chosen range, CSV,
// and the answers' ratings (admin_ratings.js).
import { api, qs } from "../api.js";
import { h, clear, formatDayKey, TIME_ZONE } from "../dom.js";
import { errorBox, downloadCsv, dayInput, readRange } from "./admin_common.js";
import { drawUsageChart } from "./usage_chart.js";
import { ratingsCards } from "./admin_ratings.js";
import { formatCount, plural } from "../plural.js";
/** @import { UsageItem } from "./usage_chart.js" */

/** @typedef {{ from: string, to: string, items: UsageItem[], totals: { prompt_tokens: number, completion_tokens: number, messages: number, answers: number } }} UsageReport */

/** Today in Santiago, "aaaa-mm-dd". */
function todayKey() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
}

/**
 * @param {HTMLElement} body
 * @returns {() => void} removes the chart
 */
export function renderUsage(body) {
  const to = todayKey();
  const from = new Date(Date.parse(`${to}T00:00:00Z`) - 29 * 86400000).toISOString().slice(0, 10);
  const fromInput = dayInput("usage-from", "Desde (dd-mm-aaaa)");
  const toInput = dayInput("usage-to", "Hasta (dd-mm-aaaa)");
  fromInput.value = formatDayKey(from);
  toInput.value = formatDayKey(to);
  const apply = h("button", { type: "submit", class: "btn btn-sm btn-primary", text: "Ver período" });
  const exportButton = h("button", { type: "button", class: "btn btn-sm", id: "usage-export", text: "Exportar CSV" });
  const status = h("div");
  const chart = h("div", { class: "chart", id: "usage-chart", role: "img", "aria-label": "Tokens por día del período" });
  const summary = h("p", { class: "muted", id: "usage-summary" });
  const perUser = h("tbody");
  const waits = h("tbody");
  const ratings = ratingsCards();
  const form = h("form", { class: "toolbar", id: "usage-range" },
    h("label", { class: "inline-label" }, "Desde", fromInput), h("label", { class: "inline-label" }, "Hasta", toInput), apply, exportButton);
  body.append(form, status,
    h("section", { class: "card" }, h("h2", { text: "Tokens y respuestas por día" }), summary, chart),
    h("section", { class: "card" }, h("h2", { text: "Espera promedio del primer token por día" }),
      h("div", { class: "table-wrap" }, h("table", { class: "data cards-on-phone", id: "usage-first-token" },
        h("thead", {}, h("tr", {}, ["Día", "Espera promedio"].map((t) => h("th", { scope: "col", text: t })))),
        waits))),
    h("section", { class: "card" }, h("h2", { text: "Usuarios con más uso" }),
      h("div", { class: "table-wrap" }, h("table", { class: "data cards-on-phone", id: "usage-users" },
        h("thead", {}, h("tr", {}, ["Usuario", "Correo", "Respuestas", "Tokens de entrada", "Tokens generados"].map((t) => h("th", { scope: "col", text: t })))),
        perUser))),
    ...ratings.el);
  let destroyChart = () => {};

  const range = () => {
    const chosen = readRange(fromInput, toInput);
    if (typeof chosen === "string") {
      status.replaceChildren(h("div", { class: "alert alert-error", role: "alert", text: chosen }));
      return null;
    }
    clear(status);
    return { from: chosen.from || from, to: chosen.to || to };
  };
  const load = async () => {
    const chosen = range();
    if (!chosen) return;
    destroyChart();
    destroyChart = () => {};
    // Nothing of the previous period stays on screen: a failed load must not leave its totals.
    clear(summary);
    clear(chart);
    clear(perUser);
    clear(waits);
    ratings.clear();
    try {
      /** @type {[UsageReport, UsageReport]} */
      const [byDay, byUser] = await Promise.all([
        api(`/admin/usage${qs({ ...chosen, group_by: "day" })}`),
        api(`/admin/usage${qs({ ...chosen, group_by: "user", limit: 20 })}`),
      ]);
      // Once the period is known to be valid: its error is said once, above.
      ratings.load(chosen);
      const days = Math.round((Date.parse(chosen.to) - Date.parse(chosen.from)) / 86400000) + 1;
      const t = byDay.totals;
      summary.textContent = `Del ${formatDayKey(chosen.from)} al ${formatDayKey(chosen.to)}: ${plural(t.prompt_tokens + t.completion_tokens, "token", "tokens")} y ${plural(t.answers, "respuesta", "respuestas")}.`;
      destroyChart = drawUsageChart(chart, byDay.items, chosen.from, days);
      const waited = byDay.items.filter((r) => r.avg_first_token_ms != null).reverse();
      if (!waited.length) waits.appendChild(h("tr", {}, h("td", { colspan: 2, class: "muted", text: "Sin respuestas en el período." })));
      for (const r of waited) {
        const seconds = (r.avg_first_token_ms || 0) / 1000;
        waits.appendChild(h("tr", {}, h("td", { "data-label": "Día", text: formatDayKey(String(r.day)) }),
          h("td", { "data-label": "Espera promedio", text: `${seconds.toLocaleString("es-CL", { maximumFractionDigits: 1 })} s` })));
      }
      if (!byUser.items.length) perUser.appendChild(h("tr", {}, h("td", { colspan: 5, class: "muted", text: "Sin uso en el período." })));
      for (const r of byUser.items) {
        perUser.appendChild(h("tr", {},
          h("td", { class: "wrap", "data-label": "Usuario", text: r.full_name || "—" }), h("td", { "data-label": "Correo", text: r.email || "—" }),
          h("td", { "data-label": "Respuestas", text: formatCount(r.answers || 0) }), h("td", { "data-label": "Tokens de entrada", text: formatCount(r.prompt_tokens || 0) }),
          h("td", { "data-label": "Tokens generados", text: formatCount(r.completion_tokens || 0) })));
      }
    } catch (err) {
      status.replaceChildren(errorBox(err));
    }
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  exportButton.addEventListener("click", () => {
    const chosen = range();
    if (chosen) downloadCsv(`/admin/usage/export.csv${qs(chosen)}`, "uso.csv");
  });
  load();
  return () => destroyChart();
}
