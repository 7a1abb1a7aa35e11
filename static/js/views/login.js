// @ts-check
// Login (with demo quick access and the 2FA step) and registration; the card, the busy state
// and the error box are shared with the password-reset page (reset_password.js).
import { api, storeTokens, ApiError } from "../api.js";
import { h } from "../dom.js";
import { plural } from "../plural.js";
import { state } from "../state.js";
import { navigate, afterLogin } from "../router.js";
import { requiredSetupStep } from "./required_2fa.js";
/** @import { Tokens } from "../api.js" */
/** @import { User } from "../state.js" */
/** @import { Child } from "../dom.js" */

/** @typedef {Tokens & { user: User }} SignedIn the answer of /auth/login, /auth/verify-2fa, /auth/required-2fa/confirm */

const DEMO = [
  ["Admin", "admin@example.com", "admin123"],
  ["Trabajador", "trabajador@example.com", "worker123"],
  ["Supervisor", "supervisor@example.com", "supervisor123"],
];

const LOGIN_NOTICE = "energyapp.login-notice";

/**
 * A message the next login screen shows once (the password-reset page's success).
 * @param {string} message
 */
export function setLoginNotice(message) {
  sessionStorage.setItem(LOGIN_NOTICE, message);
}

/** @param {...Child} children */
export function authCard(...children) {
  return h("div", { class: "auth-wrap" },
    h("main", { id: "main", class: "auth-card" },
      h("div", { class: "auth-brand" }, h("img", { src: "/static/logo.svg", alt: "" }), h("h1", { text: "EnergyApp" })),
      ...children,
    ),
  );
}

/** @param {unknown} err */
export function loginMessage(err) {
  if (!(err instanceof ApiError)) return "No se pudo iniciar sesión. Intente de nuevo.";
  if (err.code === "too_many_attempts" && err.retryAfter) {
    const minutes = Math.ceil(err.retryAfter / 60);
    return `${err.detail} Podrá intentarlo de nuevo en ${plural(minutes, "minuto", "minutos")}.`;
  }
  return err.detail;
}

/**
 * @param {HTMLFormElement} form
 * @param {boolean} busy
 */
export function setBusy(form, busy) {
  const controls = /** @type {NodeListOf<HTMLButtonElement | HTMLInputElement>} */ (form.querySelectorAll("button, input"));
  for (const el of controls) el.disabled = busy;
}

/**
 * @param {HTMLElement} box
 * @param {string} message hidden when empty
 */
export function showError(box, message) {
  box.textContent = message;
  box.hidden = !message;
}

/**
 * Keep the tokens and the user, then go where the login was asked for.
 * @param {SignedIn} data
 */
function signedIn(data) {
  storeTokens(data);
  state.user = data.user;
  afterLogin();
}

