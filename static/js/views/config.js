// @ts-check
// Configuración: profile, theme, custom instructions, password change, 2FA, API keys, download of all
// conversations, shared links, close all sessions.
import { api, errorDetail, forgetTokens } from "../api.js";
import { h, icon, toast, formatDate, ROLE_LABELS, confirmDialog, clear } from "../dom.js";
import { state, emailDomain, signedInUser } from "../state.js";
import { setTheme, themeChoice } from "../theme.js";
import { navigate } from "../router.js";
import { exportCard } from "./export_card.js";
import { sharedLinksCard } from "./share.js";
import { apiKeysCard } from "./api_keys.js";
import { instructionsCard } from "./instructions.js";
import { promptsCard } from "./prompts.js";
import { readyNoticesCard } from "./notify_card.js";
import { usageCard } from "./usage_card.js";
import { forgetReadyNotices } from "../notify.js";
import { forgetStreamingAnswer } from "./chat/stream.js";
/** @import { User } from "../state.js" */
/** @import { ThemeChoice } from "../theme.js" */

/**
 * @param {HTMLElement} main
 * @returns {() => void} what to undo when the screen is left
 */
export function renderConfig(main) {
  const inner = h("div", { class: "page-inner" }, h("h1", { text: "Configuración" }));
  main.appendChild(h("div", { class: "page" }, inner));
  const user = signedInUser();
  inner.appendChild(h("div", { class: "grid-2" }, profileCard(user), themeCard()));
  inner.appendChild(usageCard());
  inner.appendChild(readyNoticesCard(user.id));
  inner.appendChild(instructionsCard());
  inner.appendChild(promptsCard());
  inner.appendChild(passwordCard(user));
  inner.appendChild(twoFactorCard(user));
  inner.appendChild(exportCard());
  inner.appendChild(sharedLinksCard());
  inner.appendChild(apiKeysCard());
  inner.appendChild(sessionsCard());
  api("/auth/me").then((fresh) => {
    state.user = fresh;
  }).catch(() => {});
  return () => {};
}

/** @param {User} user */
function profileCard(user) {
  const nameValue = h("span", { text: user.full_name });
  const edit = h("button", { type: "button", class: "btn btn-ghost btn-sm", "aria-label": "Editar nombre" }, icon("edit"), "Editar");
  const nameCell = h("dd", { class: "name-cell" }, nameValue, edit);
  edit.addEventListener("click", () => {
    const input = h("input", { class: "input", id: "profile-name", value: signedInUser().full_name, maxlength: 200, "aria-label": "Nombre completo" });
    const save = h("button", { type: "submit", class: "btn btn-primary btn-sm", text: "Guardar" });
    const cancel = h("button", { type: "button", class: "btn btn-sm", text: "Cancelar" });
    const form = h("form", { class: "inline-form" }, input, save, cancel);
    // Back to "Editar": the field and its buttons are gone, the focus must not fall to <body>.
    const restore = () => {
      nameCell.replaceChildren(nameValue, edit);
      edit.focus();
    };
    cancel.addEventListener("click", restore);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") restore();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) return toast("El nombre no puede quedar vacío.", "error");
      try {
        /** @type {User} */
        const updated = await api("/auth/me", { method: "PATCH", body: { full_name: value } });
        // Signed out while the name was on its way: nobody is left to update.
        if (!state.user) return;
        state.user = { ...state.user, ...updated };
        nameValue.textContent = updated.full_name;
        for (const selector of [".profile-name", ".menu-head strong"]) {
          const label = document.querySelector(selector);
          if (label) label.textContent = updated.full_name;
        }
        toast("Nombre actualizado.");
        restore();
      } catch (err) {
        toast(errorDetail(err, "No se pudo guardar el nombre."), "error");
      }
    });
    nameCell.replaceChildren(form);
    input.focus();
  });
  return h("section", { class: "card", "aria-labelledby": "profile-h" },
    h("h2", { id: "profile-h", text: "Perfil" }),
    h("dl", { class: "kv" },
      h("dt", { text: "Nombre" }), nameCell,
      h("dt", { text: "Correo" }), h("dd", { text: user.email }),
      h("dt", { text: "Rol" }), h("dd", { text: ROLE_LABELS[user.role] || user.role }),
      h("dt", { text: "Verificación en dos pasos" }), h("dd", { id: "profile-2fa", text: twoFactorLabel(user.totp_enabled) }),
      h("dt", { text: "Cuenta creada" }), h("dd", { text: formatDate(user.created_at) }),
    ),
  );
}

