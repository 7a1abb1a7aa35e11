// @ts-check
// The chat's keyboard shortcuts and the dialog that lists them ("Atajos de teclado").
import { h, openDialog } from "./dom.js";

/** What each shortcut does, as the help dialog lists it. */
export const SHORTCUTS = [
  ["Enter", "Enviar el mensaje"],
  ["Shift + Enter", "Nueva línea en el mensaje"],
  ["Esc", "Detener la respuesta en curso (con el foco en el mensaje)"],
  ["/", "Al comienzo del mensaje: indicaciones guardadas (↑ ↓ para elegir, Enter inserta, Esc cierra)"],
  ["Ctrl + Shift + O", "Nueva conversación"],
  ["Ctrl + /", "Mostrar los atajos de teclado"],
  ["↑ ↓", "Moverse entre las conversaciones del historial"],
  ["→", "Ir a «Más acciones» de una conversación"],
];

export const HELP_TITLE = "Atajos de teclado";

/** Open the dialog listing the shortcuts. */
export function showShortcuts() {
  return openDialog(HELP_TITLE, (close) =>
    h("div", {},
      h("dl", { class: "shortcuts" },
        SHORTCUTS.flatMap(([keys, what]) => [
          h("dt", {}, keys.split(" + ").flatMap((key, i) => [i ? " + " : null, h("kbd", { text: key })])),
          h("dd", { text: what }),
        ])),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn btn-primary", onclick: () => close(null), text: "Cerrar" })),
    ));
}

/**
 * Listen for the screen-wide shortcuts while the chat is shown.
 * @param {{ onNew: () => void }} actions
 * @returns {() => void} stops listening
 */
export function installShortcuts({ onNew }) {
  /** @param {KeyboardEvent} event */
  const onKey = (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.altKey || document.querySelector("dialog[open]")) return;
    if (event.shiftKey && event.key.toLowerCase() === "o") {
      event.preventDefault();
      onNew();
    } else if (event.key === "/") {
      event.preventDefault();
      showShortcuts();
    }
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}
