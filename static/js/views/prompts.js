// @ts-check
// Saved prompts ("Indicaciones guardadas", docs/ui.md): the dialog that writes one, the list
// that manages them (Configuración for one's own, the admin panel for the published ones), and
// "Guardar como indicación" under a question. The composer inserts them (chat/prompt_picker.js).
import { api, errorDetail } from "../api.js";
import { h, iconButton, toast, confirmDialog, openDialog, dialogActions } from "../dom.js";
import { state } from "../state.js";
import { plural, formatCount } from "../plural.js";
import { CharCounter } from "./chat/composer.js";
import { instructionChars } from "./instructions.js";
/** @import { SavedPrompt } from "./chat/prompt_picker.js" */

/**
 * Where a list's prompts are written: one's own (`/prompts`) or the published ones.
 * @typedef {{ base: "/prompts" | "/admin/prompts", published: boolean }} PromptScope
 */

export const OWN = /** @type {PromptScope} */ ({ base: "/prompts", published: false });
export const PUBLISHED = /** @type {PromptScope} */ ({ base: "/admin/prompts", published: true });
export const MAX_TITLE = 80; // the server's (prompts/service.py MAX_TITLE_CHARS)
export const MAX_PROMPTS = 100; // per person (prompts/service.py MAX_PROMPTS)

/**
 * The longest body in `scope`: a message's limit in force (`GET /chat/limit`, which the
 * person's custom instructions shorten) for one's own, the global one for published ones.
 * @param {PromptScope} scope
 */
async function bodyLimit(scope) {
  if (scope.published) return state.config.max_message_chars;
  try {
    const { max_message_chars: max } = await api("/chat/limit");
    if (typeof max === "number" && max > 0) return max;
  } catch {
    // The global limit: the server checks either way.
  }
  return state.config.max_message_chars;
}

/**
 * The first words of a question, as a title to suggest (one line, at most MAX_TITLE).
 * @param {string} text
 */
export function suggestTitle(text) {
  const words = text.replace(/\s+/g, " ").trim().split(" ").slice(0, 6).join(" ");
  return [...words].slice(0, MAX_TITLE).join("");
}

let dialogs = 0;

/**
 * The dialog that writes a prompt (a new one, or `prompt` changed); resolves with the saved
 * prompt, or null when cancelled. The server's refusal is shown in it, which stays open.
 * @param {PromptScope} scope
 * @param {{ id?: string, title: string, body: string }} prompt
 * @param {string} heading
 * @returns {Promise<SavedPrompt | null>}
 */
export async function promptDialog(scope, prompt, heading) {
  const max = await bodyLimit(scope);
  const n = ++dialogs;
  return openDialog(heading, (/** @type {(value: SavedPrompt | null) => void} */ close) => {
    const titleCounter = new CharCounter(`prompt-title-count-${n}`, MAX_TITLE, "El título");
    const bodyCounter = new CharCounter(`prompt-body-count-${n}`, max, "El texto");
    const title = h("input", { class: "input", id: `prompt-title-${n}`, name: "title", value: prompt.title, autocomplete: "off", "aria-describedby": `prompt-title-count-${n}` });
    const body = h("textarea", { class: "input", id: `prompt-body-${n}`, name: "body", rows: 6, "aria-describedby": `prompt-body-count-${n}` });
    body.value = prompt.body;
    const msg = h("div", { class: "alert alert-error", role: "alert", hidden: true });
    const save = h("button", { type: "submit", class: "btn btn-primary", text: "Guardar" });
    const update = () => {
      const titleOver = titleCounter.show(instructionChars(title.value));
      const bodyOver = bodyCounter.show(instructionChars(body.value));
      save.disabled = titleOver || bodyOver || !title.value.trim() || !body.value.trim();
    };
    title.addEventListener("input", update);
    body.addEventListener("input", update);
    const form = h("form", { class: "prompt-form", novalidate: true },
      msg,
      h("div", { class: "field" }, h("label", { for: title.id, text: "Título" }), title, h("div", { class: "field-foot" }, titleCounter.el)),
      h("div", { class: "field" }, h("label", { for: body.id, text: "Texto de la indicación" }), body, h("div", { class: "field-foot" }, bodyCounter.el)),
      dialogActions(close, save),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (save.disabled) return;
      save.disabled = true;
      try {
        const path = prompt.id ? `${scope.base}/${encodeURIComponent(prompt.id)}` : scope.base;
        /** @type {SavedPrompt} */
        const saved = await api(path, { method: prompt.id ? "PATCH" : "POST", body: { title: title.value, body: body.value } });
        close(saved);
      } catch (err) {
        msg.textContent = errorDetail(err, "No se pudo guardar la indicación.");
        msg.hidden = false;
        update();
      }
    });
    update();
    queueMicrotask(() => { title.focus(); title.select(); });
    return form;
  });
}

/**
 * "Guardar como indicación" under a question: the dialog with its text and a suggested title.
 * @param {string} question
 */
export async function saveQuestionAsPrompt(question) {
  const saved = await promptDialog(OWN, { title: suggestTitle(question), body: question.trim() }, "Guardar como indicación");
  if (saved) toast(`Indicación «${saved.title}» guardada. Escriba / en el mensaje para usarla.`);
}

