// @ts-check
// The composer's list of saved prompts (docs/ui.md, "Indicaciones guardadas"): "/" typed into
// the empty field, or the "Indicaciones" button, opens it; what follows the "/" filters it. It
// follows the WAI-ARIA combobox pattern with the focus kept in the field: ↑ ↓ move the active
// option (aria-activedescendant), Enter inserts it, Esc closes the list and keeps the text. A
// chosen prompt replaces the "/…" text (or goes where the caret is) and nothing is sent. Opened
// by the button over other text, what is typed next filters the list as after a "/" (the
// chosen prompt replaces it); a new line, or the caret leaving it, closes the list.
import { api, errorDetail } from "../../api.js";
import { h, icon } from "../../dom.js";
import { plural } from "../../plural.js";

/**
 * A saved prompt as `GET /prompts` gives it.
 * @typedef {{ id: string, title: string, body: string, published: boolean, created_at: string,
 *   updated_at: string }} SavedPrompt
 */

const LIST_ID = "prompt-list";
const HOW_TO_CREATE = "Aún no tiene indicaciones guardadas. Créelas en Configuración → «Indicaciones guardadas», o con «Guardar como indicación» bajo una de sus preguntas.";

/**
 * Text without accents and in lower case ("Revisión" finds "revision"), as the server's
 * `core.search.fold`.
 * @param {string} text
 */
