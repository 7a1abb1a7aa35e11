// @ts-check
// The chat header's folder (docs/ui.md): "Carpeta: …" beside the title, a button that opens that
// folder in the sidebar, and the conversation's menu "Acciones de la conversación" (Mover a
// carpeta…, Quitar de «…») through the sidebar's own move, so both lists follow. A conversation
// not created yet has no menu; a temporary chat none at all (it takes no folder).
import { h, icon } from "../../dom.js";
import { menuButton } from "../../menu.js";
import { RowPlace } from "../conv_rows.js";
/** @import { Sidebar } from "../sidebar.js" */
/** @import { Conversation } from "../conv_rows.js" */
/** @import { MenuEntry } from "../../menu.js" */

export class HeaderFolder {
  /**
   * @param {Sidebar} sidebar
   * @param {(folderId: string) => void} reveal open the folder in the sidebar
   */
  constructor(sidebar, reveal) {
    this.sidebar = sidebar;
    /** @type {Conversation | null} the conversation shown, when it can be filed */
    this.conv = null;
    this.name = h("span", { class: "folder-chip-name" });
    this.chip = h("button", { type: "button", class: "folder-chip", id: "head-folder", hidden: true, title: "Mostrar la carpeta en el historial",
      onclick: () => { if (this.conv?.folder_id) reveal(this.conv.folder_id); } },
    icon("folder"), h("span", { class: "folder-chip-label", text: "Carpeta: " }), this.name);
    this.menu = menuButton(icon("more"), "Acciones de la conversación", () => this.entries(), { id: "head-more" });
    this.menu.wrap.hidden = true;
    this.el = h("div", { class: "head-folder" }, this.chip, this.menu.wrap);
    // The header holds no rows: after a move the focus comes back to its menu button.
    this.place = new RowPlace(this.el, ".conv-item", () => this.menu.button.focus());
  }

  /** @param {Conversation & { temporary?: boolean } | null} conv the conversation shown (null: none yet) */
  show(conv) {
    this.conv = conv && !conv.temporary ? conv : null;
    this.draw();
  }

  /** @param {string} title the conversation's, as the header shows it */
  setTitle(title) {
    if (this.conv) this.conv.title = title;
  }

  /**
   * The folders and the list were read again: a name changed, a folder gone, or the conversation
   * moved in another tab (the list says where it is now).
   */
  follow() {
    const listed = this.conv && this.sidebar.items.find((c) => c.id === this.conv?.id);
    if (this.conv && listed) this.conv = { ...this.conv, folder_id: listed.folder_id ?? null };
    this.draw();
  }

  /** Draw the chip again. */
  draw() {
    const name = this.sidebar.folders.nameOf(this.conv?.folder_id);
    this.chip.hidden = !name;
    this.name.textContent = name ?? "";
    this.menu.wrap.hidden = !this.conv;
  }

  /** @returns {MenuEntry[]} */
  entries() {
    const conv = this.conv;
    if (!conv) return [];
    const name = this.sidebar.folders.nameOf(conv.folder_id);
    return [
      { label: "Mover a carpeta…", action: "head-move", run: () => void this.sidebar.move(conv, this.place) },
      ...(name ? [{ label: `Quitar de «${name}»`, action: "head-unfile", run: () => void this.sidebar.file(conv, null, this.place) }] : []),
    ];
  }
}
