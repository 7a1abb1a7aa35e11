// @ts-check
// Configuración: download every conversation as one ZIP of Markdown and JSON files.
import { apiFetch, errorDetail } from "../api.js";
import { h, icon, toast } from "../dom.js";

export function exportCard() {
  const button = h("button", { type: "button", class: "btn", id: "export-all" }, icon("download"), "Descargar todas mis conversaciones (ZIP)");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const response = await apiFetch("/conversations/export");
      const url = URL.createObjectURL(await response.blob());
      const link = h("a", { href: url, download: "conversaciones-energyapp.zip", hidden: true });
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) {
      toast(errorDetail(err, "No se pudo descargar el archivo."), "error");
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { class: "card", "aria-labelledby": "export-h" },
    h("h2", { id: "export-h", text: "Sus conversaciones" }),
    h("p", { class: "hint", text: "Descargue todo su historial: cada conversación en Markdown (para leer) y en JSON (para otros programas)." }),
    button,
  );
}
