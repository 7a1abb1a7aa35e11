// @ts-check
// Admin panel: users, per-user conversations, read-only viewer, reassignment; usage and audit
// live in admin_usage.js and admin_audit.js.
import { api, errorDetail, qs } from "../api.js";
import { h, icon, toast, timeAgo, formatDate, ROLE_LABELS, openDialog, confirmDialog } from "../dom.js";
import { renderMarkdown } from "../markdown.js";
import { signedInUser } from "../state.js";
import { plural } from "../plural.js";
import { PAGE, errorBox, pagedTable } from "./admin_common.js";
import { renderAudit } from "./admin_audit.js";
import { renderUsage } from "./admin_usage.js";
import { renderStatus } from "./admin_status.js";
import { reassignDialog } from "./admin_reassign.js";
import { twoFactorPolicyCard } from "./admin_2fa_policy.js";
import { legalHoldPanel } from "./legal_hold.js";
import { adminApiKeys } from "./admin_api_keys.js";
import { adminAnnouncements } from "./admin_announcements.js";
import { resetLinkDialog } from "./admin_reset_link.js";
import { questionBubble } from "./chat/attachments.js";
import { keptInstructionsPanel } from "./instructions.js";
import { adminPrompts } from "./prompts.js";
/** @import { Page } from "../api.js" */
/** @import { Role } from "../state.js" */

/**
 * A row of the users table (`AdminUserOut`).
 * @typedef {object} AdminUser
 * @property {string} id
 * @property {string} email
 * @property {string} full_name
 * @property {Role} role
 * @property {boolean} is_active
 * @property {boolean} totp_enabled
 * @property {boolean} require_2fa set by an admin: set up at the next login
 * @property {boolean} api_keys_enabled false: an admin turned the person's API keys off
 * @property {string | null} last_active_at
 * @property {string | null} last_login_at null: never signed in
 * @property {string | null} email_verified_at null: the address was never confirmed
 * @property {number} conversation_count
 * @property {number} message_count
 */

/**
 * A conversation of another user (`AdminConversationOut`, the fields shown here).
 * @typedef {object} AdminConversation
 * @property {string} id
 * @property {string} title
 * @property {string} user_id the owner
 * @property {string} owner_full_name
 * @property {string} owner_email
 * @property {string} updated_at
 * @property {number} message_count
 * @property {boolean} temporary a "Chat temporal" of its owner: shown while it exists, marked "Temporal"
 */

/** @typedef {{ id: string, role: string, content: string, created_at: string, sibling_ids: string[] }} AdminMessage the current branch, with each message's versions */


/**
 * @param {HTMLElement} main
 * @param {string[]} params what follows #/admin/ in the address
 * @returns {() => void} what to undo when the screen is left
 */
export function renderAdmin(main, params) {
  const [section = "usuarios", id] = params;
  // Read once: a table row drawn after the admin signed out (a search's answer that was still
  // on its way) must not ask for a user who is gone.
  const me = signedInUser();
  const isAdmin = me.role === "admin";
  const inner = h("div", { class: "page-inner page-wide" });
  main.appendChild(h("div", { class: "page" }, inner));
  const tabs = [["usuarios", "Usuarios"], ["uso", "Uso"], ["auditoria", "Auditoría"], ["claves", "Claves de API"]];
  if (isAdmin) tabs.push(["avisos", "Avisos generales"]); // Configuración's "Avisos" is the desktop notifications
  if (isAdmin) tabs.push(["indicaciones", "Indicaciones"]); // the published ones: admins only
  if (isAdmin) tabs.push(["estado", "Estado"]); // the model servers and who waits now
  inner.append(
    h("h1", { text: "Administración" }),
    h("nav", { class: "admin-tabs", "aria-label": "Secciones de administración" },
      tabs.map(([key, label]) => h("a", { class: `btn btn-sm${key === section || (key === "usuarios" && ["usuario", "conversacion"].includes(section)) ? " btn-primary" : ""}`, href: `#/admin/${key}`, "aria-current": key === section ? "page" : null, text: label })),
    ),
  );
  const body = h("div");
  inner.appendChild(body);
  let cleanup = () => {};
  if (section === "usuario" && id) userDetail(body, id);
  else if (section === "conversacion" && id) conversationViewer(body, id, isAdmin);
  else if (section === "uso") cleanup = renderUsage(body);
  else if (section === "auditoria") renderAudit(body);
  else if (section === "claves") adminApiKeys(body);
  else if (section === "avisos" && isAdmin) adminAnnouncements(body);
  else if (section === "indicaciones" && isAdmin) adminPrompts(body);
  else if (section === "estado" && isAdmin) cleanup = renderStatus(body);
  else cleanup = usersTable(body, isAdmin, me.id);
  return () => cleanup();
}