/**
 * The prompts of `scope` with Editar and Eliminar, and a button that writes a new one.
 * @param {PromptScope} scope
 * @param {string} idPrefix the ids of its elements ("prompts", "admin-prompts")
 */
export function promptManager(scope, idPrefix) {
  const list = h("ul", { class: "prompt-manage", id: `${idPrefix}-list`, "aria-label": scope.published ? "Indicaciones publicadas" : "Sus indicaciones" });
  const status = h("p", { class: "hint", id: `${idPrefix}-status`, role: "status" });
  const add = h("button", { type: "button", class: "btn btn-primary", id: `${idPrefix}-new`, text: scope.published ? "Publicar indicación" : "Nueva indicación" });
  /** @type {SavedPrompt[]} */
  let prompts = [];
  const draw = () => {
    const own = prompts.filter((p) => p.published === scope.published);
    status.textContent = own.length
      ? scope.published ? `${plural(own.length, "indicación publicada", "indicaciones publicadas")} para todos.` : `${plural(own.length, "indicación", "indicaciones")} de ${formatCount(MAX_PROMPTS)} posibles.`
      : scope.published ? "No hay indicaciones publicadas." : "Aún no tiene indicaciones. Cree una aquí o con «Guardar como indicación» bajo una de sus preguntas en el chat.";
    add.disabled = own.length >= MAX_PROMPTS;
    list.replaceChildren(...own.map((p) => h("li", { class: "prompt-item", dataset: { id: p.id } },
      h("div", { class: "prompt-text" },
        h("strong", { class: "prompt-title", text: p.title }),
        h("span", { class: "hint prompt-snippet", text: p.body })),
      iconButton("edit", `Editar ${p.title}`, () => void edit(p)),
      iconButton("trash", `Eliminar ${p.title}`, () => void remove(p)),
    )));
  };
  const load = async () => {
    try {
      prompts = await api(scope.published ? PUBLISHED.base : OWN.base);
      draw();
    } catch (err) {
      status.textContent = errorDetail(err, "No se pudieron cargar las indicaciones.");
    }
  };
  /**
   * After the list is drawn again, the focus its buttons had (never <body>): button `which`
   * (0 Editar, 1 Eliminar) of prompt `id`, else of the one now at `index` or the last, else
   * "Nueva indicación".
   * @param {string} id
   * @param {number} index
   * @param {number} which
   */
  const refocus = (id, index, which) => {
    const active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return;
    const items = /** @type {HTMLElement[]} */ ([...list.children]);
    const item = items.find((li) => li.dataset.id === id) ?? items[Math.min(index, items.length - 1)];
    (item?.querySelectorAll("button")[which] ?? add).focus();
  };
  /** @param {string} id where prompt `id` is in the list shown */
  const shownAt = (id) => [...list.children].findIndex((li) => li instanceof HTMLElement && li.dataset.id === id);
  /** @param {SavedPrompt} p */
  const edit = async (p) => {
    const index = shownAt(p.id);
    if (await promptDialog(scope, p, "Editar indicación")) await load();
    refocus(p.id, index, 0);
  };
  /** @param {SavedPrompt} p */
  const remove = async (p) => {
    const question = scope.published ? `¿Eliminar «${p.title}»? Dejará de estar disponible para todos.` : `¿Eliminar la indicación «${p.title}»?`;
    if (!await confirmDialog("Eliminar indicación", question, "Eliminar", true)) return;
    try {
      await api(`${scope.base}/${encodeURIComponent(p.id)}`, { method: "DELETE" });
      toast(`Indicación «${p.title}» eliminada.`);
    } catch (err) {
      toast(errorDetail(err, "No se pudo eliminar la indicación."), "error");
    }
    const index = shownAt(p.id);
    await load();
    refocus(p.id, index, 1);
  };
  add.addEventListener("click", async () => {
    if (await promptDialog(scope, { title: "", body: "" }, add.textContent || "")) await load();
  });
  void load();
  return h("div", { class: "prompt-manager" }, h("div", { class: "toolbar" }, add), status, list);
}

/** Configuración: "Indicaciones guardadas", one's own. */
export function promptsCard() {
  return h("section", { class: "card", "aria-labelledby": "prompts-h", id: "prompts-card" },
    h("h2", { id: "prompts-h", text: "Indicaciones guardadas" }),
    h("p", { class: "hint", text: "Textos que usa a menudo («Resume este texto en 5 puntos»). En el chat, escriba / al comienzo del mensaje o use el botón «Indicaciones» para insertarlos; nada se envía hasta que presione Enviar." }),
    promptManager(OWN, "prompts"),
  );
}

/**
 * The admin panel's "Indicaciones": the prompts published for everyone.
 * @param {HTMLElement} body
 */
export function adminPrompts(body) {
  body.append(
    h("h2", { id: "admin-prompts-h", text: "Indicaciones publicadas" }),
    h("p", { class: "hint", text: "Todas las personas las ven en su lista de indicaciones (escribiendo / en el mensaje), después de las suyas. Cada cambio queda en la auditoría." }),
    promptManager(PUBLISHED, "admin-prompts"),
  );
}
