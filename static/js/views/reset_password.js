// @ts-check
// The page of a one-time password-reset link (#/restablecer/<token>) an administrator handed
// over: says whose account it is, takes the new password twice, then goes to the login.
import { api, ApiError, logout } from "../api.js";
import { h } from "../dom.js";
import { navigate } from "../router.js";
import { state } from "../state.js";
import { forgetStreamingAnswer } from "./chat/stream.js";
import { authCard, setBusy, showError, setLoginNotice } from "./login.js";

/** @type {string | null} the link's token, kept here once it is out of the address bar */
let heldToken = null;

/** @param {unknown} err */
function linkMessage(err) {
  return err instanceof ApiError ? err.detail : "No se pudo revisar el enlace. Intente de nuevo.";
}

/**
 * @param {string | undefined} token what follows #/restablecer/ (absent once it was removed)
 * @returns {HTMLElement}
 */
export function renderResetPassword(token) {
  if (token) {
    heldToken = token;
    // Out of the address bar (and its history entry) as soon as it is read.
    history.replaceState(null, "", "#/restablecer");
  }
  const error = h("div", { class: "alert alert-error", role: "alert", hidden: true });
  const who = h("p", { class: "hint", id: "reset-account", text: "Revisando el enlace…" });
  const password = h("input", { class: "input", id: "reset-password", name: "new_password", type: "password", autocomplete: "new-password", required: true, minlength: 8, maxlength: 128, "aria-describedby": "reset-pass-hint" });
  const again = h("input", { class: "input", id: "reset-password-again", name: "new_password_again", type: "password", autocomplete: "new-password", required: true });
  const fields = h("div", { hidden: true },
    h("div", { class: "field" }, h("label", { for: "reset-password", text: "Nueva contraseña" }), password,
      h("span", { class: "hint", id: "reset-pass-hint", text: "Entre 8 y 128 caracteres; evite contraseñas comunes." })),
    h("div", { class: "field" }, h("label", { for: "reset-password-again", text: "Repita la nueva contraseña" }), again),
    h("button", { type: "submit", class: "btn btn-primary btn-block", text: "Guardar contraseña" }),
  );
  const form = h("form", { novalidate: true },
    h("h2", { text: "Restablecer contraseña" }),
    who, error, fields,
    h("p", { class: "auth-foot" }, h("a", { href: "#/login", text: "Ir a iniciar sesión" })),
  );
  const wrap = authCard(form);
  const held = heldToken;
  if (!held) {
    who.hidden = true;
    showError(error, "Abra de nuevo el enlace que le entregó el administrador.");
    return wrap;
  }
  api("/auth/password-reset/check", { method: "POST", auth: false, body: { token: held } })
    .then((/** @type {{ email: string, full_name: string }} */ account) => {
      who.textContent = `Nueva contraseña para ${account.full_name} (${account.email}).`;
      fields.hidden = false;
      password.focus();
    })
    .catch((err) => {
      who.hidden = true;
      showError(error, linkMessage(err));
    });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, "");
    if (!password.value) return showError(error, "Ingrese la nueva contraseña.");
    if (password.value !== again.value) return showError(error, "Las dos contraseñas no coinciden.");
    setBusy(form, true);
    try {
      await api("/auth/password-reset", { method: "POST", auth: false, body: { token: held, new_password: password.value } });
      heldToken = null;
      if (state.user) {
        // Whoever is signed in here (the person, whose sessions just ended, or someone else)
        // leaves: the next step is signing in with the new password.
        await logout().catch(() => {});
        state.user = null;
        forgetStreamingAnswer();
      }
      setLoginNotice("Su contraseña fue restablecida. Inicie sesión con la nueva.");
      navigate("#/login");
    } catch (err) {
      showError(error, linkMessage(err));
      setBusy(form, false);
      password.focus();
    } finally {
      setBusy(form, false);
    }
  });
  return wrap;
}
