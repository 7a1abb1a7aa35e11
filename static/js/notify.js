// @ts-check
// Telling a person whose tab is hidden that the answer they wait for has ended (on the CPU server
// an answer takes a minute or two, and people look elsewhere meanwhile): the tab's title gets a
// mark (page_title.js), and, for those who turned it on in Configuración, the desktop shows a
// notification. A notification shows the conversation's title and a fixed line, never the
// answer's text: it can appear on a locked screen. The choice is kept per account in this
// browser; the browser's permission is the site's, asked only when someone turns it on.
import { api } from "./api.js";
import { state } from "./state.js";
import { navigate } from "./router.js";
import { markPageTitle, clearPageMark } from "./page_title.js";

const WANTED_KEY = "energyapp.notify-ready";
/** The last answer a tab notified: the other tabs that followed it too stay silent. */
const NOTIFIED_KEY = "energyapp.notified";
/** How long the tab that told an answer's end keeps it claimed from the others. */
const CLAIM_MS = 3000;
/** @type {Map<string, () => void>} the answers this tab holds claimed, by id: their early release */
const claims = new Map();

/** @typedef {"complete" | "stopped" | "error"} Outcome how an answer ended, as the person hears it */

/** @type {Record<Outcome, string>} */
const BODIES = {
  complete: "La respuesta está lista.",
  stopped: "La respuesta se detuvo.",
  error: "La respuesta terminó con un error.",
};

/** @type {Set<Notification>} the notifications this tab shows: closed on sign-out */
const shown = new Set();

/** @param {string} userId */
const wantedKey = (userId) => `${WANTED_KEY}:${userId}`;

/** @returns {boolean} the browser can show desktop notifications (a secure page, an API) */
export function notificationsSupported() {
  return "Notification" in window && window.isSecureContext;
}

/** @returns {NotificationPermission} what the browser allows this site ("denied" without the API) */
export function notificationPermission() {
  return notificationsSupported() ? Notification.permission : "denied";
}

/**
 * @param {string} userId
 * @returns {boolean} this account asked for them here (the browser may have withdrawn the permission since)
 */
export function readyNoticesChosen(userId) {
  return localStorage.getItem(wantedKey(userId)) === "1";
}

/**
 * @param {string} userId
 * @returns {boolean} a finished answer shows a notification for this account
 */
export function readyNoticesOn(userId) {
  return readyNoticesChosen(userId) && notificationPermission() === "granted";
}

/**
 * Turn the notifications on or off for this account. On asks the browser's permission (a
 * prompt, when it has not been answered yet) and stays off unless it is granted.
 * @param {string} userId
 * @param {boolean} on
 * @returns {Promise<NotificationPermission>} the permission, as the browser answered
 */
export async function chooseReadyNotices(userId, on) {
  if (!on) {
    localStorage.removeItem(wantedKey(userId));
    return notificationPermission();
  }
  if (!notificationsSupported()) return "denied";
  const permission = Notification.permission === "default" ? await Notification.requestPermission() : Notification.permission;
  if (permission === "granted") localStorage.setItem(wantedKey(userId), "1");
  else localStorage.removeItem(wantedKey(userId));
  return permission;
}

/**
 * An answer this tab followed has ended. While the tab is hidden, its title says so and, when
 * the person asked for it, a notification too (one per answer across the tabs that followed it).
 * @param {{ conversationId: string | null, messageId: string | null, outcome: Outcome, title: string | null }} ending
 *   `title`: the conversation's, null when the screen does not know it yet (a new conversation)
 */
export function answerEnded(ending) {
  if (document.visibilityState !== "hidden") return;
  markPageTitle(ending.outcome === "error" ? "(!)" : "(✓)");
  const userId = state.user?.id;
  if (!userId || !readyNoticesOn(userId)) return;
  const show = () => showNotification(userId, ending);
  const { messageId } = ending;
  if (!messageId || !navigator.locks) return void show();
  // The tabs that followed the answer end within moments of each other: the first to claim the
  // answer's own lock tells it and holds the lock a while. The last-notified key alone was not
  // enough: Chromium passes a localStorage write to the other tabs asynchronously, so a loaded
  // machine let a second tab read the old value and notify again.
  void navigator.locks.request(`energyapp-notify-${messageId}`, { ifAvailable: true }, async (lock) => {
    if (!lock || localStorage.getItem(NOTIFIED_KEY) === messageId) return;
    localStorage.setItem(NOTIFIED_KEY, messageId);
    await show();
    await new Promise((resolve) => {
      claims.set(messageId, () => resolve(undefined));
      setTimeout(resolve, CLAIM_MS);
    });
    claims.delete(messageId);
  });
}

/**
 * "Continuar" asks for more of an answer: its end is news again, though this browser already
 * told the end of the text it continues (the same message, so the same key in NOTIFIED_KEY).
 * @param {string} messageId
 */
export function answerContinued(messageId) {
  claims.get(messageId)?.(); // its next end is news, however soon it comes
  if (localStorage.getItem(NOTIFIED_KEY) === messageId) localStorage.removeItem(NOTIFIED_KEY);
}

/**
 * @param {string} userId whose answer it is: a click after someone else signed in opens nothing
 * @param {{ conversationId: string | null, outcome: Outcome, title: string | null }} ending
 */
async function showNotification(userId, { conversationId, outcome, title }) {
  let name = title;
  if (!name && conversationId) {
    // A new conversation is named after its question until its title comes (after the answer).
    name = await api(`/conversations/${encodeURIComponent(conversationId)}`).then((c) => c.title).catch(() => null);
  }
  // Signed out, or the tab seen again, while the title was on its way.
  if (state.user?.id !== userId || document.visibilityState !== "hidden") return;
  let note;
  try {
    note = new Notification(name || "EnergyApp", { body: BODIES[outcome], tag: `energyapp-answer-${conversationId ?? "new"}`, lang: "es-CL" });
  } catch {
    return; // Chrome on Android grants the permission but shows them only from a service worker
  }
  shown.add(note);
  note.onclose = () => shown.delete(note);
  note.onclick = () => {
    window.focus();
    note.close();
    shown.delete(note);
    const target = conversationId ? `#/chat/${encodeURIComponent(conversationId)}` : "#/chat";
    if (state.user?.id === userId && location.hash !== target) navigate(target);
  };
}

/** Close what this tab showed: its person came back to it, or signed out. */
function closeShown() {
  for (const note of shown) note.close();
  shown.clear();
}

/**
 * "Cerrar sesión": nothing of this person's answers is left for whoever signs in next here (the
 * choice stays with the account's key, for when this person comes back).
 */
export function forgetReadyNotices() {
  closeShown();
  clearPageMark();
  localStorage.removeItem(NOTIFIED_KEY);
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") closeShown();
});
