// @ts-check
// Admin panel: users, per-user conversations, read-only viewer, reassignment, usage, audit.
import { api, errorDetail, qs } from "../api.js";
import { h, icon, toast, timeAgo, formatDate, ROLE_LABELS, openDialog, confirmDialog, clear } from "../dom.js";
import { renderMarkdown } from "../markdown.js";
import { signedInUser } from "../state.js";
import { drawUsageChart } from "./usage_chart.js";
import { adminApiKeys } from "./admin_api_keys.js";
/** @import { Page } from "../api.js" */
/** @import { Role } from "../state.js" */
/** @import { UsageItem } from "./usage_chart.js" */

/**
 * A row of the users table (`AdminUserOut`).
 * @typedef {object} AdminUser
 * @property {string} id
 * @property {string} email
 * @property {string} full_name
 * @property {Role} role
 * @property {boolean} is_active
 * @property {boolean} totp_enabled
 * @property {string | null} last_active_at
 * @property {number} conversation_count
 * @property {number} message_count
 */

/**
 * A conversation of another user (`AdminConversationOut`, the fields shown here).
 * @typedef {object} AdminConversation
 * @property {string} id
 * @property {string} title
 * @property {string} user_id the owner
 * @property {string} updated_at
 * @property {number} message_count
 */

/**
 * @typedef {object} AuditEvent
 * @property {string} created_at
 * @property {string | null} actor_id
 * @property {string | null} actor_email
 * @property {string} action
 * @property {string | null} target_type
 * @property {string | null} target_id
 * @property {string | null} ip
 */

/** @typedef {{ role: string, content: string, created_at: string }} AdminMessage */

const PAGE = 25;
/** @type {Map<string, string>} titles seen in a user's list, for the viewer's heading */
const convTitles = new Map();

/**
 * @param {HTMLElement} main
 * @param {string[]} params what follows #/admin/ in the address
 * @returns {() => void} what to undo when the screen is left
 */
export function renderAdmin(main, params) {
  const [section = "usuarios", id] = params;
  const isAdmin = signedInUser().role === "admin";
  const inner = h("div", { class: "page-inner page-wide" });
  main.appendChild(h("div", { class: "page" }, inner));
  const tabs = [["usuarios", "Usuarios"], ["uso", "Uso"], ["claves", "Claves de API"]];
  if (isAdmin) tabs.push(["auditoria", "Auditoría"]);
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
  else if (section === "conversacion" && id) conversationViewer(body, id);
  else if (section === "uso") cleanup = usage(body);
  else if (section === "claves") adminApiKeys(body);
  else if (section === "auditoria" && isAdmin) audit(body);
  else usersTable(body, isAdmin);
  return () => cleanup();
}

/** @param {unknown} err */
function errorBox(err) {
  return h("div", { class: "alert alert-error", role: "alert", text: errorDetail(err, "No se pudo cargar la información.") });
}

/**
 * Keyset pager: keeps the cursors of the pages visited so "Anterior" works.
 * @param {(cursor: string | null) => Promise<string | null>} load shows a page, returns the next one's cursor
 */
function pager(load) {
  /** @type {(string | null)[]} */
  const cursors = [null];
  let index = 0;
  const prev = h("button", { type: "button", class: "btn btn-sm", text: "Anterior" });
  const next = h("button", { type: "button", class: "btn btn-sm", text: "Siguiente" });
  const label = h("span", { class: "muted small" });
  const el = h("div", { class: "pager" }, label, prev, next);
  const go = async () => {
    prev.disabled = true;
    next.disabled = true;
    const nextCursor = await load(cursors[index]);
    if (nextCursor && cursors.length === index + 1) cursors.push(nextCursor);
    label.textContent = `Página ${index + 1}`;
    prev.disabled = index === 0;
    next.disabled = !nextCursor;
  };
  prev.addEventListener("click", () => { index -= 1; go(); });
  next.addEventListener("click", () => { index += 1; go(); });
  return { el, reset: () => { cursors.length = 1; index = 0; return go(); } };
}

