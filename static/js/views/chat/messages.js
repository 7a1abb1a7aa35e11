// @ts-check
// The conversation on screen: the welcome, each question's bubble and each answer (Markdown,
// status pill, error with "Reintentar"), and under them their details and actions.
import { api, qs, errorDetail, ApiError } from "../../api.js";
import { h, icon, toast, clear } from "../../dom.js";
import { renderMarkdown } from "../../markdown.js";
import { signedInUser } from "../../state.js";
import { daysAgo } from "../../days.js";
import { answerStats, messageAction, messageTime, versionNav } from "../versions.js";
import { exportConversation } from "../export.js";
import { shareConversation } from "../share.js";
import { questionBubble } from "./attachments.js";
import { feedbackControls } from "./feedback.js";
/** @import { Page } from "../../api.js" */
/** @import { Feedback } from "./feedback.js" */

/**
 * A stored message (`MessageOut`, the fields shown here).
 * @typedef {object} Message
 * @property {string} id
 * @property {string} role "user" or "assistant"
 * @property {string} content
 * @property {string} status "complete", "streaming", "stopped", "interrupted" or "error"
 * @property {string | null} [error_code] why it failed (docs/chat.md), null otherwise
 * @property {string | null} [finish_reason] a complete answer's end: "stop", or "length" when the length cap cut it
 * @property {string | null} [model]
 * @property {number | null} [completion_tokens]
 * @property {number | null} [duration_ms] from the request to the end
 * @property {number | null} [first_token_ms] from the request to the first token
 * @property {boolean} [yours] written for the person signed in (false: for an earlier owner of the conversation)
 * @property {string} [created_at]
 * @property {string | null} [parent_id] the message it follows (its question, for an answer)
 * @property {string[]} [sibling_ids] its versions, oldest first (itself included)
 * @property {Feedback | null} [feedback] the caller's rating of an answer
 */

/**
 * An answer on screen and the stream that fills it.
 * @typedef {object} AnswerView
 * @property {HTMLElement} el
 * @property {Element} body where the Markdown is drawn
 * @property {Element} status "generando…", the queue position, an error
 * @property {Element} meta the final status, copy button, token count
 * @property {string} content the text so far
 * @property {string} [id] the message's id, known once `meta` arrives for a new answer
 * @property {boolean} [reattached] a stream opened again after a reload
 * @property {HTMLElement} [question] the question it answers, when asked here
 * @property {number} [firstTokenAt] performance.now() at its first token, when streamed here
 * @property {string[]} [siblings] its versions
 * @property {boolean} [titled] a `title` event came with it
 * @property {boolean} [stopWanted] "Detener" (or Esc) before the answer had an id: stop it once it has
 * @property {Partial<Message>} [info] what its details were last drawn from (the stored answer, or `done`)
 * @property {Partial<Message>} [before] while "Continuar" writes on it: the answer as it was, shown
 *   again if the request is refused; its stream's first token is then the whole text so far
 * @property {boolean} [continued] "Continuar" wrote on it here: its speed is the server's (both parts)
 */

/**
 * Where the focus was among the messages (`MessageList.focusSpot`).
 * @typedef {object} FocusSpot
 * @property {string} id the message's id, empty outside a message
 * @property {string} action the button's `data-action` ("copy", "edit", "regenerate",
 *   "version-prev", "version-next", "rate-up", "rate-down", "comment", "continue", "save-prompt"), empty
 *   for another element
 * @property {string} elementId the element's id, if it has one
 * @property {string | null} draft the text of the rating's comment form the focus was in
 */

/**
 * What the buttons under the messages do.
 * @typedef {object} MessageActions
 * @property {(el: HTMLElement, id: string, which: "prev" | "next") => void} pickVersion ‹ ›: show version `id` of `el`
 * @property {(el: HTMLElement) => void} editQuestion "Editar"
 * @property {(el: HTMLElement) => void} saveAsPrompt "Guardar como indicación"
 * @property {(view: AnswerView) => void} regenerate "Regenerar"
 * @property {() => string | null} conversationId the conversation shown (for rating its answers)
 * @property {(view: AnswerView) => void} continueAnswer "Continuar", under the last answer the length cap cut
 */