/**
 * @param {HTMLElement} body
 * @param {boolean} isAdmin
 * @param {string} myId the signed-in admin's, whose own row offers no "Gestionar"
 * @returns {() => void} what to undo when the screen is left
 */
function usersTable(body, isAdmin, myId) {
  const search = h("input", { class: "input", type: "search", id: "user-search", placeholder: "Buscar por nombre o correo", "aria-label": "Buscar usuarios" });
  const role = h("select", { class: "input", id: "role-filter", "aria-label": "Filtrar por rol" },
    h("option", { value: "", text: "Todos los roles" }),
    Object.entries(ROLE_LABELS).map(([v, l]) => h("option", { value: v, text: l })));
  const tbody = h("tbody");
  const table = h("div", { class: "table-wrap" }, h("table", { class: "data cards-on-phone", id: "users-table" },
    h("caption", { class: "sr-only", text: "Usuarios" }),
    h("thead", {}, h("tr", {}, [["Nombre"], ["Correo"], ["Rol"], ["Estado"], ["2FA"], ["Actividad", "Última actividad"], ["Conv.", "Conversaciones"], ["Msj.", "Mensajes"], ["Acciones"]].map(([t, full]) => h("th", { scope: "col", title: full, "aria-label": full, text: t })))),
    tbody));
  const status = h("div");
  const pg = pagedTable({
    tbody, status, columns: 9, empty: "No hay usuarios que coincidan.",
    path: (cursor) => `/admin/users${qs({ limit: PAGE, cursor, q: search.value.trim(), role: role.value })}`,
    rows: (/** @type {AdminUser} */ user) => userRow(user, isAdmin && user.id !== myId, () => pg.reset()),
  });
  /** @type {number | undefined} */
  let timer;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => pg.reset(), 250); });
  role.addEventListener("change", () => pg.reset());
  body.append(h("div", { class: "toolbar" }, search, role), status, table, pg.el);
  if (isAdmin) body.appendChild(twoFactorPolicyCard());
  pg.reset();
  return () => clearTimeout(timer);
}

/**
 * @param {AdminUser} user
 * @param {boolean} manageable the admin may manage this account (not their own)
 * @param {() => void} reload after a change
 */
function userRow(user, manageable, reload) {
  const cell = h("div", { class: "cell-actions" },
    h("a", { class: "btn btn-sm", href: `#/admin/usuario/${encodeURIComponent(user.id)}`, "aria-label": `Ver conversaciones de ${user.full_name}` }, icon("eye"), "Ver"));
  const actions = h("td", { "data-label": "Acciones" }, cell);
  if (manageable) {
    const manage = h("button", { type: "button", class: "btn btn-sm", "data-action": "manage", "aria-label": `Gestionar la cuenta de ${user.full_name}`, text: "Gestionar" });
    manage.addEventListener("click", async () => {
      const action = await manageDialog(user);
      if (action === "reset-link") await resetLinkDialog(user);
      else if (action && (await adminAction(user, action))) reload();
    });
    cell.appendChild(manage);
  }
  return h("tr", { dataset: { userId: user.id } },
    h("td", { class: "wrap", "data-label": "Nombre", text: user.full_name }),
    h("td", { class: "wrap", "data-label": "Correo" }, user.email, " ", unverifiedBadge(user)),
    h("td", { "data-label": "Rol", text: ROLE_LABELS[user.role] || user.role }),
    h("td", { "data-label": "Estado" }, h("span", { class: `pill ${user.is_active ? "pill-ok" : "pill-off"}`, text: user.is_active ? "Activo" : "Inactivo" })),
    h("td", { "data-label": "2FA", text: user.totp_enabled ? "Sí" : user.require_2fa ? "Exigida" : "No" }),
    // An account that never signed in has no activity to tell, whatever its creation time.
    user.last_login_at
      ? h("td", { "data-label": "Actividad", title: formatDate(user.last_active_at), text: timeAgo(user.last_active_at) })
      : h("td", { "data-label": "Actividad", title: "Nunca ha iniciado sesión", text: "nunca" }),
    h("td", { "data-label": "Conversaciones", text: String(user.conversation_count ?? 0) }),
    h("td", { "data-label": "Mensajes", text: String(user.message_count ?? 0) }),
    actions,
  );
}

