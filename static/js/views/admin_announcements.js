// @ts-check
// Admin panel: the "Avisos generales" tab (admins only; the API refuses supervisors). The general
// announcements with their state, level, audience and dates (Santiago), a form to publish or
// edit one (text with a live counter as the server counts it, dates as dd-mm-aaaa HH:MM),
// "Terminar ahora" and "Eliminar" with confirmation. See views/announcements.js for the band.
import { api, errorDetail } from "../api.js";
import { h, toast, formatDate, confirmDialog, clear, ROLE_LABELS } from "../dom.js";
import { CharCounter } from "./chat/composer.js";
import { instructionChars } from "./instructions.js";
import { errorBox, momentInput, parseMoment } from "./admin_common.js";
import { refreshAnnouncements } from "./announcements.js";

/**
 * A row of `GET /admin/announcements` (`AdminAnnouncementOut`).
 * @typedef {object} AdminAnnouncement
 * @property {string} id
 * @property {string} body
 * @property {"info" | "warning"} level
 * @property {"all" | "admin" | "supervisor" | "trabajador"} audience
 * @property {"programado" | "activo" | "terminado"} state
 * @property {string} starts_at
 * @property {string | null} ends_at
 * @property {string | null} created_by null: created from the server's console
 */

const MAX_CHARS = 500; // the server's limit (announcements/service.py)
const LEVELS = { info: "Información", warning: "Importante" };
const STATES = { programado: "Programado", activo: "Activo", terminado: "Terminado" };
/** @param {string} audience */
const audienceLabel = (audience) => (audience === "all" ? "Todos" : `Rol ${ROLE_LABELS[/** @type {keyof ROLE_LABELS} */ (audience)] || audience}`);

/** @param {HTMLElement} body */
export function adminAnnouncements(body) {
  const tbody = h("tbody");
  const status = h("div");
  const table = h("div", { class: "table-wrap" }, h("table", { class: "data cards-on-phone", id: "announcements-table" },
    h("caption", { class: "sr-only", text: "Avisos generales" }),
    h("thead", {}, h("tr", {}, ["Texto", "Nivel", "Audiencia", "Estado", "Inicio", "Término", "Acciones"].map((t) => h("th", { scope: "col", text: t })))),
    tbody));
  const load = async () => {
    try {
      /** @type {AdminAnnouncement[]} */
      const items = await api("/admin/announcements");
      clear(status);
      clear(tbody);
      if (!items.length) tbody.appendChild(h("tr", {}, h("td", { colspan: 7, class: "muted", text: "No hay avisos." })));
      for (const item of items) tbody.appendChild(row(item, form.edit, reload));
    } catch (err) {
      status.replaceChildren(errorBox(err));
    }
  };
  // After a change: the list, and the admin's own band.
  const reload = () => {
    refreshAnnouncements();
    return load();
  };
  const form = announcementForm(reload);
  body.append(form.el, h("h2", { text: "Avisos publicados" }), status, table);
  load();
}

/**
 * @param {AdminAnnouncement} a
 * @param {(a: AdminAnnouncement) => void} edit
 * @param {() => void} reload
 */
function row(a, edit, reload) {
  const actions = h("div", { class: "cell-actions" });
  /** @param {string} label @param {string} action @param {() => Promise<void>} run @param {string} [extra] */
  const button = (label, action, run, extra = "") => {
    const b = h("button", { type: "button", class: `btn btn-sm${extra}`, "data-action": action, text: label });
    b.addEventListener("click", run);
    actions.appendChild(b);
  };
  button("Editar", "edit", async () => edit(a));
  if (a.state !== "terminado") {
    button("Terminar ahora", "end", async () => {
      try {
        await api(`/admin/announcements/${encodeURIComponent(a.id)}/end`, { method: "POST" });
        toast("Aviso terminado.");
      } catch (err) {
        toast(errorDetail(err, "No se pudo terminar el aviso."), "error");
      }
      reload();
    });
  }
  button("Eliminar", "delete", async () => {
    if (!(await confirmDialog("Eliminar aviso", `¿Eliminar el aviso «${a.body.slice(0, 80)}»? Dejará de mostrarse y no se puede deshacer.`, "Eliminar", true))) return;
    try {
      await api(`/admin/announcements/${encodeURIComponent(a.id)}`, { method: "DELETE" });
      toast("Aviso eliminado.");
    } catch (err) {
      toast(errorDetail(err, "No se pudo eliminar el aviso."), "error");
    }
    reload();
  }, " btn-danger");
  return h("tr", { dataset: { announcementId: a.id } },
    h("td", { class: "wrap announcement-cell", "data-label": "Texto", text: a.body }),
    h("td", { "data-label": "Nivel", text: LEVELS[a.level] }),
    h("td", { "data-label": "Audiencia", text: audienceLabel(a.audience) }),
    h("td", { "data-label": "Estado" }, h("span", { class: `pill${a.state === "activo" ? " pill-ok" : ""}`, text: STATES[a.state] })),
    h("td", { "data-label": "Inicio", text: formatDate(a.starts_at) }),
    h("td", { "data-label": "Término", text: a.ends_at ? formatDate(a.ends_at) : "Sin término" }),
    h("td", { "data-label": "Acciones" }, actions),
  );
}

