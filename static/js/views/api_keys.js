// @ts-check
// Configuración: "Claves de API", the user's personal keys for the OpenAI-compatible API (/v1).
import { api, errorDetail } from "../api.js";
import { h, icon, iconButton, toast, confirmDialog, clear } from "../dom.js";
import { plural } from "../plural.js";

/**
 * @typedef {{ id: string, name: string, prefix: string, created_at: string, expires_at: string,
 *   last_used_at: string | null, revoked_at: string | null, requests_30d: number, tokens_30d: number }} ApiKey
 */

const dayFmt = new Intl.DateTimeFormat("es-CL", { day: "2-digit", month: "2-digit", year: "numeric", timeZone: "America/Santiago" });

/** dd-mm-aaaa, Chilean time. @param {string | null | undefined} iso */
export function day(iso) {
  return iso ? dayFmt.format(new Date(iso)).replaceAll("/", "-") : "—";
}

/** Answers and tokens of the API over 30 days. @param {ApiKey} key */
export function usageText(key) {
  return `${plural(key.requests_30d, "respuesta", "respuestas")}, ${plural(key.tokens_30d, "token", "tokens")}`;
}

/** @param {ApiKey} key */
function keyState(key) {
  if (key.revoked_at) return `Revocada el ${day(key.revoked_at)}`;
  if (new Date(key.expires_at).getTime() <= Date.now()) return "Vencida";
  return "Activa";
}

/**
 * @param {string} base the server's URL
 * @param {string} model the default model
 */
function examples(base, model) {
  const python = [
    "from openai import OpenAI",
    "",
    `client = OpenAI(base_url="${base}/v1", api_key="ea_...su clave...")`,
    "respuesta = client.chat.completions.create(",
    `    model="${model}",`,
    '    messages=[{"role": "user", "content": "Hola"}],',
    ")",
    "print(respuesta.choices[0].message.content)",
  ].join("\n");
  const curl = [
    `curl ${base}/v1/chat/completions \\`,
    '  -H "Authorization: Bearer ea_...su clave..." \\',
    '  -H "Content-Type: application/json" \\',
    `  -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hola"}]}'`,
  ].join("\n");
  return h("details", { class: "api-examples" },
    h("summary", { text: "Ejemplos de uso (Python y curl)" }),
    h("p", { class: "hint", text: "Con el paquete oficial openai de Python (pip install openai):" }),
    h("pre", { class: "api-example", id: "api-example-python" }, h("code", { text: python })),
    h("p", { class: "hint", text: "Con curl:" }),
    h("pre", { class: "api-example", id: "api-example-curl" }, h("code", { text: curl })),
  );
}

/**
 * @param {HTMLElement} box
 * @param {{ key: string, name: string }} created
 */
function showCreated(box, created) {
  clear(box);
  const copy = h("button", { type: "button", class: "btn", id: "api-key-copy" }, icon("copy"), "Copiar clave");
  copy.addEventListener("click", () => navigator.clipboard.writeText(created.key)
    .then(() => toast("Clave copiada."))
    .catch(() => toast("No se pudo copiar. Selecciónela y cópiela a mano.", "error")));
  const done = h("button", { type: "button", class: "btn btn-primary", text: "Ya la guardé" });
  done.addEventListener("click", () => { clear(box); box.hidden = true; });
  box.append(
    h("div", { class: "alert alert-warn", role: "alert", text: `Clave «${created.name}» creada. Cópiela y guárdela ahora: es la única vez que se muestra. Quien la tenga puede usar el modelo a su nombre.` }),
    h("pre", { class: "api-example" }, h("code", { id: "api-key-secret", text: created.key })),
    h("div", { class: "toolbar" }, copy, done),
  );
  box.hidden = false;
}

/**
 * @param {HTMLElement} list
 * @param {HTMLElement} summary
 */