const EXAMPLES = [
  ["Explica un concepto", "¿Qué es la eficiencia energética y cómo se mide en una planta industrial?"],
  ["Redacta un correo", "Redacta un correo formal para solicitar una reunión con el equipo de mantenimiento."],
  ["Resume un texto", "Resume en 5 puntos las ventajas de la energía solar para una empresa mediana."],
  ["Escribe código", "Escribe una función en Python que calcule el consumo mensual promedio a partir de una lista de lecturas."],
];

// An answer that failed, explained when its conversation is opened again (the stream's own
// `error` event says it live). Keys: `messages.error_code`, docs/chat.md.
/** @type {Record<string, string>} */
const ERROR_TEXTS = {
  llm_unavailable: "El servicio del modelo (Ollama) no estaba disponible. Puede reintentar cuando vuelva.",
  llm_error: "El servicio del modelo respondió con un error.",
  internal_error: "Ocurrió un error interno durante la respuesta.",
  app_shutdown: "El servidor se reinició durante la respuesta.",
  app_restarted: "El servidor se reinició durante la respuesta.",
  // Saved with the status `stopped` (not a failure): shown under the answer all the same.
  stopped_by_admin: "Un administrador detuvo esta respuesta.",
};
export const ERROR_FALLBACK = "Ocurrió un error al generar la respuesta.";

/**
 * The Spanish explanation of a stored answer that failed.
 * @param {Pick<Message, "error_code" | "model">} message
 */
export function storedError(message) {
  if (message.error_code === "model_missing") {
    const model = message.model ? `«${message.model}» ` : "";
    return `El modelo ${model}no está instalado en el servidor; un administrador debe descargarlo con ollama pull.`;
  }
  return (message.error_code && ERROR_TEXTS[message.error_code]) || ERROR_FALLBACK;
}

/**
 * Whether a stored answer is drawn with its reason under it: a failure, or an answer an admin
 * stopped (`stopped` with `stopped_by_admin`, docs/chat.md).
 * @param {Pick<Message, "status" | "error_code">} message
 */
export function explained(message) {
  return message.status === "error" || (message.status === "stopped" && message.error_code === "stopped_by_admin");
}

/** @type {Record<string, string>} */
export const STATUS_LABELS = {
  stopped: "Respuesta detenida",
  interrupted: "Respuesta interrumpida",
  error: "Respuesta con error",
};

// Who wrote each message, for a screen reader (the bubbles and the logo say it only to the eye);
// headings, so that it can also jump from message to message.
const QUESTION_HEADING = "Usted dijo:";
/** Under an answer the length cap cut (`finish_reason` "length", docs/chat.md). */
export const CUT_TEXT = "La respuesta llegó al largo máximo.";
const ANSWER_HEADING = "EnergyApp respondió:";

export class MessageList {
  /** @param {MessageActions} actions */
  constructor(actions) {
    this.actions = actions;
    // Read once: the welcome can be drawn after a load that ends when the person signed out.
    this.firstName = (signedInUser().full_name || "").split(" ")[0];
    this.inner = h("div", { class: "messages-inner" });
    // A tab stop of its own: a long answer with no control in view can be scrolled with the
    // arrows and Page Up/Down. Not a live region (an answer token by token would be noise).
    this.scroller = h("div", { class: "messages", id: "messages", tabindex: "0", role: "region", "aria-label": "Mensajes" }, this.inner);
  }

  /** @param {(prompt: string) => void} pick an example was chosen: its text goes to the composer */
  showWelcome(pick) {
    clear(this.inner);
    const name = this.firstName;
    this.inner.appendChild(h("div", { class: "welcome", id: "welcome" },
      h("img", { src: "/static/logo.svg", alt: "" }),
      h("h2", { text: name ? `Hola, ${name}. ¿En qué le ayudo hoy?` : "¿En qué le ayudo hoy?" }),
      h("p", { class: "muted", text: "Sus conversaciones quedan en el servidor de la empresa. Pruebe con uno de estos ejemplos:" }),
      h("div", { class: "examples" },
        EXAMPLES.map(([title, prompt]) => h("button", { type: "button", class: "example", onclick: () => pick(prompt) },
          h("strong", { text: title }), h("span", { text: prompt }))),
      ),
    ));
  }

