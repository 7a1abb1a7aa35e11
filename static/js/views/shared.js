// @ts-check
// #/compartida/<token>: a conversation someone shared, read-only (GET /shared/{token}), and
// "Continuar en mi cuenta", which copies it into a new conversation of the reader's.
import { api, errorDetail } from "../api.js";
import { h, icon, toast, formatDate, clear } from "../dom.js";
import { renderMarkdown } from "../markdown.js";
import { navigate } from "../router.js";
import { setPageTitle } from "../page_title.js";
import { messageTime } from "./versions.js";
import { questionBubble } from "./chat/attachments.js";
import { CUT_TEXT, STATUS_LABELS, explained, storedError } from "./chat/messages.js";

// An answer the owner is continuing ("Continuar") since it was shared: read as it stands now.
const STREAMING_LABEL = "Respuesta en curso";

/**
 * A shared conversation as its readers see it (`SharedConversationOut`).
 * @typedef {object} SharedConversation
 * @property {string} title
 * @property {string} shared_by the name of who shared it
 * @property {string} shared_at when the version shown was shared
 * @property {boolean} is_owner the reader is who shared it
 * @property {{ role: string, content: string, status: string, created_at: string, model: string | null, error_code: string | null, finish_reason: string | null }[]} messages
 */

/**
 * @param {HTMLElement} main
 * @param {string | undefined} token
 * @returns {() => void} what to undo when the screen is left
 */
export function renderShared(main, token) {
  let left = false;
  const heading = h("h1", { id: "shared-title", text: "Conversación compartida" });
  const byline = h("p", { class: "muted", id: "shared-byline" });
  const status = h("div", { id: "shared-status", role: "status", "aria-live": "polite" }, h("p", { class: "list-status", text: "Cargando conversación…" }));
  const messages = h("div", { class: "shared-messages", id: "shared-messages", role: "region", "aria-label": "Mensajes (solo lectura)" });
  const actions = h("div", { class: "shared-actions" });
  main.appendChild(h("div", { class: "page" }, h("div", { class: "page-inner shared-page" }, heading, byline, actions, status, messages)));
  api(`/shared/${encodeURIComponent(token || "")}`).then((/** @type {SharedConversation} */ shared) => {
    if (left) return;
    heading.textContent = shared.title;
    setPageTitle(`${shared.title} · EnergyApp`);
    byline.textContent = `Conversación compartida por ${shared.shared_by} · ${formatDate(shared.shared_at)}`;
    clear(status);
    if (shared.is_owner) status.appendChild(h("p", { class: "hint", text: "Así ven esta conversación quienes tienen el enlace." }));
    for (const message of shared.messages) messages.appendChild(sharedMessage(message));
    actions.appendChild(continueButton(token || ""));
  }).catch((err) => {
    if (left) return;
    clear(status).append(
      h("div", { class: "alert alert-warn", role: "alert", text: errorDetail(err, "No se pudo abrir la conversación compartida.") }),
      h("a", { class: "btn", href: "#/chat", text: "Ir al chat" }));
  });
  return () => {
    left = true;
  };
}

/** @param {string} token */
function continueButton(token) {
  const button = h("button", { type: "button", class: "btn btn-primary", id: "shared-continue" }, icon("plus"), "Continuar en mi cuenta");
  button.addEventListener("click", async () => {
    if (button.getAttribute("aria-disabled") === "true") return;
    button.setAttribute("aria-disabled", "true");
    try {
      /** @type {{ conversation_id: string }} */
      const copy = await api(`/shared/${encodeURIComponent(token)}/copy`, { method: "POST" });
      toast("La conversación se copió en su cuenta: puede seguirla.");
      navigate(`#/chat/${encodeURIComponent(copy.conversation_id)}`);
    } catch (err) {
      toast(errorDetail(err, "No se pudo copiar la conversación."), "error");
      button.removeAttribute("aria-disabled");
    }
  });
  return h("div", { class: "shared-continue" }, button,
    h("span", { class: "hint", text: "Crea una conversación suya con estos mensajes, para seguir escribiendo." }));
}

/** @param {SharedConversation["messages"][number]} message */
function sharedMessage(message) {
  const meta = h("div", { class: "msg-meta" }, messageTime(message.created_at));
  if (message.role === "user") {
    return h("div", { class: "msg msg-user" },
      h("h2", { class: "sr-only", text: "Pregunta:" }),
      h("div", { class: "user-col" }, questionBubble(message.content), meta));
  }
  const body = h("div", { class: "md" });
  renderMarkdown(body, message.content);
  if (message.model) meta.append(h("span", { text: message.model }));
  // As in the chat: a stopped, cut off or failed answer says so (an empty one is otherwise a
  // blank bubble, a stopped one reads as complete).
  const label = message.status === "streaming" ? STREAMING_LABEL : STATUS_LABELS[message.status];
  if (label) meta.append(h("span", { class: "pill", text: label }));
  // And why: the owner's reason for a failure, the cap for a cut (no alert: nothing happens now).
  const why = explained(message) ? h("div", { class: "msg-error" }, h("span", { text: storedError(message) }))
    : message.status === "complete" && message.finish_reason === "length" ? h("div", { class: "msg-cut" }, h("span", { text: CUT_TEXT }))
      : null;
  return h("div", { class: "msg msg-assistant", "data-status": message.status },
    h("img", { class: "bot-avatar", src: "/static/logo.svg", alt: "" }),
    h("div", { class: "body" }, h("h2", { class: "sr-only", text: "Respuesta de EnergyApp:" }), body, why, meta));
}