/** @param {boolean} enabled */
function twoFactorLabel(enabled) {
  return enabled ? "Activada" : "Desactivada";
}

/**
 * 2FA turned on or off: the signed-in user and the profile card follow at once.
 * @param {boolean} enabled
 */
function setTwoFactor(enabled) {
  if (state.user) state.user.totp_enabled = enabled;  // nobody, if signed out meanwhile
  const cell = document.getElementById("profile-2fa");
  if (cell) cell.textContent = twoFactorLabel(enabled);
}

/** The Apariencia buttons on screen, if any, pressed as the choice is now. */
function showThemeChoice() {
  for (const b of document.querySelectorAll("[data-theme-choice]")) {
    b.setAttribute("aria-pressed", String(/** @type {HTMLElement} */ (b).dataset.themeChoice === themeChoice()));
  }
}
// A choice made in another tab: one listener for every visit of the screen (none kept per card).
window.addEventListener("energyapp:theme", showThemeChoice);

function themeCard() {
  /** @type {[ThemeChoice, string][]} */
  const choices = [["system", "Sistema"], ["light", "Claro"], ["dark", "Oscuro"]];
  const buttons = choices.map(([value, label]) => {
    const btn = h("button", { type: "button", class: "btn", "data-theme-choice": value, "aria-pressed": String(themeChoice() === value), text: label });
    btn.addEventListener("click", () => {
      setTheme(value);
      showThemeChoice();
    });
    return btn;
  });
  return h("section", { class: "card", "aria-labelledby": "theme-h" },
    h("h2", { id: "theme-h", text: "Apariencia" }),
    h("p", { class: "hint", text: "«Sistema» sigue el modo claro u oscuro de su equipo. El tema elegido se recuerda en este navegador." }),
    h("div", { class: "theme-choice", role: "group", "aria-label": "Tema" }, buttons),
  );
}

/**
 * A labelled input.
 * @param {string} id
 * @param {string} label
 * @param {Record<string, unknown>} [attrs] more attributes of the input, as for h()
 * @returns {[HTMLDivElement, HTMLInputElement]} the field's box and its input
 */
function field(id, label, attrs = {}) {
  const input = h("input", { class: "input", id, ...attrs });
  return [h("div", { class: "field" }, h("label", { for: id, text: label }), input), input];
}

