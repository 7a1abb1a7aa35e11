// @ts-check
// Export a conversation: Markdown or JSON, the branch shown or every version, times in Chile's.
import { apiFetch, qs, errorDetail } from "../api.js";
import { h, openDialog, toast } from "../dom.js";

/** @typedef {{ format: "md" | "json", scope: "branch" | "tree" }} ExportChoice */

/**
 * Ask what to export, then download it (the server names the file).
 * @param {string} conversationId
 */
export async function exportConversation(conversationId) {
  /** @type {ExportChoice | null} */
  const choice = await openDialog("Exportar conversación", (close) => {
    const radio = (/** @type {string} */ name, /** @type {string} */ value, /** @type {string} */ label, checked = false) =>
      h("label", { class: "radio" }, h("input", { type: "radio", name, value, checked }), label);
    const form = h("form", { class: "export-form", method: "dialog" },
      h("fieldset", {},
        h("legend", { text: "Formato" }),
        radio("format", "md", "Markdown (.md)", true),
        radio("format", "json", "JSON (.json)"),
      ),
      h("fieldset", {},
        h("legend", { text: "Contenido" }),
        radio("scope", "branch", "Las versiones que se muestran", true),
        radio("scope", "tree", "Todas las versiones (preguntas editadas y respuestas regeneradas)"),
      ),
      h("p", { class: "muted small", text: "Las horas quedan en hora de Chile." }),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn", onclick: () => close(null), text: "Cancelar" }),
        h("button", { type: "submit", class: "btn btn-primary", text: "Descargar" }),
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(form);
      close({ format: data.get("format") === "json" ? "json" : "md", scope: data.get("scope") === "tree" ? "tree" : "branch" });
    });
    return form;
  });
  if (!choice) return;
  try {
    await downloadExport(conversationId, choice);
    toast("Conversación exportada.");
  } catch (err) {
    toast(errorDetail(err, "No se pudo exportar la conversación."), "error");
  }
}

/**
 * Download a conversation's export under the name the server gave it (the chat's "Exportar"
 * and the sidebar's menu save the same file under the same name).
 * @param {string} conversationId
 * @param {Partial<ExportChoice> & { format: "md" | "json" }} choice
 */
export async function downloadExport(conversationId, choice) {
  const response = await apiFetch(`/conversations/${encodeURIComponent(conversationId)}/export${qs(choice)}`);
  download(await response.blob(), fileName(response.headers.get("Content-Disposition"), choice.format));
}

/**
 * The UTF-8 file name the server gave (RFC 5987), or a plain one.
 * @param {string | null} disposition
 * @param {string} extension
 */
function fileName(disposition, extension) {
  const exact = /filename\*=UTF-8''([^;]+)/.exec(disposition || "");
  return exact ? decodeURIComponent(exact[1]) : `conversacion.${extension}`;
}

/**
 * @param {Blob} blob
 * @param {string} name
 */
function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