/**
 * "Correo sin confirmar" next to an address never confirmed (with mail on, it cannot sign in).
 * @param {AdminUser} user
 */
function unverifiedBadge(user) {
  if (user.email_verified_at) return null;
  return h("span", { class: "pill pill-off unverified-email", title: "La persona no ha abierto el enlace que confirma su correo", text: "Correo sin confirmar" });
}

/**
 * Admin-only account actions; resolves with the action chosen (then confirmed, or for
 * "reset-link" shown by resetLinkDialog) or null.
 * @param {AdminUser} user
 */
function manageDialog(user) {
  return openDialog("Gestionar cuenta", (/** @type {(action: string | null) => void} */ close) => {
    const role = h("select", { class: "input", id: "manage-role" },
      Object.entries(ROLE_LABELS).map(([v, l]) => h("option", { value: v, text: l, selected: v === user.role })));
    const saveRole = h("button", { type: "button", class: "btn btn-primary", text: "Cambiar rol" });
    saveRole.addEventListener("click", () => close(role.value === user.role ? null : `role:${role.value}`));
    return h("div", {},
      h("p", {}, h("strong", { text: user.full_name }), h("br"), h("span", { class: "muted", text: user.email }), " ", unverifiedBadge(user)),
      h("div", { class: "field" }, h("label", { for: "manage-role", text: "Rol" }), h("div", { class: "inline-form" }, role, saveRole)),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn", "data-action": "require2fa", onclick: () => close(user.require_2fa ? "unrequire2fa" : "require2fa"), text: user.require_2fa ? "Dejar de exigir 2FA" : "Exigir 2FA" }),
        user.email_verified_at ? null : h("button", { type: "button", class: "btn", "data-action": "verify-email", onclick: () => close("verify-email"), text: "Dar por confirmado el correo" }),
        user.totp_enabled ? h("button", { type: "button", class: "btn", "data-action": "reset2fa", onclick: () => close("reset2fa"), text: "Restablecer 2FA" }) : null,
        user.is_active ? h("button", { type: "button", class: "btn", "data-action": "reset-link", onclick: () => close("reset-link"), text: "Crear enlace para restablecer contraseña" }) : null,
        h("button", { type: "button", class: "btn", "data-action": "api-access", onclick: () => close(user.api_keys_enabled ? "api-off" : "api-on"), text: user.api_keys_enabled ? "Quitar acceso a la API" : "Devolver acceso a la API" }),
        h("button", { type: "button", class: `btn ${user.is_active ? "btn-danger" : ""}`, "data-action": user.is_active ? "deactivate" : "activate", onclick: () => close(user.is_active ? "deactivate" : "activate"), text: user.is_active ? "Desactivar cuenta" : "Activar cuenta" }),
        h("button", { type: "button", class: "btn", onclick: () => close(null), text: "Cerrar" }),
      ),
    );
  });
}

/**
 * Confirm and apply an action of manageDialog(); resolves whether something changed.
 * @param {AdminUser} user
 * @param {string} action "role:<role>", "deactivate", "activate", "require2fa", "unrequire2fa", "verify-email", "reset2fa", "api-off" or "api-on"
 */
