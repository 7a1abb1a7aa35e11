// @ts-check
// Configuración: "Instrucciones personalizadas" (GET/PUT /auth/me/instructions). What the
// assistant should know about the person and how to answer; they apply to the conversations
// created after they are saved, each conversation keeping the ones it was created with
// (docs/chat.md). The texts are shown in fields, never as HTML.
import { api, errorDetail } from "../api.js";
import { h } from "../dom.js";
import { CharCounter } from "./chat/composer.js";

/**
 * @typedef {{ about_user: string, response_style: string, enabled: boolean, max_chars: number,
 *   updated_at: string | null }} Instructions
 */

const MAX_CHARS = 1000; // the server's limit (max_chars in its answer)

/**
 * Characters as the server counts them: code points, once composed (NFC) and trimmed (an
 * emoji is one character, not the two of String.length).
 * @param {string} text
 */
export function instructionChars(text) {
  return [...text.normalize("NFC").trim()].length;
}

/**
 * A labelled textarea with its counter below.
 * @param {string} id
 * @param {string} label
 * @param {string} example the placeholder
 * @param {number} max
 */
function textField(id, label, example, max) {
  const counter = new CharCounter(`${id}-count`, max, "El texto");
  // No maxlength: it counts UTF-16 units, and a paste past it would be cut without a word.
  const input = h("textarea", { class: "input", id, rows: 4, placeholder: example, "aria-describedby": `${id}-count`, disabled: true });
  const box = h("div", { class: "field" }, h("label", { for: id, text: label }), input, h("div", { class: "field-foot" }, counter.el));
  return { box, input, counter };
}

export function instructionsCard() {
  let max = MAX_CHARS;
  const msg = h("div", { class: "alert", id: "instructions-msg", role: "status", hidden: true });
  const about = textField("instructions-about", "¿Qué debería saber EnergyApp sobre usted?", "Por ejemplo: Soy estudiante de electricidad de INACAP.", max);
  const style = textField("instructions-style", "¿Cómo quiere que EnergyApp responda?", "Por ejemplo: Responde breve y con ejemplos.", max);
  const enabled = h("input", { type: "checkbox", id: "instructions-enabled", role: "switch", checked: true, disabled: true });
  const save = h("button", { type: "submit", class: "btn btn-primary", id: "instructions-save", text: "Guardar", disabled: true });
  const fields = [about, style];
  let loaded = false;
  const update = () => {
    let over = false;
    for (const f of fields) over = f.counter.show(instructionChars(f.input.value)) || over;
    save.disabled = !loaded || over;
  };
  /** @param {string} text @param {boolean} ok */
  const show = (text, ok) => {
    msg.textContent = text;
    msg.className = `alert ${ok ? "alert-info" : "alert-error"}`;
    msg.hidden = false;
  };
  /** @param {Instructions} saved */
  const fill = (saved) => {
    max = saved.max_chars || MAX_CHARS;
    for (const f of fields) f.counter.max = max;
    about.input.value = saved.about_user;
    style.input.value = saved.response_style;
    enabled.checked = saved.enabled;
    loaded = true;
    for (const control of [about.input, style.input, enabled]) control.disabled = false;
    update();
  };
  for (const f of fields) f.input.addEventListener("input", () => { msg.hidden = true; update(); });
  enabled.addEventListener("change", () => { msg.hidden = true; });
  const form = h("form", { novalidate: true, id: "instructions-form" },
    msg, about.box, style.box,
    h("label", { class: "check", for: "instructions-enabled" }, enabled, " Usar en las conversaciones nuevas"),
    h("div", { class: "toolbar" }, save),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (save.disabled) return;
    save.disabled = true;
    try {
      /** @type {Instructions} */
      const saved = await api("/auth/me/instructions", { method: "PUT", body: { about_user: about.input.value, response_style: style.input.value, enabled: enabled.checked } });
      fill(saved);
      show(saved.enabled ? "Instrucciones guardadas. Se aplicarán a las conversaciones nuevas." : "Instrucciones guardadas y desactivadas: las conversaciones nuevas no las usarán.", true);
    } catch (err) {
      show(errorDetail(err, "No se pudieron guardar las instrucciones."), false);
    } finally {
      update();
    }
  });
  update();
  api("/auth/me/instructions").then(fill).catch((err) => show(errorDetail(err, "No se pudieron cargar sus instrucciones."), false));
  return h("section", { class: "card", "aria-labelledby": "instructions-h" },
    h("h2", { id: "instructions-h", text: "Instrucciones personalizadas" }),
    h("p", { class: "hint", id: "instructions-hint", text: "Cuéntele a EnergyApp lo que debe tener en cuenta al responderle. Se aplican a las conversaciones nuevas: cada conversación conserva las instrucciones vigentes cuando se creó. No se aplican a la API compatible con OpenAI." }),
    form,
  );
}

/**
 * The admin viewer's panel: the custom instructions a conversation keeps from its creation
 * (audited like its messages), hidden when it has none. Shown as text.
 * @param {string} convId
 */
export function keptInstructionsPanel(convId) {
  const panel = h("section", { class: "kept-instructions", id: "viewer-instructions", "aria-labelledby": "viewer-instructions-h", hidden: true });
  api(`/admin/conversations/${encodeURIComponent(convId)}/instructions`).then((/** @type {{ custom_instructions: { about_user: string, response_style: string } | null }} */ data) => {
    const kept = data.custom_instructions;
    if (!kept) return;
    /** @type {[string, string][]} */
    const parts = [["¿Qué debería saber EnergyApp sobre usted?", kept.about_user], ["¿Cómo quiere que EnergyApp responda?", kept.response_style]];
    panel.append(
      h("h3", { id: "viewer-instructions-h", text: "Instrucciones personalizadas de esta conversación" }),
      h("p", { class: "hint", text: "Las que tenía el usuario al crearla; el modelo las leyó en cada respuesta." }),
      h("dl", {}, parts.filter(([, text]) => text).flatMap(([label, text]) => [h("dt", { text: label }), h("dd", { text })])),
    );
    panel.hidden = false;
  }).catch(() => {});  // the messages below report the error
  return panel;
}
