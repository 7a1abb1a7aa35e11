// @ts-check
// "Editar" under a question: the bubble becomes a field in place, counted like the composer;
// sending it makes a new version of the question (a new branch, docs/chat.md).
import { h } from "../../dom.js";
import { state } from "../../state.js";
import { NO_PARENT } from "../versions.js";
import { cutFrom } from "./messages.js";
import { CharCounter } from "./composer.js";
import { questionContent } from "./attachments.js";

let edits = 0; // each open edit's counter has an id of its own (several questions can be edited)

/**
 * @param {HTMLElement} el the question
 * @param {() => boolean} busy true (and says so) while an answer is being generated: not now
 * @param {(text: string, parent: string) => void} send ask the edited question under `parent`
 *   (NO_PARENT for the first one), once `el` and what follows it are gone
 */
export function editQuestion(el, busy, send) {
  if (busy() || el.querySelector(".edit-form")) return;
  const bubble = /** @type {HTMLElement} */ (el.querySelector(".bubble"));
  const meta = /** @type {HTMLElement} */ (el.querySelector(".msg-meta"));
  const original = questionContent(bubble);
  const max = state.config.max_message_chars;
  // No maxlength: a paste past the limit would be cut without a word; the counter says so.
  edits += 1;
  const counterId = `edit-counter-${edits}`;
  const field = h("textarea", { class: "edit-input", "aria-label": "Editar mensaje", rows: 3, "aria-describedby": counterId });
  field.value = original;
  const counter = new CharCounter(counterId, max);
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-sm", text: "Enviar" });
  const update = () => {
    const over = counter.show(field.value.length);
    submit.disabled = !field.value.trim() || over;
  };
  field.addEventListener("input", update);
  update();
  const restore = () => {
    form.remove();
    bubble.hidden = false;
    meta.hidden = false;
    /** @type {HTMLElement | null} */ (meta.querySelector(".edit-btn"))?.focus();
  };
  const form = h("form", { class: "edit-form" },
    field,
    h("div", { class: "dialog-actions" },
      counter.el,
      h("button", { type: "button", class: "btn btn-sm", onclick: restore, text: "Cancelar" }),
      submit,
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = field.value;
    if (!text.trim() || text.length > max || busy()) return;
    if (text.trim() === original.trim()) return restore();
    const parent = el.dataset.parent || NO_PARENT;
    cutFrom(el);
    send(text, parent);
  });
  field.addEventListener("keydown", (event) => {
    if (event.key === "Escape") restore();
    else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  bubble.hidden = true;
  meta.hidden = true;
  el.querySelector(".user-col")?.appendChild(form);
  field.focus();
}
