// @ts-check
// "Crear enlace para restablecer contraseña" in a user's "Gestionar": an admin's one-time link
// (POST /admin/users/{id}/password-reset), shown once, to hand to the person personally.
import { api, errorDetail } from "../api.js";
import { h, icon, toast, formatDate, openDialog } from "../dom.js";

/**
 * A new link (`ResetLinkOut`).
 * @typedef {object} ResetLink
 * @property {string} token
 * @property {string} path "/#/restablecer/<token>": the token stays in the address's fragment
 * @property {string} expires_at
 */

/**
 * Create a link for `user` and show it once; earlier links of the account stop working.
 * @param {{ id: string, full_name: string }} user
 */
export async function resetLinkDialog(user) {
  /** @type {ResetLink} */
  let link;
  try {
    link = await api(`/admin/users/${encodeURIComponent(user.id)}/password-reset`, { method: "POST" });
  } catch (err) {
    toast(errorDetail(err, "No se pudo crear el enlace."), "error");
    return;
  }
  const url = `${location.origin}${link.path}`;
  await openDialog("Enlace para restablecer contraseña", (/** @type {(value: null) => void} */ close) => {
    const copy = h("button", { type: "button", class: "btn", id: "reset-link-copy" }, icon("copy"), "Copiar enlace");
    copy.addEventListener("click", () => navigator.clipboard.writeText(url)
      .then(() => toast("Enlace copiado."))
      .catch(() => toast("No se pudo copiar. Selecciónelo y cópielo a mano.", "error")));
    return h("div", {},
      h("div", { class: "alert alert-warn", role: "alert", text: `Entregue este enlace personalmente a ${user.full_name}: quien lo tenga puede cambiar su contraseña. Es la única vez que se muestra.` }),
      h("pre", { class: "api-example" }, h("code", { id: "reset-link-url", text: url })),
      h("p", { class: "hint", id: "reset-link-expiry", text: `Sirve una sola vez y vence el ${formatDate(link.expires_at)}. Si crea otro, este deja de funcionar.` }),
      h("div", { class: "dialog-actions" }, copy, h("button", { type: "button", class: "btn btn-primary", onclick: () => close(null), text: "Listo" })),
    );
  });
}