async function adminAction(user, action) {
  let question;
  let request;
  if (action.startsWith("role:")) {
    const role = /** @type {Role} */ (action.slice(5));
    question = `¿Cambiar el rol de ${user.full_name} a ${ROLE_LABELS[role]}?`;
    request = () => api(`/admin/users/${encodeURIComponent(user.id)}`, { method: "PATCH", body: { role } });
  } else if (action === "deactivate" || action === "activate") {
    const active = action === "activate";
    question = active ? `¿Activar la cuenta de ${user.full_name}?` : `¿Desactivar la cuenta de ${user.full_name}? Sus sesiones se cerrarán de inmediato.`;
    request = () => api(`/admin/users/${encodeURIComponent(user.id)}`, { method: "PATCH", body: { is_active: active } });
  } else if (action === "require2fa" || action === "unrequire2fa") {
    const required = action === "require2fa";
    question = required ? `¿Exigir la verificación en dos pasos a ${user.full_name}? Deberá configurarla en su próximo inicio de sesión.` : `¿Dejar de exigir la verificación en dos pasos a ${user.full_name}?`;
    request = () => api(`/admin/users/${encodeURIComponent(user.id)}`, { method: "PATCH", body: { require_2fa: required } });
  } else if (action === "verify-email") {
    question = `¿Dar por confirmado el correo ${user.email} de ${user.full_name}? Hágalo solo si sabe que es suyo (por ejemplo, si su buzón rechaza nuestros correos).`;
    request = () => api(`/admin/users/${encodeURIComponent(user.id)}`, { method: "PATCH", body: { email_verified: true } });
  } else if (action === "api-off" || action === "api-on") {
    const enabled = action === "api-on";
    question = enabled ? `¿Devolver el acceso a la API a ${user.full_name}? Sus claves vigentes volverán a funcionar.` : `¿Quitar el acceso a la API a ${user.full_name}? Sus claves de API dejarán de funcionar de inmediato y no podrá crear otras.`;
    request = () => api(`/admin/users/${encodeURIComponent(user.id)}/api-access`, { method: "PUT", body: { enabled } });
  } else if (action === "reset2fa") {
    question = `¿Restablecer la verificación en dos pasos de ${user.full_name}? Deberá configurarla de nuevo.`;
    request = () => api(`/admin/users/${encodeURIComponent(user.id)}/reset-2fa`, { method: "POST" });
  } else return false;
  if (!(await confirmDialog("Confirmar acción", question, "Confirmar", action === "deactivate"))) return false;
  try {
    await request();
    toast("Cambio guardado.");
    return true;
  } catch (err) {
    toast(errorDetail(err, "No se pudo aplicar el cambio."), "error");
    return false;
  }
}

/**
 * @param {HTMLElement} body
 * @param {string} userId
 */
function userDetail(body, userId) {
  const heading = h("h2", { text: "Conversaciones del usuario" });
  const tbody = h("tbody");
  const status = h("div");
  body.append(
    h("p", {}, h("a", { href: "#/admin/usuarios", text: "← Volver a usuarios" })),
    heading, status,
    h("div", { class: "table-wrap" }, h("table", { class: "data cards-on-phone", id: "user-conversations" },
      h("thead", {}, h("tr", {}, ["Título", "Mensajes", "Actualizada", "Acciones"].map((t) => h("th", { scope: "col", text: t })))),
      tbody)),
  );
  const pg = pagedTable({
    tbody, status, columns: 4, empty: "Este usuario no tiene conversaciones.",
    path: (cursor) => `/admin/conversations${qs({ user_id: userId, limit: PAGE, cursor })}`,
    rows: (/** @type {AdminConversation} */ conv) => {
      // A temporary chat is not reassigned (409 conversation_temporary): no button for it.
      const reassign = conv.temporary ? null : h("button", { type: "button", class: "btn btn-sm", "data-action": "reassign", text: "Reasignar" });
      reassign?.addEventListener("click", async () => {
        if (!(await reassignDialog(conv))) return;
        toast("Conversación reasignada.");
        pg.reset();
      });
      return h("tr", { dataset: { convId: conv.id } },
        h("td", { class: "wrap", "data-label": "Título" }, conv.title || "Sin título", conv.temporary ? [" ", temporaryPill()] : null),
        h("td", { "data-label": "Mensajes", text: String(conv.message_count ?? "") }),
        h("td", { "data-label": "Actualizada", title: formatDate(conv.updated_at), text: timeAgo(conv.updated_at) }),
        h("td", { "data-label": "Acciones" }, h("div", { class: "cell-actions" }, h("a", { class: "btn btn-sm", href: `#/admin/conversacion/${encodeURIComponent(conv.id)}` }, icon("eye"), "Ver mensajes"), reassign)));
    },
  });
  body.appendChild(pg.el);
  // The heading names the person even when they have no conversation yet.
  api(`/admin/users/${encodeURIComponent(userId)}`).then((/** @type {AdminUser} */ user) => {
    heading.textContent = `Conversaciones de ${user.full_name} (${user.email})`;
  }).catch(() => {});  // the list below reports the error
  pg.reset();
}

