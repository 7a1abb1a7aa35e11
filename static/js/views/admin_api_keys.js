// @ts-check
// Admin panel: the API keys of the users in scope (admins: everyone's), with revocation.
import { api, errorDetail } from "../api.js";
import { h, iconButton, toast, confirmDialog, clear } from "../dom.js";
import { day, usageText } from "./api_keys.js";

/**
 * @typedef {{ id: string, name: string, prefix: string, created_at: string, expires_at: string,
 *   last_used_at: string | null, revoked_at: string | null, user_id: string, owner_email: string,
 *   requests_30d: number, tokens_30d: number }} AdminApiKey
 */

/** @param {HTMLElement} body */
export function adminApiKeys(body) {
  const tbody = h("tbody");
  const status = h("div");
  const load = async () => {
    /** @type {AdminApiKey[]} */
    let keys;
    try {
      keys = await api("/admin/api-keys");
    } catch (err) {
      status.replaceChildren(h("div", { class: "alert alert-error", role: "alert", text: errorDetail(err, "No se pudieron cargar las claves.") }));
      return;
    }
    clear(status);
    clear(tbody);
    if (!keys.length) tbody.appendChild(h("tr", {}, h("td", { colspan: 8, class: "muted", text: "Nadie en su alcance tiene claves de API." })));
    for (const key of keys) {
      const revoke = key.revoked_at ? h("span", { text: `Revocada el ${day(key.revoked_at)}` }) : iconButton("trash", `Revocar la clave ${key.name} de ${key.owner_email}`, async () => {
        const ok = await confirmDialog("Revocar clave", `La clave «${key.name}» de ${key.owner_email} dejará de funcionar de inmediato.`, "Revocar", true);
        if (!ok) return;
        try {
          await api(`/admin/api-keys/${key.id}`, { method: "DELETE" });
          toast("Clave revocada.");
        } catch (err) {
          toast(errorDetail(err, "No se pudo revocar la clave."), "error");
        }
        await load();
      });
      // At phone widths each key is a card whose cells say what they are (cards-on-phone).
      tbody.appendChild(h("tr", { "data-key-id": key.id },
        h("td", { class: "wrap", "data-label": "Usuario", text: key.owner_email }),
        h("td", { class: "wrap", "data-label": "Nombre", text: key.name }),
        h("td", { "data-label": "Prefijo" }, h("code", { text: `${key.prefix}…` })),
        h("td", { "data-label": "Creada", text: day(key.created_at) }),
        h("td", { "data-label": "Último uso", text: key.last_used_at ? day(key.last_used_at) : "nunca" }),
        h("td", { "data-label": "Vence", text: day(key.expires_at) }),
        h("td", { "data-label": "Uso (30 días)", text: usageText(key) }),
        h("td", { "data-label": "Acciones" }, revoke)));
    }
  };
  body.append(status, h("div", { class: "table-wrap" }, h("table", { class: "data cards-on-phone", id: "admin-api-keys" },
    h("caption", { class: "sr-only", text: "Claves de API" }),
    h("thead", {}, h("tr", {}, ["Usuario", "Nombre", "Prefijo", "Creada", "Último uso", "Vence", "Uso (30 días)", "Acciones"].map((t) => h("th", { scope: "col", text: t })))),
    tbody)));
  load();
}