async function loadKeys(list, summary) {
  /** @type {{ items: ApiKey[], active: number }} */
  let data;
  try {
    data = await api("/api-keys");
  } catch (err) {
    clear(list);
    list.appendChild(h("p", { class: "alert alert-error", text: errorDetail(err, "No se pudieron cargar las claves.") }));
    return;
  }
  summary.textContent = `Tiene ${plural(data.active, "clave activa", "claves activas")}. Cambiar su contraseña no revoca sus claves.`;
  clear(list);
  if (!data.items.length) {
    list.appendChild(h("p", { class: "muted", text: "Aún no tiene claves de API." }));
    return;
  }
  const rows = data.items.map((key) => {
    const revoke = key.revoked_at ? h("span", { text: "" }) : iconButton("trash", `Revocar la clave ${key.name}`, async () => {
      const ok = await confirmDialog("Revocar clave", `La clave «${key.name}» dejará de funcionar de inmediato en todo script o programa que la use.`, "Revocar", true);
      if (!ok) return;
      try {
        await api(`/api-keys/${key.id}`, { method: "DELETE" });
        toast("Clave revocada.");
      } catch (err) {
        toast(errorDetail(err, "No se pudo revocar la clave."), "error");
      }
      await loadKeys(list, summary);
    });
    return h("tr", { "data-key-id": key.id },
      h("td", { class: "wrap", text: key.name }),
      h("td", {}, h("code", { text: `${key.prefix}…` })),
      h("td", { text: day(key.created_at) }),
      h("td", { text: key.last_used_at ? day(key.last_used_at) : "nunca" }),
      h("td", { text: day(key.expires_at) }),
      h("td", { class: "key-usage", text: usageText(key) }),
      h("td", { class: "key-state", text: keyState(key) }),
      h("td", {}, revoke));
  });
  list.appendChild(h("div", { class: "table-wrap" }, h("table", { class: "data", id: "api-keys-table" },
    h("thead", {}, h("tr", {}, ...["Nombre", "Prefijo", "Creada", "Último uso", "Vence", "Uso (30 días)", "Estado", ""].map((t) => h("th", { text: t })))),
    h("tbody", {}, ...rows))));
}

export function apiKeysCard() {
  const card = h("section", { class: "card", "aria-labelledby": "apikeys-h", id: "api-keys-card" },
    h("h2", { id: "apikeys-h", text: "Claves de API" }),
    h("p", { class: "hint", text: "Use el modelo de la empresa desde scripts, planillas o editores compatibles con la API de OpenAI. Cada clave actúa a su nombre, con sus mismos límites y cuota diaria." }));
  const summary = h("p", { class: "muted", id: "api-keys-summary" });
  const created = h("div", { id: "api-key-created", hidden: true });
  const list = h("div", { id: "api-keys-list" });
  const name = h("input", { id: "api-key-name", class: "input", maxlength: 100, required: true, placeholder: "Ej.: Planilla de costos" });
  const days = h("input", { id: "api-key-days", class: "input", type: "number", min: 1, max: 365, value: 90 });
  const msg = h("div", { class: "alert alert-error", role: "status", hidden: true });
  const form = h("form", { novalidate: true, id: "api-key-form" }, msg,
    h("div", { class: "field" }, h("label", { for: "api-key-name", text: "Nombre de la nueva clave" }), name),
    h("div", { class: "field" }, h("label", { for: "api-key-days", text: "Días de vigencia (máximo 365)" }), days),
    h("button", { type: "submit", class: "btn btn-primary", id: "api-key-create" }, icon("plus"), "Crear clave"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    msg.hidden = true;
    const value = /** @type {HTMLInputElement} */ (name).value.trim();
    if (!value) {
      msg.textContent = "Escriba un nombre para reconocer la clave.";
      msg.hidden = false;
      return;
    }
    try {
      const result = await api("/api-keys", { method: "POST", body: { name: value, expires_in_days: Number(/** @type {HTMLInputElement} */ (days).value) || 90 } });
      /** @type {HTMLFormElement} */ (form).reset();
      showCreated(created, result);
    } catch (err) {
      msg.textContent = errorDetail(err, "No se pudo crear la clave.");
      msg.hidden = false;
    }
    await loadKeys(list, summary);
  });
  const help = h("div", { id: "api-examples" });
  card.append(summary, created, list, form, help);
  loadKeys(list, summary);
  api("/models").then((/** @type {{ default_model: string }} */ m) => help.appendChild(examples(window.location.origin, m.default_model)))
    .catch(() => help.appendChild(examples(window.location.origin, "nombre-del-modelo")));
  return card;
}
