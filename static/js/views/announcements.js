// @ts-check
// "Avisos generales": the band under the header with the administrators' active announcements
// for the signed-in person (GET /announcements), each with "Cerrar aviso", which closes it on
// every device of theirs (POST /announcements/{id}/dismiss). Read on boot, when the tab is seen
// again and every 60 s while it is visible; nothing while hidden or signed out. These reads are
// not the person's doing, so they never refresh the session (a visible tab left alone must
// still reach refresh_idle_days): once the access token has expired they stop, until this
// tab gets a new one (the person's next request refreshes it). The text is plain: set with
// textContent, never as HTML.
import { api, backgroundRead, errorDetail } from "../api.js";
import { h, icon, toast } from "../dom.js";
import { state } from "../state.js";

/** @typedef {{ id: string, body: string, level: "info" | "warning", starts_at: string, ends_at: string | null }} Announcement */

const POLL_MS = 60_000;
const band = h("div", { class: "announcements", id: "announcements" });
/** @type {Map<string, HTMLElement>} the items shown, by announcement id */
const shown = new Map();
/** @type {number | undefined} */
let timer;
let running = false;
/** the access token expired under a read: it waits for a new one (backgroundRead) */
let idle = false;
let generation = 0;

/**
 * The band, for the shell under the header; starts reading the announcements. Its items keep
 * their place across screens; a warning already seen is no longer an alert (moving the band
 * into the new screen must not announce it again).
 * @returns {HTMLElement}
 */
export function announcementBand() {
  for (const el of shown.values()) el.setAttribute("role", "status");
  if (!running) {
    running = true;
    refresh();
  }
  return band;
}

/** Stop reading and empty the band (signed out: the next person must not see these). */
export function stopAnnouncements() {
  running = false;
  idle = false;
  generation += 1;
  clearTimeout(timer);
  shown.clear();
  band.replaceChildren();
}

/** Read the announcements again now (the admin's tab, after a change). */
export function refreshAnnouncements() {
  if (running) refresh();
}

function schedule() {
  clearTimeout(timer);
  if (running && !idle && document.visibilityState === "visible") timer = setTimeout(refresh, POLL_MS);
}

async function refresh() {
  if (!running || !state.user) return stopAnnouncements();
  const mine = ++generation;
  idle = false;
  try {
    /** @type {Announcement[] | undefined} */
    const items = await backgroundRead("/announcements", readAgain);
    if (items === undefined) {
      if (mine === generation) idle = true;
    } else if (mine === generation && running) show(items);
  } catch {
    // Keep what is shown: the next read tries again.
  }
  if (mine === generation) schedule();
}

function readAgain() {
  if (running && idle) refresh();
}

/** @param {Announcement[]} items in the server's order (warnings first, then the newest) */
function show(items) {
  const ids = new Set(items.map((a) => a.id));
  for (const [id, el] of shown) {
    if (!ids.has(id)) {
      el.remove();
      shown.delete(id);
    }
  }
  items.forEach((a, index) => {
    let el = shown.get(a.id);
    // A new level is news (the server forgot its dismissals): an info become a warning is
    // inserted anew as an alert, the one way a screen reader reads it out; a role changed in
    // place says nothing.
    if (el && el.dataset.level !== a.level) {
      el.remove();
      el = undefined;
    }
    if (!el) {
      el = item(a);
      shown.set(a.id, el);
    }
    const text = /** @type {HTMLElement} */ (el.querySelector(".announcement-text"));
    if (text.textContent !== a.body) text.textContent = a.body;
    // Moved only when out of place: an item inserted again is announced again (an alert
    // every minute).
    const there = band.children[index] ?? null;
    if (there !== el) band.insertBefore(el, there);
  });
}

/** @param {Announcement} a */
function item(a) {
  const close = h("button", { type: "button", class: "icon-btn announcement-close", "aria-label": "Cerrar aviso", title: "Cerrar aviso" }, icon("close"));
  const warning = a.level === "warning";
  const el = h("div", { class: warning ? "announcement announcement-warning" : "announcement", role: warning ? "alert" : "status", dataset: { announcementId: a.id, level: a.level } },
    h("p", { class: "announcement-text" }),
    close,
  );
  // aria-disabled while closing, not disabled: a disabled button loses the focus to <body>.
  close.addEventListener("click", async () => {
    if (close.getAttribute("aria-disabled") === "true") return;
    close.setAttribute("aria-disabled", "true");
    try {
      await api(`/announcements/${encodeURIComponent(a.id)}/dismiss`, { method: "POST" });
      const hadFocus = el.contains(document.activeElement);
      const next = /** @type {HTMLElement | null} */ ((el.nextElementSibling || el.previousElementSibling)?.querySelector(".announcement-close") ?? null);
      el.remove();
      shown.delete(a.id);
      if (hadFocus) (next || document.getElementById("main"))?.focus();
    } catch (err) {
      toast(errorDetail(err, "No se pudo cerrar el aviso."), "error");
    } finally {
      close.removeAttribute("aria-disabled");
    }
  });
  return el;
}

document.addEventListener("visibilitychange", () => {
  if (!running || idle) return;
  if (document.visibilityState === "visible") refresh();
  else {
    generation += 1;
    clearTimeout(timer);
  }
});
