// @ts-check
// The page of an address-verification link (#/verificar/<token>) emailed at registration:
// spends the link, then sends to the login with a notice (or says what went wrong).
import { api, ApiError } from "../api.js";
import { h } from "../dom.js";
import { navigate } from "../router.js";
import { state } from "../state.js";
import { authCard, showError, setLoginNotice } from "./login.js";

/** @type {string | null} the link's token, kept here once it is out of the address bar */
let heldToken = null;

/**
 * @param {string | undefined} token what follows #/verificar/ (absent once it was removed)
 * @returns {HTMLElement}
 */
export function renderVerifyEmail(token) {
  if (token) {
    heldToken = token;
    // Out of the address bar (and its history entry) as soon as it is read.
    history.replaceState(null, "", "#/verificar");
  }
  const error = h("div", { class: "alert alert-error", role: "alert", hidden: true });
  const status = h("p", { class: "hint", id: "verify-status", role: "status", text: "Confirmando su correo…" });
  const wrap = authCard(h("div", {},
    h("h2", { text: "Confirmar correo" }),
    status, error,
    h("p", { class: "auth-foot" }, h("a", { href: "#/login", text: "Ir a iniciar sesión" })),
  ));
  const held = heldToken;
  if (!held) {
    status.hidden = true;
    showError(error, "Abra de nuevo el enlace del correo que le enviamos.");
    return wrap;
  }
  api("/auth/verify-email", { method: "POST", auth: false, body: { token: held } })
    .then(() => {
      heldToken = null;
      if (state.user) {
        status.textContent = "Su correo fue confirmado.";
        return;
      }
      setLoginNotice("Su correo fue confirmado. Ya puede iniciar sesión.");
      navigate("#/login");
    })
    .catch((err) => {
      status.hidden = true;
      showError(error, err instanceof ApiError ? err.detail : "No se pudo confirmar el correo. Intente de nuevo.");
    });
  return wrap;
}
