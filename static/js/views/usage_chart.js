// @ts-check
// Tokens per day drawn with uPlot (vendored); days without use are drawn as zero.
import uPlot from "../../vendor/uplot/uPlot.esm.js";

/**
 * One row of `GET /admin/usage` (`UsageItem`): a day with group_by=day, a user with group_by=user.
 * @typedef {object} UsageItem
 * @property {string | null} [day]
 * @property {string | null} [user_id]
 * @property {string | null} [email]
 * @property {string | null} [full_name]
 * @property {number} prompt_tokens
 * @property {number} completion_tokens
 * @property {number} messages
 * @property {number | null} [avg_first_token_ms] with group_by=day: average wait for the first token
 */

// The vendored uPlot build ships no type declarations: the little of its API used here.
/** @typedef {{ setSize(size: { width: number, height: number }): void, destroy(): void }} Plot */
/**
 * @typedef {object} PlotOptions
 * @property {number} width
 * @property {number} height
 * @property {Record<string, { time?: boolean }>} scales
 * @property {Array<Record<string, unknown> & { values?: (u: Plot, ticks: number[]) => string[] }>} axes
 * @property {Array<{ label: string, stroke?: string, width?: number, fill?: string, value: (u: Plot, v: number | null) => string }>} series
 */
const Chart = /** @type {new (opts: PlotOptions, data: number[][], el: HTMLElement) => Plot} */ (/** @type {unknown} */ (uPlot));

/** @param {UsageItem & { date?: string, key?: string, period?: string }} row */
function dayKey(row) {
  return String(row.day || row.date || row.key || row.period || "").slice(0, 10);
}

/**
 * Draw the chart into `el`; returns a function that removes it.
 * @param {HTMLElement} el
 * @param {UsageItem[]} rows one a day, days without use may be missing
 * @param {Date} from the first day
 * @param {number} days how many days from `from`
 * @returns {() => void}
 */
export function drawUsageChart(el, rows, from, days) {
  const byDay = new Map(rows.map((r) => [dayKey(r), r]));
  /** @type {number[]} */
  const xs = [];
  /** @type {number[]} */
  const prompt = [];
  /** @type {number[]} */
  const completion = [];
  for (let i = 0; i < days; i += 1) {
    const d = new Date(from.getTime() + i * 86400000);
    const key = d.toISOString().slice(0, 10);
    const row = byDay.get(key);
    xs.push(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) / 1000);
    prompt.push(row?.prompt_tokens || 0);
    completion.push(row?.completion_tokens || 0);
  }
  const styles = getComputedStyle(document.documentElement);
  const accent = styles.getPropertyValue("--accent").trim() || "#047857";
  const muted = styles.getPropertyValue("--fg-muted").trim() || "#57606a";
  const border = styles.getPropertyValue("--border").trim() || "#d8dde3";
  const axis = { stroke: muted, grid: { stroke: border, width: 1 }, ticks: { stroke: border } };
  const fmt = new Intl.NumberFormat("es-CL");
  /** @type {PlotOptions} */
  const opts = {
    width: Math.max(280, el.clientWidth || 600),
    height: 260,
    scales: { x: { time: true } },
    axes: [{ ...axis }, { ...axis, size: 60, values: (u, vals) => vals.map((v) => fmt.format(v)) }],
    series: [
      { label: "Día", value: (u, v) => (v == null ? "—" : new Date(v * 1000).toLocaleDateString("es-CL", { timeZone: "UTC" })) },
      { label: "Tokens de entrada", stroke: "#0e7490", width: 2, value: (u, v) => fmt.format(v ?? 0) },
      { label: "Tokens generados", stroke: accent, width: 2, fill: "rgba(16,185,129,0.12)", value: (u, v) => fmt.format(v ?? 0) },
    ],
  };
  const plot = new Chart(opts, [xs, prompt, completion], el);
  const resize = () => plot.setSize({ width: Math.max(280, el.clientWidth), height: 260 });
  window.addEventListener("resize", resize);
  return () => {
    window.removeEventListener("resize", resize);
    plot.destroy();
  };
}