/**
 * @param {HTMLElement} body
 * @param {boolean} isAdmin
 */
function usersTable(body, isAdmin) {
  const search = h("input", { class: "input", type: "search", id: "user-search", placeholder: "Buscar por nombre o correo", "aria-label": "Buscar usuarios" });
  const role = h("select", { class: "input", id: "role-filter", "aria-label": "Filtrar por rol" },
    h("option", { value: "", text: "Todos los roles" }),
    Object.entries(ROLE_LABELS).map(([v, l]) => h("option", { value: v, text: l })));
  const tbody = h("tbody");
  const table = h("div", { class: "table-wrap" }, h("table", { class: "data", id: "users-table" },
    h("caption", { class: "sr-only", text: "Usuarios" }),
    h("thead", {}, h("tr", {}, [["Nombre"], ["Correo"], ["Rol"], ["Estado"], ["2FA"], ["Actividad", "Última actividad"], ["Conv.", "Conversaciones"], ["Msj.", "Mensajes"], ["Acciones"]].map(([t, full]) => h("th", { scope: "col", title: full, "aria-label": full, text: t })))),
    tbody));
  const status = h("div");
  const load = async (/** @type {string | null} */ cursor) => {
    try {
      /** @type {Page<AdminUser>} */
      const page = await api(`/admin/users${qs({ limit: PAGE, cursor, q: search.value.trim(), role: role.value })}`);
      clear(status);
      clear(tbody);
      if (!page.items.length) tbody.appendChild(h("tr", {}, h("td", { colspan: 9, class: "muted", text: "No hay usuarios que coincidan." })));
      for (const user of page.items) tbody.appendChild(userRow(user, isAdmin, () => pg.reset()));
      return page.next_cursor;
    } catch (err) {
      status.replaceChildren(errorBox(err));
      return null;
    }
  };
  const pg = pager(load);
  /** @type {number | undefined} */
  let timer;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => pg.reset(), 250); });
  role.addEventListener("change", () => pg.reset());
  body.append(h("div", { class: "toolbar" }, search, role), status, table, pg.el);
  pg.reset();
}

/**
 * @param {AdminUser} user
 * @param {boolean} isAdmin
 * @param {() => void} reload after a change
 */
function userRow(user, isAdmin, reload) {
  const cell = h("div", { class: "cell-actions" },
    h("a", { class: "btn btn-sm", href: `#/admin/usuario/${encodeURIComponent(user.id)}`, "aria-label": `Ver conversaciones de ${user.full_name}` }, icon("eye"), "Ver"));
  const actions = h("td", {}, cell);
  if (isAdmin && user.id !== signedInUser().id) {
    const manage = h("button", { type: "button", class: "btn btn-sm", "data-action": "manage", "aria-label": `Gestionar la cuenta de ${user.full_name}`, text: "Gestionar" });
    manage.addEventListener("click", async () => {
      const action = await manageDialog(user);
      if (action && (await adminAction(user, action))) reload();
    });
    cell.appendChild(manage);
  }
  return h("tr", { dataset: { userId: user.id } },
    h("td", { class: "wrap", text: user.full_name }),
    h("td", { text: user.email }),
    h("td", { text: ROLE_LABELS[user.role] || user.role }),
    h("td", {}, h("span", { class: `pill ${user.is_active ? "pill-ok" : "pill-off"}`, text: user.is_active ? "Activo" : "Inactivo" })),
    h("td", { text: user.totp_enabled ? "Sí" : "No" }),
    h("td", { title: formatDate(user.last_active_at), text: timeAgo(user.last_active_at) }),
    h("td", { text: String(user.conversation_count ?? 0) }),
    h("td", { text: String(user.message_count ?? 0) }),
    actions,
  );
}

/**
 * Admin-only account actions; resolves with the action chosen (then confirmed) or null.
 * @param {AdminUser} user
 */
