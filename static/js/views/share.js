// @ts-check
// "Compartir" above a conversation: a read-only link to it for any account of EnergyApp
// (PUT/GET/DELETE /conversations/{id}/share), and Configuración's "Enlaces compartidos" (GET /shares).
import { api, qs, errorDetail, ApiError } from "../api.js";
import { h, icon, openDialog, formatDate, confirmDialog, clear } from "../dom.js";
import { plural } from "../plural.js";
/** @import { Page } from "../api.js" */

/**
 * The link of one's conversation (`ShareOut`).
 * @typedef {object} Share
 * @property {string} token
 * @property {string} path "/#/compartida/<token>": the server's address goes before it
 * @property {string} conversation_id
 * @property {string} created_at
 * @property {string} updated_at when the version shared was taken
 * @property {number} view_count
 * @property {boolean} up_to_date false: the conversation changed since
 */

/**
 * One of one's links (`SharedLinkItem`).
 * @typedef {{ id: string, conversation_id: string, title: string, path: string, view_count: number, created_at: string, updated_at: string }} SharedLinkItem
 */

export const SHARE_EXPLAINED = "Cualquier persona con una cuenta en EnergyApp que tenga el enlace podrá leer esta conversación tal como está ahora. Los mensajes que agregue después no se verán hasta que actualice el enlace.";

/** @param {string} path */
function fullUrl(path) {
  return `${location.origin}${path}`;
}

/**
 * Copy `url`, saying the outcome in `status` (a polite live region). Without the clipboard
 * (permission denied, or a page served over plain HTTP, where `navigator.clipboard` is missing)
 * the link is left selected in `field`, to copy by hand.
 * @param {string} url
 * @param {HTMLElement} status
 * @param {() => HTMLInputElement} field the read-only field that shows the link
 */
function copyLink(url, status, field) {
  /** @type {Promise<void>} */
  let copying;
  try {
    copying = navigator.clipboard.writeText(url);
  } catch (err) {
    copying = Promise.reject(err);
  }
  copying
    .then(() => say(status, "Enlace copiado."))
    .catch(() => {
      const input = field();
      input.focus();
      input.select();
      say(status, "No se pudo copiar: el enlace quedó seleccionado para copiarlo a mano.");
    });
}

/**
 * Write `text` in a live region, emptied first so the same words twice are said twice.
 * @param {HTMLElement} status
 * @param {string} text
 */
function say(status, text) {
  status.textContent = "";
  setTimeout(() => { status.textContent = text; }, 50);
}

/**
 * The "Compartir" dialog of one's conversation: explain, create, then copy, update or revoke.
 * @param {string} conversationId
 */
export async function shareConversation(conversationId) {
  const url = `/conversations/${encodeURIComponent(conversationId)}/share`;
  /** @type {Share | null} */
  let share = null;
  let failed = "";
  try {
    share = await api(url);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) failed = errorDetail(err, "No se pudo consultar el enlace.");
  }
  await openDialog("Compartir conversación", (close) => {
    const status = h("p", { class: "hint share-status", id: "share-status", role: "status", "aria-live": "polite", text: failed });
    const body = h("div", {});
    let busy = false;
    /**
     * @param {"PUT" | "DELETE"} method
     * @param {string} done what the status says after it
     * @param {string} focusId the button to focus once drawn again
     */
    const change = async (method, done, focusId) => {
      if (busy) return;
      busy = true;
      try {
        const answer = await api(url, { method });
        share = method === "PUT" ? answer : null;
        draw(focusId);
        say(status, done);
      } catch (err) {
        say(status, errorDetail(err, "No se pudo cambiar el enlace."));
      } finally {
        busy = false;
      }
    };
    /** @param {string} [focusId] */
    const draw = (focusId) => {
      clear(body);
      body.appendChild(h("p", { id: "share-explained", text: SHARE_EXPLAINED }));
      const closeButton = h("button", { type: "button", class: "btn", id: "share-close", onclick: () => close(null), text: "Cerrar" });
      if (!share) {
        body.appendChild(h("div", { class: "dialog-actions" }, closeButton,
          h("button", { type: "button", class: "btn btn-primary", id: "share-create", onclick: () => change("PUT", "Enlace creado. Cópielo y compártalo.", "share-copy"), text: "Crear enlace" })));
      } else {
        const link = fullUrl(share.path);
        const field = h("input", { class: "input share-url", id: "share-url", readonly: true, value: link, "aria-describedby": "share-when" });
        field.addEventListener("focus", () => field.select());
        const when = `Compartida el ${formatDate(share.updated_at)} · ${plural(share.view_count, "visita", "visitas")}.`;
        body.append(
          h("label", { for: "share-url", text: "Enlace" }), field,
          h("p", { class: "hint", id: "share-when", text: share.up_to_date ? when : `${when} La conversación cambió después: «Actualizar enlace» comparte lo que se ve ahora.` }),
          h("div", { class: "dialog-actions share-actions" },
            h("button", { type: "button", class: "btn btn-danger", id: "share-revoke", onclick: () => change("DELETE", "Se dejó de compartir. El enlace ya no funciona.", "share-create"), text: "Dejar de compartir" }),
            h("button", { type: "button", class: "btn", id: "share-update", onclick: () => change("PUT", "Enlace actualizado: muestra la conversación como está ahora.", "share-update"), text: "Actualizar enlace" }),
            h("button", { type: "button", class: "btn btn-primary", id: "share-copy", onclick: () => copyLink(link, status, () => field) }, icon("copy"), "Copiar enlace"),
            closeButton));
      }
      if (focusId) document.getElementById(focusId)?.focus();
    };
    draw();
    return h("div", { class: "share-dialog" }, body, status);
  });
}