  showLoading() {
    clear(this.inner);
    this.inner.appendChild(h("p", { class: "list-status", text: "Cargando conversación…" }));
  }

  /**
   * The conversation could not be opened: why, and a way out.
   * @param {unknown} err
   * @returns {boolean} whether it does not exist (or is out of reach)
   */
  showLoadError(err) {
    clear(this.inner);
    const notFound = err instanceof ApiError && err.status === 404;
    this.inner.appendChild(h("div", { class: "welcome" },
      h("h2", { text: notFound ? "Conversación no encontrada" : "No se pudo cargar la conversación" }),
      h("p", { class: "muted", text: notFound ? "No existe o no tiene acceso a ella." : errorDetail(err) }),
      h("a", { class: "btn", href: "#/chat", text: "Ir a una conversación nueva" }),
    ));
    return notFound;
  }

  /**
   * "Compartir" and "Exportar" above the conversation, once it exists.
   * @param {string | null} id
   */
  addExportButton(id) {
    if (!id || document.getElementById("export-btn")) return;
    this.inner.prepend(h("div", { class: "conv-tools" },
      h("button", { type: "button", class: "btn btn-ghost btn-sm", id: "share-btn", "aria-haspopup": "dialog", onclick: () => shareConversation(id) }, icon("share"), "Compartir"),
      h("button", { type: "button", class: "btn btn-ghost btn-sm", id: "export-btn", onclick: () => exportConversation(id) }, icon("download"), "Exportar")));
  }

  /**
   * Focus a version button of the `index`th message, drawn again after a switch.
   * @param {number} index
   * @param {"prev" | "next"} which the button used, when it can still be used
   */
  focusVersions(index, which) {
    const el = this.inner.querySelectorAll(".msg")[index];
    const buttons = [...(el?.querySelectorAll(".versions button") ?? [])].map((b) => /** @type {HTMLButtonElement} */ (b));
    const preferred = buttons.find((b) => b.classList.contains(`version-${which}`) && !b.disabled);
    (preferred ?? buttons.find((b) => !b.disabled))?.focus();
  }

  /**
   * Where the focus is among the messages, to find it again once they are drawn anew: the
   * message's id and which of its buttons (`data-action`), or only that it was in the list.
   * @returns {FocusSpot | null} null when the focus is elsewhere
   */
  focusSpot() {
    const focused = document.activeElement;
    if (!(focused instanceof HTMLElement) || !this.inner.contains(focused)) return null;
    const message = focused.closest(".msg");
    // In the rating's comment form (the field, Omitir, Enviar): the form opens again with the
    // words typed so far, which the redraw would otherwise throw away.
    const form = focused.closest(".feedback-form");
    return {
      id: message instanceof HTMLElement ? message.dataset.id || "" : "",
      action: form ? "comment" : focused.dataset.action || "",
      elementId: focused.id,
      draft: form?.querySelector("textarea")?.value ?? null,
    };
  }

  /**
   * Focus the spot again in the messages drawn anew: the same button of the same message, else
   * another button of that message (a version arrow now disabled), else the same element (the
   * export button), else the message list itself, never <body>. A rating's comment form the
   * focus was in opens again, with the words typed so far.
   * @param {FocusSpot} spot
   */
  refocus(spot) {
    const message = [...this.inner.querySelectorAll(".msg")].find((el) => el instanceof HTMLElement && el.dataset.id === spot.id);
    const buttons = [...(message?.querySelectorAll("button[data-action]") ?? [])]
      .map((b) => /** @type {HTMLButtonElement} */ (b))
      .filter((b) => !b.disabled && !b.closest("[hidden]"));
    const same = spot.elementId ? document.getElementById(spot.elementId) : null;
    const target = buttons.find((b) => b.dataset.action === spot.action) ?? buttons[0] ?? (same && this.inner.contains(same) ? same : this.scroller);
    if (spot.draft !== null && target.dataset.action === "comment") {
      target.click(); // opens the form, its field focused
      const field = message?.querySelector(".feedback-form textarea");
      if (field instanceof HTMLTextAreaElement) {
        field.value = spot.draft;
        field.dispatchEvent(new Event("input")); // its counter
        return;
      }
    }
    target.focus();
  }