export function renderLogin() {
  const error = h("div", { class: "alert alert-error", role: "alert", hidden: true });
  const notice = sessionStorage.getItem(LOGIN_NOTICE);
  sessionStorage.removeItem(LOGIN_NOTICE);
  const email = h("input", { class: "input", id: "login-email", name: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { class: "input", id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const resend = resendLink(email);
  const form = h("form", { novalidate: true },
    h("h2", { text: "Iniciar sesión" }),
    notice ? h("div", { class: "alert alert-info", role: "status", id: "login-notice", text: notice }) : null,
    error, resend.box,
    h("div", { class: "field" }, h("label", { for: "login-email", text: "Correo" }), email),
    h("div", { class: "field" }, h("label", { for: "login-password", text: "Contraseña" }), password),
    h("button", { type: "submit", class: "btn btn-primary btn-block", text: "Entrar" }),
  );
  const wrap = authCard(form);

  async function submit() {
    showError(error, "");
    resend.box.hidden = true;
    if (!email.value.trim() || !password.value) {
      showError(error, "Ingrese su correo y su contraseña.");
      return;
    }
    setBusy(form, true);
    try {
      const data = await api("/auth/login", { method: "POST", auth: false, body: { email: email.value.trim(), password: password.value } });
      if (data.requires_2fa_setup) {
        const box = /** @type {Element} */ (wrap.querySelector(".auth-card"));
        box.replaceChildren(box.children[0], requiredSetupStep(data.setup_token, signedIn));
        return;
      }
      if (data.requires_2fa) {
        const box = /** @type {Element} */ (wrap.querySelector(".auth-card"));
        box.replaceChildren(...twoFactorStep(data.challenge_token).childNodes);
        /** @type {HTMLElement | null} */ (box.querySelector("#totp-code"))?.focus();
        return;
      }
      signedIn(data);
    } catch (err) {
      showError(error, loginMessage(err));
      if (err instanceof ApiError && err.code === "email_not_verified") resend.offer();
      setBusy(form, false); // a disabled field cannot take the focus
      password.focus();
      password.select();
    } finally {
      setBusy(form, false);
    }
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });

  if (state.config.demo_quick_access) {
    form.appendChild(h("div", { class: "quick" },
      h("p", { text: "Acceso rápido de demostración" }),
      h("div", { class: "quick-row" },
        DEMO.map(([label, mail, pass]) => h("button", {
          type: "button", class: "btn btn-sm", "data-quick": label.toLowerCase(),
          onclick: () => {
            email.value = mail;
            password.value = pass;
            submit();
          },
        }, label)),
      ),
    ));
  }
  // Its own form, after the login's (forms do not nest).
  form.after(forgotPassword(email));
  const domains = state.config.registration_domains.map((d) => `@${d}`).join(" o ");
  form.parentElement?.append(h("p", { class: "auth-foot" },
    "¿No tiene cuenta? ", h("a", { href: "#/registro", text: "Regístrese" }),
    domains ? h("span", { class: "muted small", text: ` (solo correos ${domains})` }) : null,
  ));
  queueMicrotask(() => email.focus());
  return wrap;
}

/**
 * "Reenviar enlace" under the login's error for an account whose address is not confirmed yet.
 * @param {HTMLInputElement} loginEmail the address the link is sent to
 */
function resendLink(loginEmail) {
  const sent = h("p", { class: "hint", role: "status", id: "resend-sent", hidden: true });
  const button = h("button", { type: "button", class: "btn btn-sm", "data-action": "resend-verification", text: "Reenviar enlace" });
  const box = h("div", { class: "field", hidden: true }, button, sent);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const data = await api("/auth/verify-email/resend", { method: "POST", auth: false, body: { email: loginEmail.value.trim() } });
      sent.textContent = data.detail;
    } catch (err) {
      sent.textContent = loginMessage(err);
    } finally {
      sent.hidden = false;
      button.disabled = false;
    }
  });
  return {
    box,
    offer() {
      sent.hidden = true;
      box.hidden = false;
    },
  };
}

/**
 * "¿Olvidó su contraseña?": with mail on, a field and "Enviar enlace" (the same answer whether
 * or not the address has an account); without it, an administrator hands over the link.
 * @param {HTMLInputElement} loginEmail its address, if typed, fills the field
 */
function forgotPassword(loginEmail) {
  const box = h("details", { class: "auth-forgot" }, h("summary", { text: "¿Olvidó su contraseña?" }));
  if (!state.config.mail_enabled) {
    box.append(h("p", { class: "hint", text: "Pida a un administrador un enlace para restablecerla. La aplicación no envía correos: el administrador le entregará el enlace personalmente." }));
    return box;
  }
  const error = h("div", { class: "alert alert-error", role: "alert", hidden: true });
  const sent = h("div", { class: "alert alert-info", role: "status", id: "forgot-sent", hidden: true });
  const address = h("input", { class: "input", id: "forgot-email", name: "email", type: "email", autocomplete: "username", required: true });
  const form = h("form", { novalidate: true },
    h("p", { class: "hint", text: "Ingrese el correo de su cuenta y le enviaremos un enlace para elegir una contraseña nueva." }),
    error, sent,
    h("div", { class: "field" }, h("label", { for: "forgot-email", text: "Correo" }), address),
    h("button", { type: "submit", class: "btn btn-block", text: "Enviar enlace" }),
  );
  box.append(form);
  box.addEventListener("toggle", () => {
    if (box.open && !address.value) address.value = loginEmail.value.trim();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, "");
    sent.hidden = true;
    if (!address.value.trim()) return showError(error, "Ingrese su correo.");
    setBusy(form, true);
    try {
      const data = await api("/auth/password-reset/request", { method: "POST", auth: false, body: { email: address.value.trim() } });
      sent.textContent = data.detail;
      sent.hidden = false;
    } catch (err) {
      showError(error, loginMessage(err));
    } finally {
      setBusy(form, false);
    }
  });
  return box;
}