/** @param {User} user */
function passwordCard(user) {
  const card = h("section", { class: "card", "aria-labelledby": "pass-h" }, h("h2", { id: "pass-h", text: "Cambiar contraseña" }));
  const allowed = user.can_change_password ?? state.config.password_change_domains.includes(emailDomain(user.email));
  if (!allowed) {
    card.appendChild(h("p", { class: "muted", id: "password-explained", text: `Las cuentas @${emailDomain(user.email)} no cambian su contraseña aquí: la administra el área de TI de la empresa. Solo las cuentas ${state.config.password_change_domains.map((d) => "@" + d).join(", ") || "autorizadas"} pueden cambiarla desde esta página.` }));
    return card;
  }
  const msg = h("div", { class: "alert", id: "password-msg", role: "status", hidden: true });
  const [f1, current] = field("pw-current", "Contraseña actual", { type: "password", autocomplete: "current-password" });
  const [f2, next] = field("pw-new", "Nueva contraseña", { type: "password", autocomplete: "new-password", minlength: 8, maxlength: 128 });
  const [f3, repeat] = field("pw-repeat", "Repita la nueva contraseña", { type: "password", autocomplete: "new-password" });
  const form = h("form", { novalidate: true }, msg, f1, f2, f3, h("button", { type: "submit", class: "btn btn-primary", text: "Cambiar contraseña" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const show = (/** @type {string} */ text, /** @type {boolean} */ ok) => {
      msg.textContent = text;
      msg.className = `alert ${ok ? "alert-info" : "alert-error"}`;
      msg.hidden = false;
    };
    if (next.value.length < 8) return show("La nueva contraseña debe tener al menos 8 caracteres.", false);
    if (next.value !== repeat.value) return show("Las contraseñas nuevas no coinciden.", false);
    try {
      await api("/auth/change-password", { method: "POST", body: { current_password: current.value, new_password: next.value } });
      form.reset();
      show("Contraseña cambiada. Las demás sesiones se cerraron.", true);
    } catch (err) {
      show(errorDetail(err), false);
    }
  });
  card.appendChild(form);
  return card;
}

/** @param {User} user */
function twoFactorCard(user) {
  const card = h("section", { class: "card", "aria-labelledby": "tfa-h" }, h("h2", { id: "tfa-h", text: "Verificación en dos pasos (2FA)" }));
  const body = h("div");
  card.appendChild(body);
  const allowed = user.can_setup_2fa ?? state.config.self_service_2fa_domains.includes(emailDomain(user.email));
  if (!allowed) {
    body.appendChild(h("p", { class: "muted", text: `La verificación en dos pasos por cuenta propia está disponible solo para cuentas ${state.config.self_service_2fa_domains.map((d) => "@" + d).join(", ") || "autorizadas"}. Si la necesita, solicítela al administrador.` }));
    return card;
  }
  if (user.totp_enabled) showEnabled(body, false);
  else showSetupStart(body, false);
  return card;
}

/**
 * Each step of 2FA replaces the one before, with the control that had the focus: the next
 * step takes it (its first field, or its explanation).
 * @param {HTMLElement} body
 * @param {boolean} focus the step follows one the person took here
 */
function showEnabled(body, focus) {
  clear(body);
  const msg = h("div", { class: "alert alert-error", role: "alert", hidden: true });
  const [f1, password] = field("tfa-off-pass", "Contraseña", { type: "password", autocomplete: "current-password" });
  const [f2, code] = field("tfa-off-code", "Código actual", { inputmode: "numeric", autocomplete: "one-time-code", maxlength: 32 });
  const form = h("form", { novalidate: true }, msg, f1, f2, h("button", { type: "submit", class: "btn btn-danger", text: "Desactivar 2FA" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/auth/disable-2fa", { method: "POST", body: { password: password.value, code: code.value.trim() } });
      setTwoFactor(false);
      toast("Verificación en dos pasos desactivada.");
      showSetupStart(body, true);
    } catch (err) {
      msg.textContent = errorDetail(err);
      msg.hidden = false;
    }
  });
  const intro = h("p", { tabindex: "-1", text: "La verificación en dos pasos está activada: al iniciar sesión se le pedirá un código de su aplicación autenticadora." });
  body.append(intro, form);
  if (focus) intro.focus();
}

/**
 * @param {HTMLElement} body
 * @param {boolean} focus as for showEnabled()
 */
function showSetupStart(body, focus) {
  clear(body);
  const msg = h("div", { class: "alert alert-error", role: "alert", hidden: true });
  const [f1, password] = field("tfa-pass", "Confirme su contraseña", { type: "password", autocomplete: "current-password" });
  const form = h("form", { novalidate: true }, msg, f1, h("button", { type: "submit", class: "btn btn-primary", text: "Configurar 2FA" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const data = await api("/auth/setup-2fa", { method: "POST", body: { password: password.value } });
      showSetupConfirm(body, data);
    } catch (err) {
      msg.textContent = errorDetail(err);
      msg.hidden = false;
    }
  });
  const intro = h("p", { tabindex: "-1", text: "Proteja su cuenta con un código de 6 dígitos de una aplicación autenticadora (Google Authenticator, Microsoft Authenticator, Aegis…)." });
  body.append(intro, form);
  if (focus) intro.focus();
}

/**
 * @param {HTMLElement} body
 * @param {{ secret: string, qr_svg: string }} data the answer of /auth/setup-2fa
 */
function showSetupConfirm(body, data) {
  clear(body);
  const msg = h("div", { class: "alert alert-error", role: "alert", hidden: true });
  // The QR is an SVG produced by the server; shown as an <img> data URL so no markup is injected.
  const qr = h("div", { class: "qr" }, h("img", { src: qrSource(data.qr_svg), alt: "Código QR para la aplicación autenticadora" }));
  // The field takes the focus: it points to the key to type when the QR cannot be scanned.
  const [f1, code] = field("tfa-code", "Código de 6 dígitos", { inputmode: "numeric", autocomplete: "one-time-code", maxlength: 6, class: "input code-input", "aria-describedby": "totp-key" });
  const form = h("form", { novalidate: true }, msg, f1, h("button", { type: "submit", class: "btn btn-primary", text: "Activar" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const result = await api("/auth/setup-2fa/confirm", { method: "POST", body: { code: code.value.trim() } });
      setTwoFactor(true);
      showRecoveryCodes(body, result.recovery_codes || []);
    } catch (err) {
      msg.textContent = errorDetail(err);
      msg.hidden = false;
    }
  });
  body.append(
    h("ol", {},
      h("li", { text: "Escanee este código QR con su aplicación autenticadora." }),
      h("li", { text: "Escriba el código de 6 dígitos que muestra la aplicación." }),
    ),
    qr,
    h("p", { class: "hint", id: "totp-key" }, "¿No puede escanear? Ingrese esta clave: ", h("span", { class: "secret", id: "totp-secret", text: data.secret })),
    form,
  );
  code.focus();
}

/**
 * @param {HTMLElement} body
 * @param {string[]} codes
 */
function showRecoveryCodes(body, codes) {
  clear(body);
  const text = codes.join("\n");
  const copy = h("button", { type: "button", class: "btn" }, icon("copy"), "Copiar códigos");
  copy.addEventListener("click", () => navigator.clipboard.writeText(text).then(() => toast("Códigos copiados.")).catch(() => toast("No se pudo copiar.", "error")));
  const done = h("button", { type: "button", class: "btn btn-primary", text: "Ya los guardé" });
  done.addEventListener("click", () => showEnabled(body, true));
  body.append(
    h("div", { class: "alert alert-warn", role: "alert", text: "2FA activada. Guarde estos códigos de recuperación en un lugar seguro: cada uno sirve una sola vez y no se volverán a mostrar." }),
    h("ul", { class: "codes", id: "recovery-codes" }, codes.map((c) => h("li", { text: c }))),
    h("div", { class: "toolbar" }, copy, done),
  );
  copy.focus();
}

function sessionsCard() {
  const btn = h("button", { type: "button", class: "btn btn-danger", id: "logout-all" }, icon("logout"), "Cerrar todas las sesiones");
  btn.addEventListener("click", async () => {
    const ok = await confirmDialog("Cerrar todas las sesiones", "Se cerrará la sesión en todos sus dispositivos, incluido este.", "Cerrar todas", true);
    if (!ok) return;
    try {
      await api("/auth/logout-all", { method: "POST" });
    } catch (err) {
      toast(errorDetail(err, "No se pudieron cerrar las sesiones."), "error");
      return;
    }
    forgetTokens();
    // As "Cerrar sesión" (app.js): whoever signs in next here starts on a new chat.
    forgetStreamingAnswer();
    forgetReadyNotices();
    state.user = null;
    navigate("#/login");
  });
  return h("section", { class: "card", "aria-labelledby": "sess-h" },
    h("h2", { id: "sess-h", text: "Sesiones" }),
    h("p", { class: "hint", text: "¿Perdió un dispositivo o usó un computador compartido? Cierre la sesión en todas partes." }),
    btn,
  );
}

/** @param {string} svg */
export function qrSource(svg) {
  const text = String(svg || "");
  return text.startsWith("data:image/") ? text : `data:image/svg+xml;charset=utf-8,${encodeURIComponent(text)}`;
}