/** @param {() => void} reload after a change */
function announcementForm(reload) {
  /** @type {AdminAnnouncement | null} the one being edited */
  let editing = null;
  let shownStart = "";
  let shownEnd = "";
  const heading = h("h2", { id: "announcement-form-h", text: "Nuevo aviso" });
  const counter = new CharCounter("announcement-body-count", MAX_CHARS, "El aviso");
  const text = h("textarea", { class: "input", id: "announcement-body", rows: 3, placeholder: "Por ejemplo: El servicio se reiniciará hoy a las 18:00 por una actualización.", "aria-describedby": "announcement-body-count" });
  const level = h("select", { class: "input", id: "announcement-level", "aria-label": "Nivel" },
    Object.entries(LEVELS).map(([v, l]) => h("option", { value: v, text: l })));
  const audience = h("select", { class: "input", id: "announcement-audience", "aria-label": "Audiencia" },
    ["all", ...Object.keys(ROLE_LABELS)].map((v) => h("option", { value: v, text: audienceLabel(v) })));
  const starts = momentInput("announcement-starts", "Inicio (dd-mm-aaaa HH:MM; vacío: ahora)");
  const ends = momentInput("announcement-ends", "Término (dd-mm-aaaa HH:MM; vacío: sin término)");
  const save = h("button", { type: "submit", class: "btn btn-primary", id: "announcement-save", text: "Publicar" });
  const cancel = h("button", { type: "button", class: "btn", id: "announcement-cancel", text: "Cancelar edición", hidden: true });
  const msg = h("div", { class: "alert alert-error", role: "alert", id: "announcement-msg", hidden: true });
  const update = () => { save.disabled = counter.show(instructionChars(text.value)) || !text.value.trim(); };
  const reset = () => {
    editing = null;
    heading.textContent = "Nuevo aviso";
    save.textContent = "Publicar";
    cancel.hidden = true;
    text.value = starts.value = ends.value = "";
    level.value = "info";
    audience.value = "all";
    msg.hidden = true;
    update();
  };
  /** @param {AdminAnnouncement} a */
  const edit = (a) => {
    editing = a;
    heading.textContent = "Editar aviso";
    save.textContent = "Guardar cambios";
    cancel.hidden = false;
    text.value = a.body;
    level.value = a.level;
    audience.value = a.audience;
    starts.value = shownStart = formatDate(a.starts_at);
    ends.value = shownEnd = a.ends_at ? formatDate(a.ends_at) : "";
    msg.hidden = true;
    update();
    text.focus();
  };
  text.addEventListener("input", update);
  cancel.addEventListener("click", reset);
  const el = h("form", { class: "card", id: "announcement-form", "aria-labelledby": "announcement-form-h" },
    heading,
    h("p", { class: "hint", text: "Se muestra arriba en la aplicación a quienes hayan iniciado sesión, entre el inicio y el término. Cada persona puede cerrarlo; si cambia el texto o el nivel, vuelve a mostrarse." }),
    h("div", { class: "field" }, h("label", { for: "announcement-body", text: "Texto del aviso" }), text, h("div", { class: "field-foot" }, counter.el)),
    h("div", { class: "toolbar" }, level, audience, starts, ends),
    msg,
    h("div", { class: "toolbar" }, save, cancel),
  );
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    const start = parseMoment(starts.value);
    const end = parseMoment(ends.value);
    if (start === undefined || end === undefined) {
      msg.textContent = "Escriba las fechas como dd-mm-aaaa HH:MM, por ejemplo 09-11-2026 18:00.";
      msg.hidden = false;
      return;
    }
    /** @type {Record<string, string | null>} */
    const payload = { body: text.value, level: level.value, audience: audience.value };
    // Editing: the dates only when retyped (the fields show them to the minute).
    if (!editing || starts.value !== shownStart) payload.starts_at = start;
    if (!editing || ends.value !== shownEnd) payload.ends_at = end;
    save.disabled = true;
    try {
      if (editing) await api(`/admin/announcements/${encodeURIComponent(editing.id)}`, { method: "PATCH", body: payload });
      else await api("/admin/announcements", { method: "POST", body: payload });
      toast(editing ? "Aviso actualizado." : "Aviso publicado.");
      reset();
      reload();
    } catch (err) {
      msg.textContent = errorDetail(err, "No se pudo guardar el aviso.");
      msg.hidden = false;
      update();
    }
  });
  reset();
  return { el, edit };
}