/** @param {string} challenge the token that stands for the password already checked */
function twoFactorStep(challenge) {
  const error = h("div", { class: "alert alert-error", role: "alert", hidden: true });
  const code = h("input", { class: "input code-input", id: "totp-code", name: "code", inputmode: "text", autocomplete: "one-time-code", maxlength: 32, required: true, "aria-describedby": "totp-hint" });
  const back = h("a", { href: "#/login", "data-action": "back", text: "Volver" });
  const form = h("form", { novalidate: true },
    h("h2", { text: "Verificación en dos pasos" }),
    h("p", { class: "hint", id: "totp-hint", text: "Ingrese el código de 6 dígitos de su aplicación autenticadora, o uno de sus códigos de recuperación." }),
    error,
    h("div", { class: "field" }, h("label", { for: "totp-code", text: "Código" }), code),
    h("button", { type: "submit", class: "btn btn-primary btn-block", text: "Verificar" }),
    h("p", { class: "auth-foot" }, back),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, "");
    const value = code.value.replace(/\s+/g, "");
    if (!value) return showError(error, "Ingrese el código.");
    setBusy(form, true);
    try {
      const data = await api("/auth/verify-2fa", { method: "POST", auth: false, body: { challenge_token: challenge, code: value } });
      signedIn(data);
    } catch (err) {
      showError(error, loginMessage(err));
      setBusy(form, false); // a disabled field cannot take the focus
      code.focus();
      code.select();
    } finally {
      setBusy(form, false);
    }
  });
  back.addEventListener("click", (event) => {
    event.preventDefault();
    navigate("#/login");
  });
  return h("div", {}, h("div", { class: "auth-brand" }, h("img", { src: "/static/logo.svg", alt: "" }), h("h1", { text: "EnergyApp" })), form);
}

export function renderRegister() {
  const domains = state.config.registration_domains;
  const error = h("div", { class: "alert alert-error", role: "alert", hidden: true });
  const ok = h("div", { class: "alert alert-info", role: "status", id: "register-done", hidden: true });
  const name = h("input", { class: "input", id: "reg-name", name: "full_name", autocomplete: "name", required: true, maxlength: 200 });
  const email = h("input", { class: "input", id: "reg-email", name: "email", type: "email", autocomplete: "email", required: true, "aria-describedby": "reg-email-hint" });
  const password = h("input", { class: "input", id: "reg-password", name: "password", type: "password", autocomplete: "new-password", required: true, minlength: 8, maxlength: 128, "aria-describedby": "reg-pass-hint" });
  const form = h("form", { novalidate: true },
    h("h2", { text: "Crear cuenta" }),
    error, ok,
    h("div", { class: "field" }, h("label", { for: "reg-name", text: "Nombre completo" }), name),
    h("div", { class: "field" }, h("label", { for: "reg-email", text: "Correo institucional" }), email,
      h("span", { class: "hint", id: "reg-email-hint", text: domains.length ? `Solo se aceptan correos ${domains.map((d) => `@${d}`).join(" o ")}.` : "" })),
    h("div", { class: "field" }, h("label", { for: "reg-password", text: "Contraseña" }), password,
      h("span", { class: "hint", id: "reg-pass-hint", text: "Entre 8 y 128 caracteres; evite contraseñas comunes." })),
    h("button", { type: "submit", class: "btn btn-primary btn-block", text: "Crear cuenta" }),
    h("p", { class: "auth-foot" }, "¿Ya tiene cuenta? ", h("a", { href: "#/login", text: "Inicie sesión" })),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, "");
    ok.hidden = true;
    if (!name.value.trim() || !email.value.trim() || !password.value) return showError(error, "Complete todos los campos.");
    if (password.value.length < 8) return showError(error, "La contraseña debe tener al menos 8 caracteres.");
    setBusy(form, true);
    try {
      await api("/auth/register", { method: "POST", auth: false, body: { full_name: name.value.trim(), email: email.value.trim(), password: password.value } });
      if (state.config.mail_enabled) {
        // The account signs in once the emailed link proves the address.
        ok.textContent = `Cuenta creada. Le enviamos un correo a ${email.value.trim()} con un enlace para confirmar su dirección: ábralo para poder iniciar sesión (revise también la carpeta de spam).`;
        ok.hidden = false;
        password.value = "";
        return;
      }
      const data = await api("/auth/login", { method: "POST", auth: false, body: { email: email.value.trim(), password: password.value } });
      signedIn(data);
    } catch (err) {
      showError(error, loginMessage(err));
    } finally {
      setBusy(form, false);
    }
  });
  queueMicrotask(() => name.focus());
  return authCard(form);
}
