// @ts-check
// Per-message details and versions: the time, an answer's tokens and speed, "‹ 2/3 ›" between
// the versions of a message (edits of a question, regenerated answers; docs/chat.md).
import { h, icon } from "../dom.js";
import { plural } from "../plural.js";

/** The parent_message_id of a new first message (an edit of the first question). */
export const NO_PARENT = "00000000-0000-0000-0000-000000000000";

const parts = new Intl.DateTimeFormat("es-CL", {
  timeZone: "America/Santiago",
  day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});
const decimal = new Intl.NumberFormat("es-CL", { maximumFractionDigits: 1 });

/**
 * "dd-mm-aaaa HH:MM", Chile's time.
 * @param {Date} moment
 */
export function chileTime(moment) {
  /** @type {Record<string, string>} */
  const p = {};
  for (const { type, value } of parts.formatToParts(moment)) p[type] = value;
  return `${p.day}-${p.month}-${p.year} ${p.hour}:${p.minute}`;
}

/**
 * When a message was sent, as a <time>.
 * @param {string | undefined} iso none for a message just sent: now
 */
export function messageTime(iso) {
  const moment = iso ? new Date(iso) : new Date();
  return h("time", { class: "msg-time", datetime: moment.toISOString(), text: chileTime(moment) });
}

/**
 * What is known of an answer's generation: "60 tokens · 24,8 tokens/s", or for an answer
 * stopped before Ollama counted its tokens, how long it ran ("6,2 s").
 * @param {{ completion_tokens?: number | null, duration_ms?: number | null, first_token_ms?: number | null }} info
 * @param {number | null} [streamedMs] time from the first token to the end, measured here
 * @returns {string} empty when nothing is known
 */
export function answerStats(info, streamedMs = null) {
  const tokens = info.completion_tokens;
  const writing = streamedMs ?? (info.duration_ms != null && info.first_token_ms != null ? info.duration_ms - info.first_token_ms : null);
  if (tokens) {
    const speed = writing && writing > 0 ? ` · ${decimal.format(tokens / (writing / 1000))} tokens/s` : "";
    return `${plural(tokens, "token", "tokens")}${speed}`;
  }
  return info.duration_ms ? `${decimal.format(info.duration_ms / 1000)} s` : "";
}

/**
 * "‹ 2/3 ›" for a message with versions, or null when it has none.
 * @param {string} id the message shown
 * @param {string[] | undefined} siblings its versions, oldest first (itself included)
 * @param {(id: string, button: "prev" | "next") => void} pick show that version
 */
export function versionNav(id, siblings, pick) {
  if (!siblings || siblings.length < 2) return null;
  const index = siblings.indexOf(id);
  const button = (/** @type {"prev" | "next"} */ which, /** @type {number} */ target, /** @type {string} */ label) =>
    h("button", {
      type: "button", class: `icon-btn version-${which}`, dataset: { action: `version-${which}` }, "aria-label": label, title: label, disabled: target < 0 || target >= siblings.length,
      onclick: () => pick(siblings[target], which),
    }, h("span", { "aria-hidden": "true", text: which === "prev" ? "‹" : "›" }));
  // The group says which version is shown: the focus lands in a new group after a switch,
  // and a screen reader reads its name, where "2/3" alone was never heard.
  return h("span", { class: "versions", role: "group", "aria-label": `Versión ${index + 1} de ${siblings.length}` },
    button("prev", index - 1, "Versión anterior"),
    h("span", { class: "version-count", "aria-hidden": "true", text: `${index + 1}/${siblings.length}` }),
    button("next", index + 1, "Versión siguiente"),
  );
}

/**
 * A small labelled action under a message ("Editar", "Regenerar").
 * @param {import("../dom.js").IconName} name
 * @param {string} label
 * @param {() => void} onclick
 * @param {string} [action] its `data-action`, by which the focus finds it again after a redraw
 */
export function messageAction(name, label, onclick, action = name) {
  return h("button", { type: "button", class: "btn btn-ghost btn-sm", dataset: { action }, onclick }, icon(name), label);
}