export function fold(text) {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

/**
 * Whether every word of `query` is in the prompt's title or body, ignoring case and accents.
 * @param {SavedPrompt} prompt
 * @param {string} query
 */
export function promptMatches(prompt, query) {
  const text = fold(`${prompt.title}\n${prompt.body}`);
  return fold(query).split(/\s+/).filter(Boolean).every((word) => text.includes(word));
}

export class PromptPicker {
  /**
   * @param {HTMLTextAreaElement} input the composer's field; the focus stays in it
   * @param {() => void} changed the field's text was changed (count it, keep the draft)
   * @param {() => number} limit the message's limit in force, as the composer counts it
   */
  constructor(input, changed, limit) {
    this.input = input;
    this.changed = changed;
    this.limit = limit;
    /** @type {SavedPrompt[] | null} null until loaded */
    this.prompts = null;
    /** @type {SavedPrompt[]} the options shown */
    this.shown = [];
    this.active = 0;
    this.isOpen = false;
    this.loadError = "";
    /** Opened by the button over text not starting with "/": where the filter typed begins. */
    this.anchor = /** @type {{ at: number, before: string } | null} */ (null);
    this.list = h("ul", { role: "listbox", id: LIST_ID, class: "prompt-options", "aria-label": "Indicaciones guardadas" });
    this.status = h("p", { class: "hint small prompt-status", id: "prompt-status", role: "status" });
    this.popup = h("div", { class: "prompt-popup", id: "prompt-popup", hidden: true },
      h("p", { class: "hint small prompt-help", text: "↑ ↓ para elegir · Enter inserta · Esc cierra" }),
      this.list, this.status);
    // A press anywhere on the popup (an option, its help line, the list's scroll bar) keeps the
    // focus in the field, which would otherwise close the list on focusout.
    this.popup.addEventListener("mousedown", (event) => event.preventDefault());
    this.button = h("button", { type: "button", class: "icon-btn", id: "prompts-btn", "aria-label": "Indicaciones", title: "Indicaciones guardadas (o escriba / al comienzo del mensaje)", "aria-haspopup": "listbox", "aria-expanded": "false", "aria-controls": LIST_ID }, icon("prompt"));
    this.button.addEventListener("click", () => {
      if (this.isOpen) this.close();
      else this.open(true);
      this.input.focus();
    });
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", LIST_ID);
    input.addEventListener("focusout", (event) => {
      // A press on the popup keeps the focus (mousedown is cancelled); the button toggles it.
      if (this.isOpen && event.relatedTarget !== this.button) this.close();
    });
  }

  /** The field changed: "/" in the empty field opens the list, what follows filters it. */
  onInput() {
    const text = this.input.value;
    if (!this.isOpen) {
      if (text === "/") this.open();
      return;
    }
    if (this.anchor ? this.typed() !== null : text.startsWith("/") && !text.includes("\n")) this.filter();
    else this.close();
  }

  /** What was typed since the button opened the list; null once it is no filter any more. */
  typed() {
    const { value, selectionStart: caret } = this.input;
    const anchor = this.anchor;
    if (!anchor || caret < anchor.at || value.slice(0, anchor.at) !== anchor.before) return null;
    const typed = value.slice(anchor.at, caret);
    return typed.includes("\n") ? null : typed;
  }

  /** What filters the list: the text after a leading "/", or typed since the button opened it. */
  query() {
    if (this.anchor) return this.typed() ?? "";
    const text = this.input.value;
    return text.startsWith("/") && !text.includes("\n") ? text.slice(1) : "";
  }

  /** @param {boolean} [byButton] the button opened it: over other text, what is typed filters */
  open(byButton = false) {
    const { value, selectionStart: at } = this.input;
    this.anchor = byButton && !(value.startsWith("/") && !value.includes("\n")) ? { at, before: value.slice(0, at) } : null;
    this.isOpen = true;
    this.popup.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    this.filter();
    void this.load();
  }

  close() {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.anchor = null;
    this.popup.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  /** Read the prompts again at each opening (one's own change in Configuración or a dialog). */
  async load() {
    try {
      this.prompts = await api("/prompts");
      this.loadError = "";
    } catch (err) {
      this.loadError = errorDetail(err, "No se pudieron cargar las indicaciones.");
    }
    if (this.isOpen) this.filter();
  }

  filter() {
    const query = this.query();
    const max = this.limit();
    const chosen = this.shown[this.active]?.id;
    this.shown = (this.prompts ?? []).filter((p) => promptMatches(p, query));
    this.active = Math.max(0, this.shown.findIndex((p) => p.id === chosen));
    this.list.replaceChildren(...this.shown.map((p, i) => h("li", {
      role: "option", id: `prompt-option-${i}`, class: "prompt-option", "aria-selected": "false", dataset: { id: p.id },
      onclick: () => this.choose(p),
      onpointermove: () => { if (this.active !== i) this.activate(i); },
    },
    h("span", { class: "prompt-option-title", text: p.title }),
    p.published ? h("span", { class: "badge", text: "Publicada" }) : null,
    h("span", { class: "prompt-option-body hint small", text: p.body }),
    // Saved before the limit shrank (custom instructions written since): said before sending.
    p.body.length > max ? h("span", { class: "prompt-option-over small", text: `Tiene ${p.body.length.toLocaleString("es-CL")} caracteres y el límite actual es ${max.toLocaleString("es-CL")}: acórtela antes de enviar.` }) : null)));
    this.list.hidden = !this.shown.length;
    if (this.prompts === null) this.status.textContent = this.loadError || "Cargando indicaciones…";
    else if (!this.prompts.length) this.status.textContent = this.loadError || HOW_TO_CREATE;
    else if (!this.shown.length) this.status.textContent = `Ninguna indicación coincide con «${query}». Esc cierra la lista y deja el texto.`;
    else this.status.textContent = plural(this.shown.length, "indicación", "indicaciones");
    this.activate(this.active);
  }

  /** @param {number} index the option to mark active (aria-activedescendant) */
  activate(index) {
    this.active = index;
    const options = [...this.list.children];
    options.forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
    const option = options[index];
    if (option) {
      this.input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      this.input.removeAttribute("aria-activedescendant");
    }
  }

  /**
   * A key in the field while the list is open; whether it was the list's (the composer then
   * leaves it alone: Enter inserts instead of sending, Esc closes instead of stopping).
   * @param {KeyboardEvent} event
   */
  handleKey(event) {
    if (!this.isOpen || event.isComposing) return false;
    const count = this.shown.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (count) this.activate((this.active + (event.key === "ArrowDown" ? 1 : count - 1)) % count);
      return true;
    }
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      const prompt = this.shown[this.active];
      if (prompt) this.choose(prompt);
      else this.close(); // nothing matched: the text stays, a second Enter sends it
      return true;
    }
    if (event.key === "Escape") {
      event.preventDefault();
      this.close();
      return true;
    }
    if (event.key === "Tab") this.close();
    return false;
  }

  /**
   * Put the prompt's text in the field: instead of the "/…" typed (or of what was typed since
   * the button opened the list), else where the caret is; the caret goes after it. Nothing is
   * sent.
   * @param {SavedPrompt} prompt
   */
  choose(prompt) {
    const input = this.input;
    const typedFrom = this.typed() !== null ? this.anchor?.at ?? null : null;
    const replaceAll = typedFrom === null && input.value.startsWith("/") && !input.value.includes("\n");
    const start = replaceAll ? 0 : typedFrom ?? input.selectionStart;
    const end = replaceAll ? input.value.length : input.selectionEnd;
    input.setRangeText(prompt.body, start, end, "end");
    this.close();
    input.focus();
    this.changed();
  }
}
