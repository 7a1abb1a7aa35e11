// @ts-check
// Admin panel: the API keys of the users in scope (admins: everyone's), paged and searchable,
// with revocation.
import { api, errorDetail, qs } from "../api.js";
import { h, iconButton, toast, confirmDialog } from "../dom.js";
import { PAGE, pagedTable } from "./admin_common.js";
import { day, usageText } from "./api_keys.js";

/**
 * @typedef {{ id: string, name: string, prefix: string, created_at: string, expires_at: string,
 *   last_used_at: string | null, revoked_at: string | null, user_id: string, owner_email: string,
 *   owner_full_name: string, requests_30d: number, tokens_30d: number }} AdminApiKey
 */

/** @param {HTMLElement} body */
export function adminApiKeys(body) {
  const search = h("input", { class: "input", type: "search", id: "key-search", placeholder: "Buscar por persona o clave", "aria-label": "Buscar claves de API por persona (nombre o correo) o por nombre de la clave", maxlength: 200 });
  const tbody = h("tbody");
  const status = h("div");
  const pg = pagedTable({
    tbody, status, columns: 8, empty: "No hay claves de API que coincidan.",
    path: (cursor) => `/admin/api-keys${qs({ limit: PAGE, cursor, q: search.value.trim() })}`,
    rows: (/** @type {AdminApiKey} */ key) => keyRow(key, () => pg.reset()),
  });
  /** @type {number | undefined} */
  let timer;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => pg.reset(), 250); });
  body.append(h("div", { class: "toolbar" }, search), status,
    h("div", { class: "table-wrap" }, h("table", { class: "data cards-on-phone", id: "admin-api-keys" },
      h("caption", { class: "sr-only", text: "Claves de API" }),
      h("thead", {}, h("tr", {}, ["Usuario", "Nombre", "Prefijo", "Creada", "Último uso", "Vence", "Uso (30 días)", "Acciones"].map((t) => h("th", { scope: "col", text: t })))),
      tbody)),
    pg.el);
  pg.reset();
}

/**
 * A key's row; at phone widths a card whose cells say what they are (cards-on-phone).
 * @param {AdminApiKey} key
 * @param {() => void} reload after a revocation
 */
function keyRow(key, reload) {
  const revoke = key.revoked_at ? h("span", { text: `Revocada el ${day(key.revoked_at)}` }) : iconButton("trash", `Revocar la clave ${key.name} de ${key.owner_email}`, async () => {
    const ok = await confirmDialog("Revocar clave", `La clave «${key.name}» de ${key.owner_full_name} (${key.owner_email}) dejará de funcionar de inmediato.`, "Revocar", true);
    if (!ok) return;
    try {
      await api(`/admin/api-keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
      toast("Clave revocada.");
    } catch (err) {
      toast(errorDetail(err, "No se pudo revocar la clave."), "error");
    }
    reload();
  });
  return h("tr", { "data-key-id": key.id },
    h("td", { class: "wrap", "data-label": "Usuario" }, h("span", {}, h("span", { text: key.owner_full_name }), h("br"), h("span", { class: "muted small", text: key.owner_email }))),
    h("td", { class: "wrap", "data-label": "Nombre", text: key.name }),
    h("td", { "data-label": "Prefijo" }, h("code", { text: `${key.prefix}…` })),
    h("td", { "data-label": "Creada", text: day(key.created_at) }),
    h("td", { "data-label": "Último uso", text: key.last_used_at ? day(key.last_used_at) : "nunca" }),
    h("td", { "data-label": "Vence", text: day(key.expires_at) }),
    h("td", { "data-label": "Uso (30 días)", text: usageText(key) }),
    h("td", { "data-label": "Acciones" }, revoke));
}
