// @ts-check
// Login of a user an administrator requires 2FA of, not set up yet: QR and key, the first code,
// then the recovery codes; only then the session starts.
import { api, errorDetail } from "../api.js";
import { h, icon, toast } from "../dom.js";
import { qrSource } from "./config.js";

/**
 * @param {string} setupToken the login's setup challenge (stands for the password just checked)
 * @param {(data: any) => void} signedIn called with the tokens once the codes are saved
 * @returns {HTMLElement} the step's content for the login card
 */
export function requiredSetupStep(setupToken, signedIn) {
  const body = h("div", { id: "required-2fa" });
  const error = h("div", { class: "alert alert-error", role: "alert", hidden: true });
  body.append(
    h("h2", { text: "Configure la verificación en dos pasos" }),
    h("p", { class: "hint", text: "Un administrador exige la verificación en dos pasos para su cuenta. Configúrela ahora para entrar." }),
    error,
  );
  /** @param {unknown} err an API error, or the message itself */
  const fail = (err) => {
    error.textContent = typeof err === "string" ? err : errorDetail(err, "No se pudo configurar la verificación. Inicie sesión de nuevo.");
    error.hidden = false;
  };
  api("/auth/required-2fa/start", { method: "POST", auth: false, body: { setup_token: setupToken } })
    .then((data) => body.appendChild(confirmForm(setupToken, data, fail, (done) => showCodes(body, done, signedIn))))
    .catch(fail);
  return body;
}

/**
 * @param {string} setupToken
 * @param {{ secret: string, qr_svg: string }} data the answer of /auth/required-2fa/start
 * @param {(err: unknown) => void} fail
 * @param {(done: any) => void} confirmed
 */
function confirmForm(setupToken, data, fail, confirmed) {
  const code = h("input", { class: "input code-input", id: "setup-code", name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 6, required: true });
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", text: "Activar y entrar" });
  const form = h("form", { novalidate: true },
    h("ol", {},
      h("li", { text: "Escanee este código QR con su aplicación autenticadora (Google Authenticator, Microsoft Authenticator, Aegis…)." }),
      h("li", { text: "Escriba el código de 6 dígitos que muestra la aplicación." }),
    ),
    h("div", { class: "qr" }, h("img", { src: qrSource(data.qr_svg), alt: "Código QR para la aplicación autenticadora" })),
    h("p", { class: "hint" }, "¿No puede escanear? Ingrese esta clave: ", h("span", { class: "secret", id: "totp-secret", text: data.secret })),
    h("div", { class: "field" }, h("label", { for: "setup-code", text: "Código de 6 dígitos" }), code),
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = code.value.replace(/\s+/g, "");
    if (!value) return fail("Ingrese el código.");
    submit.disabled = true;
    try {
      confirmed(await api("/auth/required-2fa/confirm", { method: "POST", auth: false, body: { setup_token: setupToken, code: value } }));
    } catch (err) {
      fail(err);
      code.focus();
      code.select();
    } finally {
      submit.disabled = false;
    }
  });
  queueMicrotask(() => code.focus());
  return form;
}

/**
 * @param {HTMLElement} body
 * @param {any} done tokens, user and recovery codes
 * @param {(data: any) => void} signedIn
 */
function showCodes(body, done, signedIn) {
  /** @type {string[]} */
  const codes = done.recovery_codes || [];
  const copy = h("button", { type: "button", class: "btn" }, icon("copy"), "Copiar códigos");
  copy.addEventListener("click", () => navigator.clipboard.writeText(codes.join("\n")).then(() => toast("Códigos copiados.")).catch(() => toast("No se pudo copiar.", "error")));
  const next = h("button", { type: "button", class: "btn btn-primary", id: "codes-saved", text: "Ya los guardé, continuar" });
  next.addEventListener("click", () => signedIn(done));
  body.replaceChildren(
    h("h2", { text: "Verificación en dos pasos activada" }),
    h("div", { class: "alert alert-warn", role: "alert", text: "Guarde estos códigos de recuperación en un lugar seguro: cada uno sirve una sola vez, le permiten entrar si pierde el teléfono y no se volverán a mostrar." }),
    h("ul", { class: "codes", id: "recovery-codes" }, codes.map((c) => h("li", { text: c }))),
    h("div", { class: "toolbar" }, copy, next),
  );
  next.focus();
}
