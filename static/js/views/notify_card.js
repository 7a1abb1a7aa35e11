// @ts-check
// Configuración: "Avisos", the switch for a desktop notification when an answer ends while the
// tab is hidden (notify.js). The browser's permission is asked only when it is turned on; where
// the browser refuses or cannot, the switch stays off and says why.
import { h } from "../dom.js";
import { chooseReadyNotices, notificationPermission, notificationsSupported, readyNoticesChosen, readyNoticesOn } from "../notify.js";

const UNSUPPORTED = "Este navegador no puede mostrar avisos de escritorio en esta página.";
/** Why the switch stayed off, by the permission the browser gave. */
const REFUSED = /** @type {Record<NotificationPermission, string>} */ ({
  denied: "El navegador tiene bloqueados los avisos de este sitio. Permítalos en la configuración del sitio (el ícono junto a la dirección) y vuelva a activar esta opción.",
  default: "Los avisos quedaron desactivados: el navegador no recibió permiso para mostrarlos.",
  granted: "",
});

/** @param {string} userId the signed-in account, whose choice this is */
export function readyNoticesCard(userId) {
  const supported = notificationsSupported();
  const toggle = h("input", { type: "checkbox", id: "notify-ready", role: "switch", checked: readyNoticesOn(userId), disabled: !supported, "aria-describedby": "notify-ready-hint notify-ready-why" });
  const why = h("p", { class: "hint", id: "notify-ready-why", role: "status", hidden: true });
  const explain = (/** @type {string} */ text) => {
    why.textContent = text;
    why.hidden = !text;
  };
  if (!supported) explain(UNSUPPORTED);
  // Turned on here once, and the browser's permission withdrawn since.
  else if (readyNoticesChosen(userId)) explain(REFUSED[notificationPermission()]);
  toggle.addEventListener("change", async () => {
    const wanted = toggle.checked;
    toggle.disabled = true;
    const permission = await chooseReadyNotices(userId, wanted);
    toggle.disabled = false;
    toggle.checked = wanted && permission === "granted";
    explain(wanted ? REFUSED[permission] : "");
  });
  return h("section", { class: "card", "aria-labelledby": "notify-h" },
    h("h2", { id: "notify-h", text: "Avisos" }),
    h("label", { class: "check", for: "notify-ready" }, toggle, " Avisarme cuando una respuesta esté lista"),
    h("p", { class: "hint", id: "notify-ready-hint", text: "Si la pestaña de EnergyApp no está a la vista cuando termina una respuesta, el navegador muestra un aviso con el título de la conversación, nunca con el texto de la respuesta. Se recuerda para su cuenta en este navegador." }),
    why,
  );
}
