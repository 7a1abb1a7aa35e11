// @ts-check
// Reassigning a conversation: a searchable picker of the users the actor may assign to (the API
// answers only users in the actor's scope; inactive ones and the current owner are left out),
// then a confirmation naming the conversation, its owner and the new one.
import { api, errorDetail, qs } from "../api.js";
import { h, openDialog, clear } from "../dom.js";

/**
 * @typedef {object} Reassignable the fields used here of a conversation (`AdminConversationOut`)
 * @property {string} id
 * @property {string} title
 * @property {string} user_id
 * @property {string} owner_full_name
 * @property {string} owner_email
 */

/** @typedef {{ id: string, email: string, full_name: string, is_active: boolean }} Candidate */

const SHOWN = 20;

/**
 * @param {Reassignable} conv
 * @returns {Promise<boolean>} whether it was reassigned
 */
export async function reassignDialog(conv) {
  const result = await openDialog("Reasignar conversación", (/** @type {(done: boolean | null) => void} */ close) => {
    const search = h("input", { class: "input", type: "search", id: "reassign-search", placeholder: "Buscar por nombre o correo", "aria-label": "Buscar el nuevo dueño", maxlength: 200, autocomplete: "off" });
    const select = h("select", { class: "input", id: "reassign-user", size: 6, required: true, "aria-label": "Nuevo dueño" });
    const error = h("div", { class: "alert alert-error", role: "alert", hidden: true });
    const step = h("div");
    /** @type {Map<string, Candidate>} */
    const shown = new Map();
    const fail = (/** @type {string} */ text) => { error.textContent = text; error.hidden = false; };

    let asked = 0;
    const find = async () => {
      const mine = ++asked;
      try {
        /** @type {{ items: Candidate[] }} */
        const page = await api(`/admin/users${qs({ q: search.value.trim(), limit: SHOWN + 1 })}`);
        if (mine !== asked) return; // a slow answer to an older search never replaces a newer one
        const users = page.items.filter((u) => u.is_active && u.id !== conv.user_id).slice(0, SHOWN);
        clear(select);
        shown.clear();
        for (const u of users) {
          shown.set(u.id, u);
          select.appendChild(h("option", { value: u.id, text: `${u.full_name} (${u.email})` }));
        }
        if (!users.length) select.appendChild(h("option", { value: "", disabled: true, text: "Nadie coincide con la búsqueda." }));
      } catch (err) {
        if (mine === asked) fail(errorDetail(err, "No se pudo cargar la lista de usuarios."));
      }
    };
    /** @type {number | undefined} */
    let timer;
    search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(find, 250); });

    const confirm = (/** @type {Candidate} */ target) => {
      const yes = h("button", { type: "button", class: "btn btn-primary", "data-action": "confirm-reassign", text: "Confirmar reasignación" });
      const back = h("button", { type: "button", class: "btn", text: "Volver" });
      yes.addEventListener("click", async () => {
        yes.disabled = true;
        try {
          await api(`/admin/conversations/${encodeURIComponent(conv.id)}/reassign`, { method: "POST", body: { user_id: target.id } });
          close(true);
        } catch (err) {
          yes.disabled = false;
          fail(errorDetail(err));
        }
      });
      back.addEventListener("click", () => step.replaceChildren(picker));
      step.replaceChildren(h("div", { id: "reassign-confirm" },
        h("p", {}, "Se reasignará la conversación ", h("strong", { text: `«${conv.title || "Sin título"}»` }), "."),
        h("p", {}, "De: ", h("strong", { text: conv.owner_full_name }), ` (${conv.owner_email})`),
        h("p", {}, "A: ", h("strong", { text: target.full_name }), ` (${target.email})`),
        error,
        h("div", { class: "dialog-actions" }, back, yes)));
    };

    const picker = h("form", { method: "dialog" },
      h("p", {}, "Conversación ", h("strong", { text: `«${conv.title || "Sin título"}»` }), ` de ${conv.owner_full_name} (${conv.owner_email})`),
      error,
      h("div", { class: "field" }, h("label", { for: "reassign-search", text: "Nuevo dueño" }), search, select,
        h("span", { class: "hint", text: "Solo aparecen los usuarios activos a los que usted puede reasignar." })),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn", onclick: () => close(null), text: "Cancelar" }),
        h("button", { type: "submit", class: "btn btn-primary", text: "Continuar" })));
    picker.addEventListener("submit", (event) => {
      event.preventDefault();
      const target = shown.get(select.value);
      if (!target) {
        fail("Elija un usuario de la lista.");
        return;
      }
      error.hidden = true;
      confirm(target);
    });
    step.appendChild(picker);
    find();
    return step;
  });
  return Boolean(result);
}
