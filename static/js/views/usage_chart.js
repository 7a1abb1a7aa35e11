// @ts-check
// Tokens per day drawn with uPlot (vendored); days without use are drawn as zero.
import uPlot from "../../vendor/uplot/uPlot.esm.js";
import { formatDayKey } from "../dom.js";

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
 * @property {number} answers
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

/**
 * The calendar days from `fromKey`, "aaaa-mm-dd" each (Santiago days, as the API groups them).
 * @param {string} fromKey
 * @param {number} days
 */
export function dayKeys(fromKey, days) {
  const start = Date.parse(`${fromKey}T00:00:00Z`);
  return Array.from({ length: days }, (_, i) => new Date(start + i * 86400000).toISOString().slice(0, 10));
}

/**
 * Draw the chart into `el`; returns a function that removes it. The x axis reads dd-mm-aaaa.
 * @param {HTMLElement} el
 * @param {UsageItem[]} rows one a day, days without use may be missing
 * @param {string} fromKey the first day, "aaaa-mm-dd"
 * @param {number} days how many days from `fromKey`
 * @returns {() => void}
 */
export function drawUsageChart(el, rows, fromKey, days) {
  const byDay = new Map(rows.map((r) => [String(r.day || "").slice(0, 10), r]));
  const keys = dayKeys(fromKey, days);
  const xs = keys.map((_, i) => i);
  const prompt = keys.map((k) => byDay.get(k)?.prompt_tokens || 0);
  const completion = keys.map((k) => byDay.get(k)?.completion_tokens || 0);
  const styles = getComputedStyle(document.documentElement);
  const accent = styles.getPropertyValue("--accent").trim() || "#047857";
  const muted = styles.getPropertyValue("--fg-muted").trim() || "#57606a";
  const border = styles.getPropertyValue("--border").trim() || "#d8dde3";
  const axis = { stroke: muted, grid: { stroke: border, width: 1 }, ticks: { stroke: border } };
  const fmt = new Intl.NumberFormat("es-CL");
  const dayLabel = (/** @type {number | null} */ v) => (v == null || !keys[v] ? "" : formatDayKey(keys[v]));
  /** @type {PlotOptions} */
  const opts = {
    width: Math.max(280, el.clientWidth || 600),
    height: 260,
    // The x values are day indexes, not instants: the axis shows the API's (Santiago) days
    // whatever the browser's time zone.
    scales: { x: { time: false } },
    axes: [
      {
        ...axis, space: 90, incrs: [1, 2, 3, 5, 7, 10, 14, 30, 60, 90],
        values: (u, vals) => {
          const labels = vals.map((v) => dayLabel(v));
          el.dataset.axisDays = labels.join(" ");  // the days drawn on the canvas, readable in the DOM
          return labels;
        },
      },
      { ...axis, size: 60, values: (u, vals) => vals.map((v) => fmt.format(v)) },
    ],
    series: [
      { label: "Día", value: (u, v) => dayLabel(v) || "—" },
      { label: "Tokens de entrada", stroke: "#0e7490", width: 2, value: (u, v) => fmt.format(v ?? 0) },
      { label: "Tokens generados", stroke: accent, width: 2, fill: "rgba(16,185,129,0.12)", value: (u, v) => fmt.format(v ?? 0) },
    ],
  };
  el.setAttribute("aria-label", `Tokens por día, del ${formatDayKey(keys[0])} al ${formatDayKey(keys[keys.length - 1])}`);
  const plot = new Chart(opts, [xs, prompt, completion], el);
  const resize = () => plot.setSize({ width: Math.max(280, el.clientWidth), height: 260 });
  window.addEventListener("resize", resize);
  return () => {
    window.removeEventListener("resize", resize);
    plot.destroy();
  };
}
