// @ts-check
// Admin conversation viewer: legal hold (kept whatever the retention policy), with its reason.
import { api, ApiError, errorDetail } from "../api.js";
import { h, toast, openDialog, confirmDialog } from "../dom.js";

/** @typedef {{ reason: string, created_at: string }} LegalHold */

/** @param {string} convId */
export function legalHoldPanel(convId) {
  const panel = h("div", { class: "toolbar", id: "legal-hold" });
  const url = `/admin/conversations/${encodeURIComponent(convId)}/legal-hold`;
  /** @param {LegalHold | null} hold */
  const show = (hold) => {
    const place = h("button", { type: "button", class: "btn btn-sm", "data-action": "hold", text: hold ? "Cambiar motivo" : "Retención legal" });
    place.addEventListener("click", async () => {
      const reason = await askReason(hold ? hold.reason : "");
      if (!reason) return;
      try {
        show(await api(url, { method: "PUT", body: { reason } }));
        toast("La conversación quedó en retención legal.");
      } catch (err) {
        toast(errorDetail(err, "No se pudo guardar la retención legal."), "error");
      }
    });
    const release = h("button", { type: "button", class: "btn btn-sm", "data-action": "release", text: "Liberar" });
    release.addEventListener("click", async () => {
      if (!(await confirmDialog("Liberar retención legal", "La conversación volverá a seguir la política de retención y podrá eliminarse.", "Liberar"))) return;
      try {
        await api(url, { method: "DELETE" });
        show(null);
        toast("Retención legal liberada.");
      } catch (err) {
        toast(errorDetail(err, "No se pudo liberar la retención legal."), "error");
      }
    });
    panel.replaceChildren(
      hold ? h("span", { class: "pill pill-ok", id: "legal-hold-reason", text: `En retención legal: ${hold.reason}` }) : h("span", { class: "muted small", text: "Sin retención legal." }),
      place,
    );
    if (hold) panel.appendChild(release);
  };
  api(url).then(show).catch((err) => {
    if (err instanceof ApiError && err.status === 404) show(null);
    else panel.replaceChildren(h("span", { class: "muted small", text: errorDetail(err, "No se pudo consultar la retención legal.") }));
  });
  return panel;
}

/**
 * @param {string} current the reason of the hold being changed, or ""
 * @returns {Promise<string | null>}
 */
function askReason(current) {
  return openDialog("Retención legal", (/** @type {(value: string | null) => void} */ close) => {
    const input = h("input", { class: "input", id: "hold-reason", maxlength: 500, value: current, required: true });
    const error = h("div", { class: "alert alert-error", role: "alert", hidden: true, text: "Indique el motivo." });
    const form = h("form", { novalidate: true },
      h("p", { class: "hint", text: "La conversación se conservará aunque la política de retención indique eliminarla, y su dueño no podrá borrarla." }),
      h("div", { class: "field" }, h("label", { for: "hold-reason", text: "Motivo (por ejemplo, la causa o fiscalización)" }), input),
      error,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn", onclick: () => close(null), text: "Cancelar" }),
        h("button", { type: "submit", class: "btn btn-primary", text: "Guardar" }),
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const reason = input.value.trim();
      if (!reason) {
        error.hidden = false;
        return;
      }
      close(reason);
    });
    queueMicrotask(() => input.focus());
    return form;
  });
}