  scrollToEnd(force = false) {
    const s = this.scroller;
    const near = s.scrollHeight - s.scrollTop - s.clientHeight < 160;
    if (force || near) s.scrollTop = s.scrollHeight;
  }

  /**
   * @param {Pick<Message, "content"> & Partial<Message>} message no id for a question just sent
   */
  appendQuestion(message) {
    document.getElementById("welcome")?.remove();
    this.dropContinue();
    const meta = h("div", { class: "msg-meta" });
    const el = h("div", { class: "msg msg-user", dataset: { id: message.id || "", role: "user", parent: message.parent_id || "" } },
      h("h2", { class: "sr-only", text: QUESTION_HEADING }),
      h("div", { class: "user-col" }, questionBubble(message.content), meta));
    this.inner.appendChild(el);
    this.questionMeta(el, message);
    return el;
  }

  /**
   * Under a question: its versions, "Editar" and "Guardar como indicación" (once it is saved)
   * and its time.
   * @param {HTMLElement} el
   * @param {Partial<Message>} message
   */
  questionMeta(el, message) {
    const meta = /** @type {HTMLElement} */ (el.querySelector(".msg-meta"));
    clear(meta);
    const id = el.dataset.id;
    if (id) {
      meta.append(
        versionNav(id, message.sibling_ids, (target, which) => this.actions.pickVersion(el, target, which)) || "",
        h("button", { type: "button", class: "btn btn-ghost btn-sm edit-btn", dataset: { action: "edit" }, onclick: () => this.actions.editQuestion(el) }, icon("edit"), "Editar"),
        h("button", { type: "button", class: "btn btn-ghost btn-sm save-prompt-btn", dataset: { action: "save-prompt" }, onclick: () => this.actions.saveAsPrompt(el) }, icon("prompt"), "Guardar como indicación"),
      );
    }
    meta.append(messageTime(message.created_at));
  }

  /**
   * @param {Pick<Message, "content" | "status"> & Partial<Message>} message no id for an answer just asked for
   * @returns {AnswerView}
   */
  appendAnswer(message) {
    document.getElementById("welcome")?.remove();
    this.dropContinue();
    const body = h("div", { class: "md" });
    const status = h("div", { class: "status-slot" });
    const meta = h("div", { class: "msg-meta" });
    const el = h("div", { class: "msg msg-assistant", dataset: { id: message.id || "", role: "assistant", status: message.status || "", parent: message.parent_id || "" } },
      h("img", { class: "bot-avatar", src: "/static/logo.svg", alt: "" }),
      h("div", { class: "body" }, h("h2", { class: "sr-only", text: ANSWER_HEADING }), body, status, meta),
    );
    this.inner.appendChild(el);
    /** @type {AnswerView} */
    const view = { el, body, status, meta, content: message.content || "", id: message.id, siblings: message.sibling_ids };
    renderMarkdown(body, view.content);
    this.finishMeta(view, message.status, message);
    return view;
  }

  /** A message is added below: the answer above it can no longer be continued. */
  dropContinue() {
    for (const button of this.inner.querySelectorAll(".continue-btn")) button.remove();
  }