function manageDialog(user) {
  return openDialog("Gestionar cuenta", (/** @type {(action: string | null) => void} */ close) => {
    const role = h("select", { class: "input", id: "manage-role" },
      Object.entries(ROLE_LABELS).map(([v, l]) => h("option", { value: v, text: l, selected: v === user.role })));
    const saveRole = h("button", { type: "button", class: "btn btn-primary", text: "Cambiar rol" });
    saveRole.addEventListener("click", () => close(role.value === user.role ? null : `role:${role.value}`));
    return h("div", {},
      h("p", {}, h("strong", { text: user.full_name }), h("br"), h("span", { class: "muted", text: user.email })),
      h("div", { class: "field" }, h("label", { for: "manage-role", text: "Rol" }), h("div", { class: "inline-form" }, role, saveRole)),
      h("div", { class: "dialog-actions" },
        user.totp_enabled ? h("button", { type: "button", class: "btn", "data-action": "reset2fa", onclick: () => close("reset2fa"), text: "Restablecer 2FA" }) : null,
        h("button", { type: "button", class: `btn ${user.is_active ? "btn-danger" : ""}`, "data-action": user.is_active ? "deactivate" : "activate", onclick: () => close(user.is_active ? "deactivate" : "activate"), text: user.is_active ? "Desactivar cuenta" : "Activar cuenta" }),
        h("button", { type: "button", class: "btn", onclick: () => close(null), text: "Cerrar" }),
      ),
    );
  });
}

/**
 * Confirm and apply an action of manageDialog(); resolves whether something changed.
 * @param {AdminUser} user
 * @param {string} action "role:<role>", "deactivate", "activate" or "reset2fa"
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
    h("div", { class: "table-wrap" }, h("table", { class: "data", id: "user-conversations" },
      h("thead", {}, h("tr", {}, ["Título", "Mensajes", "Actualizada", "Acciones"].map((t) => h("th", { scope: "col", text: t })))),
      tbody)),
  );
  const load = async (/** @type {string | null} */ cursor) => {
    try {
      /** @type {Page<AdminConversation>} */
      const page = await api(`/admin/conversations${qs({ user_id: userId, limit: PAGE, cursor })}`);
      clear(status);
      clear(tbody);
      if (!page.items.length) tbody.appendChild(h("tr", {}, h("td", { colspan: 4, class: "muted", text: "Este usuario no tiene conversaciones." })));
      for (const conv of page.items) {
        convTitles.set(conv.id, conv.title);
        const reassign = h("button", { type: "button", class: "btn btn-sm", "data-action": "reassign", text: "Reasignar" });
        reassign.addEventListener("click", async () => {
          if (await reassignDialog(conv)) pg.reset();
        });
        tbody.appendChild(h("tr", { dataset: { convId: conv.id } },
          h("td", { class: "wrap", text: conv.title || "Sin título" }),
          h("td", { text: String(conv.message_count ?? "") }),
          h("td", { title: formatDate(conv.updated_at), text: timeAgo(conv.updated_at) }),
          h("td", {}, h("div", { class: "cell-actions" }, h("a", { class: "btn btn-sm", href: `#/admin/conversacion/${encodeURIComponent(conv.id)}` }, icon("eye"), "Ver mensajes"), reassign)),
        ));
      }
      return page.next_cursor;
    } catch (err) {
      status.replaceChildren(errorBox(err));
      return null;
    }
  };
  const pg = pager(load);
  body.appendChild(pg.el);
  pg.reset();
}

/**
 * @param {AdminConversation} conv
 * @returns {Promise<boolean>} whether it was reassigned
 */
