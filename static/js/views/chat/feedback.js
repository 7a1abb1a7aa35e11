// @ts-check
// 👍/👎 under a finished answer ("Buena respuesta" / "Mala respuesta", toggle buttons) and the
// optional comment the administrators read (docs/ui.md). Pressing the pressed one again removes
// the rating; the saved rating comes back with the messages (`feedback`).
import { api, errorDetail } from "../../api.js";
import { h, icon, toast } from "../../dom.js";
import { CharCounter } from "./composer.js";
import { instructionChars } from "../instructions.js";

/** The longest comment, in characters (the API's `MAX_COMMENT_CHARS`). */
export const MAX_COMMENT = 1000;

/**
 * The caller's rating of an answer (`FeedbackOut`).
 * @typedef {object} Feedback
 * @property {"up" | "down"} rating
 * @property {string | null} comment
 */

const LABELS = { up: "Buena respuesta", down: "Mala respuesta" };
let forms = 0; // each open form's counter has an id of its own

/**
 * The two buttons, and the comment form under them once a rating is chosen.
 * @param {string} conversationId
 * @param {string} messageId
 * @param {Feedback | null | undefined} saved the rating stored, if any
 */
export function feedbackControls(conversationId, messageId, saved) {
  const url = `/conversations/${encodeURIComponent(conversationId)}/messages/${encodeURIComponent(messageId)}/feedback`;
  /** @type {Feedback | null} */
  let current = saved ?? null;
  /** @type {HTMLFormElement | null} */
  let form = null;
  const button = (/** @type {"up" | "down"} */ rating) =>
    h("button", { type: "button", class: `icon-btn feedback-btn feedback-${rating}`, "aria-label": LABELS[rating], title: LABELS[rating], "aria-pressed": "false", dataset: { action: `rate-${rating}` }, onclick: () => choose(rating) },
      icon(rating === "up" ? "thumbUp" : "thumbDown"));
  const buttons = { up: button("up"), down: button("down") };
  const comment = h("button", { type: "button", class: "btn btn-ghost btn-sm feedback-comment", dataset: { action: "comment" }, onclick: () => openForm() });
  const group = h("span", { class: "feedback", role: "group", "aria-label": "Valore la respuesta" }, buttons.up, buttons.down, comment);

  const show = () => {
    for (const rating of /** @type {const} */ (["up", "down"])) buttons[rating].setAttribute("aria-pressed", String(current?.rating === rating));
    comment.hidden = !current || Boolean(form);
    comment.textContent = current?.comment ? "Editar comentario" : "Comentar";
  };
  let busy = false;
  // aria-disabled, not disabled: a disabled button loses the focus (to <body>), and a keyboard
  // user who pressed it would be left nowhere once the rating is saved or removed.
  const setBusy = (/** @type {boolean} */ value) => {
    busy = value;
    for (const b of [buttons.up, buttons.down]) b.setAttribute("aria-disabled", String(value));
  };
  const closeForm = () => {
    form?.remove();
    form = null;
    show();
  };

  /** @param {"up" | "down"} rating */
  async function choose(rating) {
    if (busy) return;
    const removing = current?.rating === rating;
    setBusy(true);
    try {
      if (removing) {
        await api(url, { method: "DELETE" });
        current = null;
        closeForm();
        toast("Valoración quitada.");
      } else {
        // No comment: the one saved stays if this rating is already saved (chosen in another
        // tab this one had not seen), and the form opens with it.
        current = /** @type {Feedback} */ (await api(url, { method: "PUT", body: { rating } }));
        closeForm();
        openForm();
      }
    } catch (err) {
      toast(errorDetail(err, "No se pudo guardar la valoración."), "error");
    } finally {
      setBusy(false);
      show();
    }
  }

  function openForm() {
    if (!current || form) return;
    const rating = current.rating;
    forms += 1;
    const counterId = `feedback-counter-${forms}`;
    const field = h("textarea", {
      class: "input feedback-input", rows: 2, "aria-describedby": `${counterId} feedback-hint-${forms}`,
      "aria-label": rating === "down" ? "¿Qué faltó o qué estuvo mal? (opcional)" : "¿Qué le sirvió? (opcional)",
      placeholder: rating === "down" ? "¿Qué faltó o qué estuvo mal? (opcional)" : "¿Qué le sirvió? (opcional)",
    });
    field.value = current.comment ?? "";
    // No maxlength: a paste past the limit would be cut without a word; the counter says so.
    const counter = new CharCounter(counterId, MAX_COMMENT, "El comentario");
    const send = h("button", { type: "submit", class: "btn btn-primary btn-sm", text: "Enviar comentario" });
    // Counted as the server counts a comment, cleaned as custom instructions are: code points
    // once in NFC and trimmed (an emoji is one character, not the two of String.length).
    const update = () => { send.disabled = counter.show(instructionChars(field.value)); };
    field.addEventListener("input", update);
    const skip = () => {
      closeForm();
      buttons[rating].focus();
    };
    form = h("form", { class: "feedback-form" },
      field,
      h("p", { class: "hint small", id: `feedback-hint-${forms}`, text: "Lo leen los administradores de EnergyApp para mejorar el servicio." }),
      h("div", { class: "dialog-actions" },
        counter.el,
        h("button", { type: "button", class: "btn btn-sm", onclick: skip, text: "Omitir" }),
        send,
      ),
    );
    // Escape anywhere in the form (the field, Omitir, Enviar comentario) is Omitir.
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") skip();
    });
    let sending = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (sending || send.disabled || !current) return;
      // aria-disabled while it is sent, as the rating buttons: a disabled Enviar would drop
      // the focus to <body>, where a refusal would leave a keyboard user.
      sending = true;
      send.setAttribute("aria-disabled", "true");
      try {
        current = /** @type {Feedback} */ (await api(url, { method: "PUT", body: { rating: current.rating, comment: field.value } }));
        toast("Gracias por su comentario.");
        skip();
      } catch (err) {
        toast(errorDetail(err, "No se pudo enviar el comentario."), "error");
        update();
      } finally {
        sending = false;
        send.removeAttribute("aria-disabled");
      }
    });
    update();
    group.after(form);
    show();
    field.focus();
  }

  show();
  return group;
}