  /**
   * @param {AnswerView} view
   * @param {string} status
   * @param {Partial<Message>} [info] the stored answer, or the stream's `done`
   */
  finishMeta(view, status, info = {}) {
    view.el.dataset.status = status || "";
    clear(view.meta);
    if (status === "streaming") return;
    view.info = info;
    if (STATUS_LABELS[status]) view.meta.appendChild(h("span", { class: "pill", text: STATUS_LABELS[status] }));
    const cut = status === "complete" && info.finish_reason === "length";
    view.el.dataset.finish = cut ? "length" : "";
    if (cut) {
      const note = h("div", { class: "msg-cut" }, h("span", { text: CUT_TEXT }));
      // Only the last answer shown goes on: one below it would no longer be the end. Nor one
      // of an earlier day (Santiago's, the quota's): the server refuses it (`continue_too_late`).
      const earlier = info.created_at ? daysAgo(info.created_at) > 0 : false;
      // Nor one written for an earlier owner of a reassigned conversation (`answer_of_another`).
      if (view.id && view.el === this.inner.lastElementChild && !earlier && info.yours !== false) {
        note.appendChild(h("button", { type: "button", class: "btn btn-sm continue-btn", dataset: { action: "continue" }, onclick: () => this.actions.continueAnswer(view) }, icon("send"), "Continuar"));
      }
      view.meta.appendChild(note);
    }
    if (view.content) {
      const copy = h("button", { type: "button", class: "btn btn-ghost btn-sm", "aria-label": "Copiar respuesta", dataset: { action: "copy" } }, icon("copy"), "Copiar");
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(view.content);
          toast("Respuesta copiada.");
        } catch {
          toast("No se pudo copiar.", "error");
        }
      });
      view.meta.appendChild(copy);
    }
    if (view.id && view.el.dataset.parent) view.meta.appendChild(messageAction("retry", "Regenerar", () => this.actions.regenerate(view), "regenerate"));
    const conversationId = this.actions.conversationId();
    if (status === "complete" && view.id && conversationId) view.meta.appendChild(feedbackControls(conversationId, view.id, info.feedback));
    const nav = view.id ? versionNav(view.id, view.siblings, (target, which) => this.actions.pickVersion(view.el, target, which)) : null;
    if (nav) view.meta.appendChild(nav);
    view.meta.appendChild(messageTime(info.created_at));
    const measured = view.firstTokenAt !== undefined && !view.reattached && !view.continued ? performance.now() - view.firstTokenAt : null;
    const stats = answerStats(info, measured);
    if (stats) view.meta.appendChild(h("span", { class: "msg-stats", text: stats }));
  }
}

/**
 * @param {AnswerView} view
 * @param {string} text none to clear it
 */
export function showStatus(view, text) {
  // Unchanged (each token says "generando…" again): a status region drawn anew is announced
  // anew by a screen reader, so it stays as it is.
  if (text && view.status.querySelector(".status-pill")?.textContent === text) return;
  clear(view.status);
  if (text) view.status.appendChild(h("div", { class: "status-pill", role: "status" }, h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), h("span", { text })));
}

/**
 * @param {AnswerView} view
 * @param {string} detail
 * @param {(() => void) | null} retry what "Reintentar" does; no button without it
 */
export function showError(view, detail, retry) {
  clear(view.status);
  const box = h("div", { class: "msg-error", role: "alert" }, h("span", { text: detail }));
  // Used once; the explanation stays with the answer it explains.
  const button = h("button", { type: "button", class: "btn btn-sm", onclick: () => { button.remove(); retry?.(); } }, icon("retry"), "Reintentar");
  if (retry) box.appendChild(button);
  view.status.appendChild(box);
}

/**
 * Remove a message and everything shown after it (a new version replaces that part).
 * @param {Element} el
 */
export function cutFrom(el) {
  while (el.nextElementSibling) el.nextElementSibling.remove();
  el.remove();
}

/**
 * @param {string} id
 * @returns {Promise<Message[]>} oldest first, up to 50 pages
 */
export async function fetchMessages(id) {
  /** @type {Message[]} */
  const all = [];
  /** @type {string | null} */
  let cursor = null;
  for (let page = 0; page < 50; page += 1) {
    /** @type {Page<Message>} */
    const data = await api(`/conversations/${encodeURIComponent(id)}/messages${qs({ limit: 200, cursor })}`);
    all.push(...data.items);
    cursor = data.next_cursor;
    if (!cursor) break;
  }
  return all;
}

