// @ts-check
// Calendar days as people in Chile count them (America/Santiago), whatever the browser's zone.

const ZONE = "America/Santiago";
const DAY_MS = 86_400_000;
// en-CA writes dates as YYYY-MM-DD, which Date.parse reads as that day's UTC midnight.
const dayKey = new Intl.DateTimeFormat("en-CA", { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit" });

/**
 * Whole Santiago days between `iso` and now (0 today, 1 yesterday).
 * @param {string} iso
 * @param {Date} [now]
 */
export function daysAgo(iso, now = new Date()) {
  return Math.round((Date.parse(dayKey.format(now)) - Date.parse(dayKey.format(new Date(iso)))) / DAY_MS);
}

/**
 * The sidebar group of a conversation last updated at `iso`.
 * @param {string} iso
 * @returns {"Hoy" | "Ayer" | "Últimos 7 días" | "Anteriores"}
 */
export function dayGroup(iso) {
  const days = daysAgo(iso);
  if (days <= 0) return "Hoy";
  if (days === 1) return "Ayer";
  if (days <= 7) return "Últimos 7 días";
  return "Anteriores";
}