/** Configuración: "Enlaces compartidos", one's links, each with "Dejar de compartir". */
export function sharedLinksCard() {
  const list = h("ul", { class: "shared-links", id: "shared-links" });
  const status = h("p", { class: "hint", id: "shared-links-status", role: "status", "aria-live": "polite" });
  const more = h("div", {});
  const heading = h("h2", { id: "shared-links-h", text: "Enlaces compartidos" });
  /** @param {string | null} cursor */
  const load = async (cursor) => {
    clear(more);
    try {
      /** @type {Page<SharedLinkItem>} */
      const page = await api(`/shares${qs({ cursor })}`);
      for (const item of page.items) list.appendChild(linkRow(item));
      if (!list.children.length) status.textContent = "No ha compartido conversaciones.";
      if (page.next_cursor) {
        const next = page.next_cursor;
        more.appendChild(h("button", { type: "button", class: "btn btn-sm", onclick: () => void load(next), text: "Cargar más" }));
      }
    } catch (err) {
      status.textContent = errorDetail(err, "No se pudieron cargar los enlaces.");
    }
  };
  /** @param {SharedLinkItem} item */
  const linkRow = (item) => {
    /** @type {HTMLInputElement | null} */
    let field = null;
    // The card shows titles, not links: one that could not be copied is shown, to copy by hand.
    const linkField = () => {
      if (!field) {
        field = h("input", { class: "input share-url", readonly: true, value: fullUrl(item.path), "aria-label": `Enlace de «${item.title}»` });
        row.appendChild(field);
      }
      return field;
    };
    const revoke = h("button", { type: "button", class: "btn btn-sm btn-danger", "aria-label": `Dejar de compartir «${item.title}»`, text: "Dejar de compartir" });
    const row = h("li", { class: "shared-link" },
      h("div", {},
        h("a", { href: `#/chat/${encodeURIComponent(item.conversation_id)}`, text: item.title }),
        h("div", { class: "hint small", text: `Compartida el ${formatDate(item.updated_at)} · ${plural(item.view_count, "visita", "visitas")}` })),
      h("div", { class: "cell-actions" },
        h("button", { type: "button", class: "btn btn-sm", "aria-label": `Copiar el enlace de «${item.title}»`, onclick: () => copyLink(fullUrl(item.path), status, linkField) }, icon("copy"), "Copiar enlace"),
        revoke));
    revoke.addEventListener("click", async () => {
      const sure = await confirmDialog("Dejar de compartir", `El enlace de «${item.title}» dejará de funcionar para quienes lo tengan.`, "Dejar de compartir", true);
      if (!sure) return;
      try {
        await api(`/conversations/${encodeURIComponent(item.conversation_id)}/share`, { method: "DELETE" });
      } catch (err) {
        say(status, errorDetail(err, "No se pudo dejar de compartir."));
        return;
      }
      const next = /** @type {HTMLElement | null} */ (row.nextElementSibling || row.previousElementSibling);
      row.remove();
      say(status, `Se dejó de compartir «${item.title}».`);
      const target = /** @type {HTMLElement | null} */ (next?.querySelector(".btn-danger") ?? null);
      if (target) target.focus();
      else {
        heading.tabIndex = -1;
        heading.focus();
      }
    });
    return row;
  };
  void load(null);
  return h("section", { class: "card", "aria-labelledby": "shared-links-h" },
    heading,
    h("p", { class: "hint", text: "Conversaciones suyas que cualquier cuenta de EnergyApp con el enlace puede leer." }),
    list, more, status);
}
