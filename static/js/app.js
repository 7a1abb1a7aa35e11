// @ts-check
// Entry point: loads the public config, restores the session, draws the screen for each address.
// Views navigate through router.js; nothing imports this module.
import { api, hasStoredSession, refresh, setSessionLostHandler, logout, onSessionGoneElsewhere } from "./api.js";
import { h, icon, initials, ROLE_LABELS, clear } from "./dom.js";
import { state, isStaff, signedInUser } from "./state.js";
import { navigate, loginFirst, startRouter } from "./router.js";
import { menuKeys, menuItem } from "./menu.js";
import { setPageTitle } from "./page_title.js";
import { forgetReadyNotices } from "./notify.js";
import { renderLogin, renderRegister, setLoginNotice } from "./views/login.js";
import { renderResetPassword } from "./views/reset_password.js";
import { renderVerifyEmail } from "./views/verify_email.js";
import { renderChat } from "./views/chat.js";
import { forgetStreamingAnswer } from "./views/chat/stream.js";
import { renderConfig } from "./views/config.js";
import { renderAdmin } from "./views/admin.js";
import { renderShared } from "./views/shared.js";
import { announcementBand, stopAnnouncements } from "./views/announcements.js";

const root = /** @type {HTMLElement} */ (document.getElementById("app"));
/** @type {(() => void) | null} what the current screen undoes when it is left */
let teardown = null;

async function signOut() {
  await logout().catch(() => {});
  state.user = null;
  stopAnnouncements();
  // An answer left running is this person's: whoever signs in next here must not be sent to it,
  // nor see its notification (or click it).
  forgetStreamingAnswer();
  forgetReadyNotices();
  navigate("#/login");
}

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || "chat", params: parts.slice(1) };
}

/** @type {Record<string, string>} each screen's name in the window's title (the chat names its conversation) */
const SCREEN_TITLES = { login: "Iniciar sesión", registro: "Crear cuenta", restablecer: "Restablecer contraseña", verificar: "Confirmar correo", config: "Configuración", admin: "Administración", compartida: "Conversación compartida" };

async function route() {
  const { name, params } = parseHash();
  if (teardown) {
    teardown();
    teardown = null;
  }
  setPageTitle(SCREEN_TITLES[name] ? `${SCREEN_TITLES[name]} · EnergyApp` : "EnergyApp LLM");
  if (name === "restablecer") {
    // Open signed in or not: the link names its own account, which the page shows.
    clear(root);
    root.appendChild(renderResetPassword(params[0]));
    return;
  }
  if (name === "verificar") {
    clear(root);
    root.appendChild(renderVerifyEmail(params[0]));
    return;
  }
  if (name === "login" || name === "registro") {
    if (state.user) return navigate("#/chat");
    clear(root);
    root.appendChild(name === "login" ? renderLogin() : renderRegister());
    return;
  }
  if (!state.user) return loginFirst();
  if (name === "admin" && !isStaff()) return navigate("#/chat");
  const main = h("main", { id: "main", tabindex: "-1" });
  clear(root);
  root.appendChild(h("div", { class: "shell" }, header(name), announcementBand(), main));
  if (name === "config") teardown = renderConfig(main);
  else if (name === "admin") teardown = renderAdmin(main, params);
  else if (name === "compartida") teardown = renderShared(main, params[0]);
  else teardown = renderChat(main, params[0] || null);
  // The control that led here is gone with the last screen: the focus goes to the new one's
  // heading (the chat gives it to the message field), so a screen reader says where it is.
  const heading = name === "chat" ? null : main.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

/** @param {string} active the route name whose tab is marked current */
function header(active) {
  const tabs = [["chat", "Chat"], ["config", "Configuración"]];
  if (isStaff()) tabs.push(["admin", "Admin"]);
  const user = signedInUser();
  const menu = h("div", { class: "menu", role: "menu", hidden: true, id: "profile-menu", "aria-label": "Menú de perfil" },
    h("div", { class: "menu-head" },
      h("strong", { text: user.full_name }),
      h("span", { class: "muted small", text: user.email }),
      h("div", {}, h("span", { class: "role-badge", text: ROLE_LABELS[user.role] || user.role })),
    ),
  );
  const button = h("button", { type: "button", class: "profile-btn", "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": "profile-menu" },
    h("span", { class: "avatar", "aria-hidden": "true", text: initials(user.full_name) }),
    // Named by what it shows (the name), so a voice command with the visible text finds it.
    h("span", { class: "profile-name", text: user.full_name }),
    h("span", { class: "sr-only", text: ", menú de perfil" }),
    icon("chevron"),
  );
  const profile = h("div", { class: "profile" }, button, menu);
  const { close } = menuKeys(button, menu, profile);
  menu.append(
    menuItem(close, () => navigate("#/config"), {}, "Configuración"),
    menuItem(close, signOut, { "data-action": "logout" }, icon("logout"), "Cerrar sesión"),
  );
  return h("header", { class: "topbar" },
    h("a", { class: "brand", href: "#/chat", "aria-label": "EnergyApp, ir al chat" }, h("img", { src: "/static/logo.svg", alt: "" }), h("span", { text: "EnergyApp" })),
    h("nav", { class: "tabs", "aria-label": "Secciones" },
      tabs.map(([id, label]) => h("a", { class: "tab", href: `#/${id}`, "aria-current": id === active ? "page" : null, text: label })),
    ),
    profile,
  );
}

async function boot() {
  setSessionLostHandler((notice) => {
    forgetReadyNotices();
    stopAnnouncements();
    if (notice) setLoginNotice(notice);
    if (state.user) {
      state.user = null;
      navigate("#/login");
    }
  });
  onSessionGoneElsewhere(forgetReadyNotices);
  try {
    Object.assign(state.config, await api("/config/public", { auth: false }));
  } catch {
    /* keep defaults: the login screen still works without quick access */
  }
  // Unreachable server: the login screen, the stored session kept for the next reload.
  if (hasStoredSession() && (await refresh().catch(() => false))) {
    try {
      state.user = await api("/auth/me");
    } catch {
      state.user = null;
    }
  }
  await startRouter(route);
  document.documentElement.dataset.ready = "1";
}

boot();