async function reassignDialog(conv) {
  /** @type {AdminUser[]} */
  const users = [];
  try {
    /** @type {string | null} */
    let cursor = null;
    for (let i = 0; i < 10; i += 1) {
      /** @type {Page<AdminUser>} */
      const page = await api(`/admin/users${qs({ limit: 200, cursor })}`);
      users.push(...page.items.filter((u) => u.is_active && u.id !== conv.user_id));
      cursor = page.next_cursor;
      if (!cursor) break;
    }
  } catch (err) {
    toast(errorDetail(err, "No se pudo cargar la lista de usuarios."), "error");
    return false;
  }
  const result = await openDialog("Reasignar conversación", (/** @type {(conv: AdminConversation | null) => void} */ close) => {
    const select = h("select", { class: "input", id: "reassign-user", required: true },
      h("option", { value: "", text: "Elija un usuario…" }),
      users.map((u) => h("option", { value: u.id, text: `${u.full_name} (${u.email})` })));
    const error = h("div", { class: "alert alert-error", role: "alert", hidden: true });
    const form = h("form", { method: "dialog" },
      h("p", {}, "Conversación: ", h("strong", { text: conv.title || "Sin título" })),
      error,
      h("div", { class: "field" }, h("label", { for: "reassign-user", text: "Nuevo dueño" }), select,
        h("span", { class: "hint", text: "Solo aparecen los usuarios activos a los que usted puede reasignar." })),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn", onclick: () => close(null), text: "Cancelar" }),
        h("button", { type: "submit", class: "btn btn-primary", text: "Reasignar" })),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!select.value) {
        error.textContent = "Elija un usuario.";
        error.hidden = false;
        return;
      }
      try {
        close(await api(`/admin/conversations/${encodeURIComponent(conv.id)}/reassign`, { method: "POST", body: { user_id: select.value } }));
      } catch (err) {
        error.textContent = errorDetail(err);
        error.hidden = false;
      }
    });
    return form;
  });
  if (result) toast("Conversación reasignada.");
  return Boolean(result);
}

/**
 * @param {HTMLElement} body
 * @param {string} convId
 */