/** The mark of a temporary chat: its owner does not see it in the history; it is deleted soon. */
function temporaryPill() {
  return h("span", { class: "pill", title: "Chat temporal: no aparece en el historial de su dueño y se borra después de su último mensaje.", text: "Temporal" });
}

/**
 * " · versión 2 de 3" for a message with versions (the viewer shows the owner's current branch).
 * @param {AdminMessage} m
 */
function versionNote(m) {
  const count = m.sibling_ids?.length ?? 0;
  return count > 1 ? ` · versión ${m.sibling_ids.indexOf(m.id) + 1} de ${count}` : "";
}

// The viewer reads 200 messages a request and draws at most 20 requests (4 000 messages) before
// it asks the admin to load more.
const VIEWER_PAGE_SIZE = 200;
const VIEWER_BATCH_PAGES = 20;

/**
 * @param {HTMLElement} body
 * @param {string} convId
 * @param {boolean} isAdmin only an admin sees the legal hold
 */
async function conversationViewer(body, convId, isAdmin) {
  const viewer = h("div", { class: "viewer", id: "admin-viewer", "aria-label": "Mensajes (solo lectura)" });
  const heading = h("h2", { id: "viewer-heading", text: "Conversación" });
  body.append(
    h("p", {}, h("button", { type: "button", class: "btn btn-sm", onclick: () => history.back(), text: "← Volver" })),
    heading,
    h("p", { class: "hint", text: "Vista de solo lectura de las versiones que el usuario tiene a la vista. Su acceso queda registrado en la auditoría." }),
    viewer,
  );
  api(`/admin/conversations/${encodeURIComponent(convId)}`).then((/** @type {AdminConversation} */ conv) => {
    heading.textContent = `«${conv.title || "Sin título"}», conversación de ${conv.owner_full_name} (${conv.owner_email})`;
    if (conv.temporary) heading.append(" ", temporaryPill());
  }).catch(() => {});  // the messages below report the error
  if (isAdmin) body.insertBefore(legalHoldPanel(convId), viewer);
  body.insertBefore(keptInstructionsPanel(convId), viewer);
  // Drawn a batch at a time (a long conversation would freeze the page); what is left waits for
  // the admin's click, and the page says so.
  const more = h("div", { class: "viewer-more", id: "viewer-more", "aria-live": "polite" });
  body.appendChild(more);
  /** @type {string | null} */
  let cursor = null;
  let count = 0;
  const loadBatch = async () => {
    more.replaceChildren();
    try {
      for (let i = 0; i < VIEWER_BATCH_PAGES; i += 1) {
        /** @type {Page<AdminMessage>} */
        const page = await api(`/admin/conversations/${encodeURIComponent(convId)}/messages${qs({ limit: VIEWER_PAGE_SIZE, cursor })}`);
        for (const m of page.items) {
          count += 1;
          viewer.appendChild(viewerMessage(m));
        }
        cursor = page.next_cursor;
        if (!cursor) break;
      }
    } catch (err) {
      more.replaceChildren(errorBox(err));
      return;
    }
    if (!count) viewer.appendChild(h("p", { class: "muted", text: "La conversación no tiene mensajes." }));
    if (cursor) {
      more.append(
        h("p", { class: "hint", text: `Se muestran los primeros ${plural(count, "mensaje", "mensajes")}; la conversación tiene más. Pulse «Cargar más mensajes» para ver los siguientes.` }),
        h("button", { type: "button", class: "btn", id: "viewer-load-more", onclick: () => { void loadBatch(); }, text: "Cargar más mensajes" }),
      );
    }
  };
  await loadBatch();
}

/**
 * One message of the read-only viewer.
 * @param {AdminMessage} m
 */
function viewerMessage(m) {
  const md = m.role === "user" ? questionBubble(m.content) : h("div", { class: "md" });
  if (m.role !== "user") renderMarkdown(md, m.content);
  return h("div", { class: `msg msg-${m.role === "user" ? "user" : "assistant"}` },
    m.role === "user" ? null : h("img", { class: "bot-avatar", src: "/static/logo.svg", alt: "" }),
    h("div", { class: m.role === "user" ? "" : "body" }, md, h("div", { class: "msg-meta", text: formatDate(m.created_at) + versionNote(m) })));
}
