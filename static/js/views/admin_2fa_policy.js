// @ts-check
// Admin panel: which roles must use 2FA (GET/PUT /admin/two-factor/roles). A required user who
// has not set it up is led through the setup at the next login.
import { api, errorDetail } from "../api.js";
import { h, toast, ROLE_LABELS } from "../dom.js";
/** @import { Role } from "../state.js" */

/** @typedef {{ role: Role, require_2fa: boolean }} RolePolicy */

export function twoFactorPolicyCard() {
  const list = h("div", { class: "toolbar", id: "role-2fa" });
  const card = h("section", { class: "card", "aria-labelledby": "role-2fa-h" },
    h("h2", { id: "role-2fa-h", text: "Verificación en dos pasos obligatoria" }),
    h("p", { class: "hint", text: "Las personas con estos roles deberán configurarla al iniciar sesión, sea cual sea el dominio de su correo." }),
    list,
  );
  api("/admin/two-factor/roles").then((/** @type {RolePolicy[]} */ policies) => {
    for (const policy of policies) list.appendChild(roleToggle(policy));
  }).catch((err) => list.replaceChildren(h("div", { class: "alert alert-error", role: "alert", text: errorDetail(err, "No se pudo cargar la política.") })));
  return card;
}

/** @param {RolePolicy} policy */
function roleToggle(policy) {
  const id = `require-2fa-${policy.role}`;
  const box = h("input", { type: "checkbox", id, checked: policy.require_2fa, dataset: { role: policy.role } });
  box.addEventListener("change", async () => {
    const wanted = box.checked;
    box.disabled = true;
    try {
      await api(`/admin/two-factor/roles/${encodeURIComponent(policy.role)}`, { method: "PUT", body: { require_2fa: wanted } });
      toast(wanted ? `2FA obligatoria para ${ROLE_LABELS[policy.role]}.` : `2FA ya no es obligatoria para ${ROLE_LABELS[policy.role]}.`);
    } catch (err) {
      box.checked = !wanted;
      toast(errorDetail(err, "No se pudo guardar el cambio."), "error");
    } finally {
      box.disabled = false;
    }
  });
  return h("label", { class: "check", for: id }, box, ` ${ROLE_LABELS[policy.role]}`);
}