async function conversationViewer(body, convId) {
  const viewer = h("div", { class: "viewer", id: "admin-viewer", "aria-label": "Mensajes (solo lectura)" });
  body.append(
    h("p", {}, h("button", { type: "button", class: "btn btn-sm", onclick: () => history.back(), text: "← Volver" })),
    h("h2", { text: convTitles.get(convId) || "Conversación" }),
    h("p", { class: "hint", text: "Vista de solo lectura. Su acceso queda registrado en la auditoría." }),
    viewer,
  );
  try {
    /** @type {string | null} */
    let cursor = null;
    let count = 0;
    for (let i = 0; i < 20; i += 1) {
      /** @type {Page<AdminMessage>} */
      const page = await api(`/admin/conversations/${encodeURIComponent(convId)}/messages${qs({ limit: 200, cursor })}`);
      for (const m of page.items) {
        count += 1;
        const md = h("div", { class: m.role === "user" ? "bubble" : "md" });
        if (m.role === "user") md.textContent = m.content;
        else renderMarkdown(md, m.content);
        viewer.appendChild(h("div", { class: `msg msg-${m.role === "user" ? "user" : "assistant"}` },
          m.role === "user" ? null : h("img", { class: "bot-avatar", src: "/static/logo.svg", alt: "" }),
          h("div", { class: m.role === "user" ? "" : "body" }, md, h("div", { class: "msg-meta", text: formatDate(m.created_at) }))));
      }
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    if (!count) viewer.appendChild(h("p", { class: "muted", text: "La conversación no tiene mensajes." }));
  } catch (err) {
    viewer.replaceChildren(errorBox(err));
  }
}

/**
 * @param {HTMLElement} body
 * @returns {() => void} removes the chart
 */
function usage(body) {
  const chart = h("div", { class: "chart", id: "usage-chart", role: "img", "aria-label": "Tokens por día, últimos 30 días" });
  const summary = h("p", { class: "muted" });
  const perUser = h("tbody");
  body.append(
    h("section", { class: "card" }, h("h2", { text: "Tokens por día (últimos 30 días)" }), summary, chart),
    h("section", { class: "card" }, h("h2", { text: "Usuarios con más uso (30 días)" }),
      h("div", { class: "table-wrap" }, h("table", { class: "data", id: "usage-users" },
        h("thead", {}, h("tr", {}, ["Usuario", "Correo", "Mensajes", "Tokens de entrada", "Tokens generados"].map((t) => h("th", { scope: "col", text: t })))),
        perUser))),
  );
  let destroyChart = () => {};
  const to = new Date();
  const from = new Date(to.getTime() - 29 * 86400000);
  const day = (/** @type {Date} */ d) => d.toISOString().slice(0, 10);
  api(`/admin/usage${qs({ from: day(from), to: day(to), group_by: "day" })}`).then((data) => {
    /** @type {UsageItem[]} */
    const rows = Array.isArray(data) ? data : data.items || [];
    const total = rows.reduce((sum, r) => sum + (r.prompt_tokens || 0) + (r.completion_tokens || 0), 0);
    summary.textContent = `${total.toLocaleString("es-CL")} tokens en el período.`;
    destroyChart = drawUsageChart(chart, rows, from, 30);
  }).catch((err) => chart.replaceChildren(errorBox(err)));
  const fmt = new Intl.NumberFormat("es-CL");
  api(`/admin/usage${qs({ from: day(from), to: day(to), group_by: "user", limit: 20 })}`).then((data) => {
    /** @type {UsageItem[]} */
    const items = data.items || [];
    const rows = items.slice().sort((a, b) => (b.prompt_tokens + b.completion_tokens) - (a.prompt_tokens + a.completion_tokens));
    if (!rows.length) perUser.appendChild(h("tr", {}, h("td", { colspan: 5, class: "muted", text: "Sin uso en el período." })));
    for (const r of rows) {
      perUser.appendChild(h("tr", {},
        h("td", { class: "wrap", text: r.full_name || "—" }), h("td", { text: r.email || "—" }),
        h("td", { text: fmt.format(r.messages || 0) }), h("td", { text: fmt.format(r.prompt_tokens || 0) }), h("td", { text: fmt.format(r.completion_tokens || 0) })));
    }
  }).catch((err) => perUser.appendChild(h("tr", {}, h("td", { colspan: 5 }, errorBox(err)))));
  return () => destroyChart();
}

/** @param {HTMLElement} body */
function audit(body) {
  const action = h("input", { class: "input", id: "audit-action", placeholder: "Filtrar por acción (p. ej. login)", "aria-label": "Filtrar por acción" });
  const tbody = h("tbody");
  const status = h("div");
  const load = async (/** @type {string | null} */ cursor) => {
    try {
      /** @type {Page<AuditEvent>} */
      const page = await api(`/admin/audit${qs({ limit: PAGE, cursor, action: action.value.trim() })}`);
      clear(status);
      clear(tbody);
      if (!page.items.length) tbody.appendChild(h("tr", {}, h("td", { colspan: 5, class: "muted", text: "Sin registros." })));
      for (const e of page.items) {
        tbody.appendChild(h("tr", {},
          h("td", { title: formatDate(e.created_at), text: timeAgo(e.created_at) }),
          h("td", { text: e.actor_email || e.actor_id || "—" }),
          h("td", { text: e.action }),
          h("td", { class: "wrap", text: [e.target_type, e.target_id].filter(Boolean).join(" ") || "—" }),
          h("td", { text: e.ip || "—" }),
        ));
      }
      return page.next_cursor;
    } catch (err) {
      status.replaceChildren(errorBox(err));
      return null;
    }
  };
  const pg = pager(load);
  /** @type {number | undefined} */
  let timer;
  action.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => pg.reset(), 300); });
  body.append(h("div", { class: "toolbar" }, action), status,
    h("div", { class: "table-wrap" }, h("table", { class: "data", id: "audit-table" },
      h("thead", {}, h("tr", {}, ["Cuándo", "Quién", "Acción", "Objeto", "IP"].map((t) => h("th", { scope: "col", text: t })))),
      tbody)), pg.el);
  pg.reset();
}
