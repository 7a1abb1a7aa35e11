// @ts-check
// "Carpetas" in the sidebar: each folder a disclosure button that shows its conversations (read
// with ?folder_id=, drawn as the whole list's rows with the same menu: the sidebar's row()),
// "Nueva carpeta", Renombrar and Eliminar in a folder's menu, and the dialog "Mover a carpeta"
// that a conversation's menu opens (moveDialog).
import { api, ApiError, backgroundRead, errorDetail, qs } from "../api.js";
import { h, icon, confirmDialog, dialogActions, openDialog, toast } from "../dom.js";
import { hasOpenMenu, inOpenMenu, MENU_CLOSED, menuButton } from "../menu.js";
import { plural } from "../plural.js";
import { RowPlace } from "./conv_rows.js";
/** @import { Page } from "../api.js" */
/** @import { Conversation } from "./conv_rows.js" */

const MAX_NAME = 60;
const PAGE = 30;
const MAX_PAGE = 200;
// A timed refresh reads the folders at least this often, however still the list is.
const REREAD_MS = 30_000;

/**
 * A folder as `GET /folders` gives it.
 * @typedef {object} Folder
 * @property {string} id
 * @property {string} name
 * @property {number} conversation_count conversations not archived
 */

let dialogs = 0;

/**
 * The dialog that names a folder (a new one, or `folder` renamed); resolves with the saved
 * folder, or null when cancelled. The server's refusal (a name taken, the 50 reached) is shown
 * in it, which stays open with the field selected; a folder deleted meanwhile (another tab)
 * closes it with that refusal.
 * @param {Folder | null} folder
 * @returns {Promise<Folder | ApiError | null>}
 */
function nameDialog(folder) {
  const n = ++dialogs;
  return openDialog(folder ? "Renombrar carpeta" : "Nueva carpeta", (/** @type {(value: Folder | ApiError | null) => void} */ close) => {
    const input = h("input", { class: "input", id: `folder-name-${n}`, name: "name", value: folder?.name ?? "", maxlength: MAX_NAME, autocomplete: "off", required: true });
    const msg = h("div", { class: "alert alert-error", role: "alert", hidden: true });
    const save = h("button", { type: "submit", class: "btn btn-primary", text: folder ? "Guardar" : "Crear carpeta" });
    const form = h("form", { class: "folder-form", novalidate: true },
      msg,
      h("div", { class: "field" }, h("label", { for: input.id, text: "Nombre de la carpeta" }), input),
      dialogActions(close, save),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (save.disabled) return;
      if (!input.value.trim()) {
        msg.textContent = "Escriba un nombre para la carpeta.";
        msg.hidden = false;
        input.focus();
        return;
      }
      save.disabled = true;
      try {
        const path = folder ? `/folders/${encodeURIComponent(folder.id)}` : "/folders";
        close(await api(path, { method: folder ? "PATCH" : "POST", body: { name: input.value } }));
      } catch (err) {
        if (err instanceof ApiError && err.code === "folder_not_found") {
          close(err);
          return;
        }
        msg.textContent = errorDetail(err, "No se pudo guardar la carpeta.");
        msg.hidden = false;
        save.disabled = false;
        input.focus();
        input.select();
      }
    });
    queueMicrotask(() => { input.focus(); input.select(); });
    return form;
  });
}

/**
 * "Mover a carpeta": the person's folders and "Sin carpeta" as radio buttons, the current one
 * checked. Resolves with the folder chosen ("" for none), or null when cancelled or unchanged.
 * @param {Folder[]} folders
 * @param {string | null} current the conversation's folder
 * @param {string} title the conversation's
 * @returns {Promise<string | null>}
 */
export function moveDialog(folders, current, title) {
  const n = ++dialogs;
  // A folder deleted meanwhile (another tab) left the conversation in none.
  const now = folders.some((f) => f.id === current) ? current : null;
  return openDialog("Mover a carpeta", (/** @type {(value: string | null) => void} */ close) => {
    /** @param {string} value @param {string} label */
    const option = (value, label) => h("label", { class: "folder-option" },
      h("input", { type: "radio", name: `folder-choice-${n}`, value, checked: value === (now ?? "") }),
      h("span", { text: label }));
    const form = h("form", { class: "folder-form" },
      h("fieldset", { class: "folder-choices" },
        h("legend", { text: `¿Dónde guardar «${title}»?` }),
        option("", "Sin carpeta"),
        ...folders.map((f) => option(f.id, f.name)),
      ),
      folders.length ? null : h("p", { class: "hint", text: "Aún no tiene carpetas: cree una con «Nueva carpeta», en la sección Carpetas del historial." }),
      dialogActions(close, h("button", { type: "submit", class: "btn btn-primary", text: "Mover" })),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const chosen = /** @type {HTMLInputElement | null} */ (form.querySelector("input[type=radio]:checked"));
      const value = chosen?.value ?? "";
      close(value === (now ?? "") ? null : value);
    });
    queueMicrotask(() => /** @type {HTMLInputElement | null} */ (form.querySelector("input[type=radio]:checked"))?.focus());
    return form;
  });
}

/**
 * The sidebar's "Carpetas" section.
 * @typedef {object} FolderOptions
 * @property {(conv: Conversation, place: RowPlace) => HTMLLIElement} row a conversation's row, as the whole list draws it
 * @property {() => void} onChanged the folders changed (names, one deleted): the list's labels follow
 * @property {() => void} onLoaded the folders were read again
 * @property {() => void} again what a quiet read that met an expired session runs on the next token (backgroundRead)
 */
export class FolderSection {
  /** @param {FolderOptions} options */
  constructor({ row, onChanged, onLoaded, again }) {
    this.row = row;
    this.onChanged = onChanged;
    this.onLoaded = onLoaded;
    this.again = again;
    /** @type {Folder[]} */
    this.folders = [];
    /** @type {Map<string, { items: Conversation[], cursor: string | null }>} the open folders' conversations */
    this.open = new Map();
    /** @type {string | null} */
    this.activeId = null;
    /** @type {string} what the rows show now, to draw them again only when it changed */
    this.drawn = "";
    /** a drawing that waited for a menu of the section to close */
    this.pending = false;
    /** @type {string | null} the list's rows at its last timed refresh (due) */
    this.rows = null;
    /** when the folders were last read */
    this.readAt = 0;
    this.list = h("ul", { class: "folder-list", "aria-labelledby": "folders-heading" });
    this.status = h("p", { class: "folder-status", role: "status" });
    this.newButton = h("button", { type: "button", class: "btn btn-sm folder-new", id: "new-folder", onclick: () => this.create() }, icon("plus"), "Nueva carpeta");
    this.el = h("section", { class: "folders", "aria-labelledby": "folders-heading" },
      h("div", { class: "folders-head" }, h("h2", { class: "folders-title", id: "folders-heading", text: "Carpetas" }), this.newButton),
      this.list,
      this.status,
    );
    // A menu closed (Escape, a choice, a press elsewhere): the focus leaves its item, or not
    // (it was on <body> already), so the menu's own word counts too.
    const drawHeld = () => setTimeout(() => {
      if (this.pending && !hasOpenMenu(this.list)) this.render();
    });
    this.list.addEventListener("focusout", drawHeld);
    this.list.addEventListener(MENU_CLOSED, drawHeld);
  }

  /**
   * Whether the list's timed refresh reads the folders too: when the rows it read changed (a
   * conversation filed, archived, renamed, an answer saved) or 30 s have passed (another tab's
   * folders). While an answer runs the list asks every 5 s; the folders, each open folder's
   * page included, need not follow each time.
   * @param {string} rows what the list read, as text
   */
  due(rows) {
    const changed = this.rows !== null && rows !== this.rows;
    this.rows = rows;
    return changed || Date.now() - this.readAt >= REREAD_MS;
  }

  /** @param {string | null | undefined} id @returns {string | null} the folder's name */
  nameOf(id) {
    return (id && this.folders.find((f) => f.id === id)?.name) || null;
  }

  /**
   * Read the folders (and the open ones' conversations) again. `quiet`: a read on the sidebar's
   * timer, which never refreshes the session (docs/ui.md).
   * @param {boolean} quiet
   */
  async load(quiet) {
    this.readAt = Date.now();
    try {
      /** @type {Folder[] | undefined} */
      const folders = quiet ? await backgroundRead("/folders", this.again) : await api("/folders");
      if (folders === undefined) return; // waiting for the person's next request
      this.folders = folders;
      for (const id of [...this.open.keys()]) {
        if (!this.folders.some((f) => f.id === id)) this.open.delete(id);
        else if (!(await this.loadItems(id, quiet))) return;
      }
      // A quiet read leaves a row in use alone: the next read draws it.
      if (!(quiet && this.interacting())) this.render();
      this.onLoaded();
    } catch (err) {
      if (!quiet) this.say(errorDetail(err, "No se pudieron cargar las carpetas."));
    }
  }

  /**
   * @param {string} id
   * @param {boolean} quiet
   * @param {boolean} [more] the next page after what is shown
   * @returns {Promise<boolean>} false: a quiet read waits for the person (backgroundRead)
   */
  async loadItems(id, quiet, more = false) {
    const shown = this.open.get(id);
    const cursor = more ? shown?.cursor : null;
    // Read again, a folder keeps as many rows as "Ver más" had shown (up to the API's 200).
    const limit = more ? PAGE : Math.min(Math.max(shown?.items.length ?? 0, PAGE), MAX_PAGE);
    const path = `/conversations${qs({ folder_id: id, limit, cursor })}`;
    /** @type {Page<Conversation> | undefined} */
    const page = quiet ? await backgroundRead(path, this.again) : await api(path);
    if (page === undefined) return false; // waiting for the person's next request
    const items = more && shown ? [...shown.items, ...page.items] : page.items;
    this.open.set(id, { items, cursor: page.next_cursor });
    return true;
  }

  /** Whether the person is using the section: a menu is open, a conversation's title is being edited. */
  interacting() {
    const rename = document.activeElement?.closest(".conv-rename");
    return Boolean(this.list.querySelector("[role=menu]:not([hidden])") || (rename && this.list.contains(rename)));
  }

  /** Draw the rows again even though nothing changed (a title's field to take away). */
  redraw() {
    this.drawn = "";
    this.render();
  }

  /**
   * Draw the folders as last read. While one of the section's menus is open (opened while an
   * earlier action's re-read was on its way) the drawing waits until it closes: the menu stays
   * on its row, under the pointer, with the focus in it.
   */
  render() {
    if (hasOpenMenu(this.list)) {
      this.pending = true;
      return;
    }
    this.pending = false;
    this.say(this.folders.length ? "" : "Aún no tiene carpetas.");
    // A refresh that changed nothing leaves the rows (and the focus inside them) alone.
    const drawn = JSON.stringify([this.folders, [...this.open], this.activeId]);
    if (drawn === this.drawn) return;
    this.drawn = drawn;
    const active = document.activeElement;
    const row = active instanceof HTMLElement && this.list.contains(active) ? active.closest("[data-folder]") : null;
    const focus = row instanceof HTMLElement ? { id: row.dataset.folder || "", selector: this.selectorOf(active) } : null;
    this.list.replaceChildren(...this.folders.map((f, index) => this.folderItem(f, index)));
    if (focus) this.focusFolder(focus.id, focus.selector);
  }

  /**
   * What to focus again in a folder's row drawn anew: the same control, or the same
   * conversation's link (the folder's button when it is gone).
   * @param {Element | null} active
   */
  selectorOf(active) {
    if (active?.matches("[data-action=folder-more]")) return "[data-action=folder-more]";
    const row = active?.closest(".folder-items .conv-item");
    const id = row instanceof HTMLElement ? row.dataset.id : null;
    if (!id) return ".folder-toggle";
    return `.folder-items [data-id="${CSS.escape(id)}"] ${active?.matches(".conv-link") ? ".conv-link" : "[data-action=more]"}`;
  }

  /**
   * @param {Folder} folder
   * @param {number} index its place in the list: where the focus goes should it be gone
   */
  folderItem(folder, index) {
    const shown = this.open.get(folder.id);
    const itemsId = `folder-items-${folder.id}`;
    const toggle = h("button", { type: "button", class: "folder-toggle", "aria-expanded": shown ? "true" : "false", "aria-controls": itemsId, onclick: () => this.toggle(folder.id) },
      icon("chevron"),
      h("span", { class: "folder-name", text: folder.name }),
      h("span", { class: "folder-count" },
        h("span", { "aria-hidden": "true", text: String(folder.conversation_count) }),
        h("span", { class: "sr-only", text: `, ${plural(folder.conversation_count, "conversación", "conversaciones")}` })),
    );
    const more = menuButton(icon("more"), `Acciones de la carpeta «${folder.name}»`, () => [
      { label: "Renombrar", action: "folder-rename", run: () => this.rename(folder) },
      { label: "Eliminar", action: "folder-delete", danger: true, run: () => this.remove(folder) },
    ], { "data-action": "folder-more" });
    const items = h("ul", { class: "conv-rows folder-items", id: itemsId, hidden: !shown });
    if (shown) {
      // Emptied, the folder's own button stands for its rows; gone, a neighbour (focusNear).
      const place = new RowPlace(this.list, `[data-folder="${CSS.escape(folder.id)}"] .folder-items .conv-item`,
        () => this.focusFolder(folder.id, ".folder-toggle") || this.focusNear(index));
      for (const c of shown.items) items.appendChild(this.row(c, place));
      if (!shown.items.length) items.appendChild(h("li", { class: "folder-empty", text: "Sin conversaciones. Use «Mover a carpeta» en el menú de una conversación." }));
      if (shown.cursor) items.appendChild(h("li", {}, h("button", { type: "button", class: "btn btn-sm", text: "Ver más", onclick: () => this.more(folder.id) })));
    }
    return h("li", { class: "folder", dataset: { folder: folder.id } },
      h("div", { class: "folder-row" }, toggle, h("div", { class: "conv-actions" }, more.wrap)),
      items,
    );
  }

  /** @param {string} id */
  async toggle(id) {
    if (this.open.has(id)) {
      this.open.delete(id);
      this.render();
      return;
    }
    await this.openFolder(id);
  }

  /**
   * @param {string} id
   * @returns {Promise<boolean>} whether it opened (a folder deleted elsewhere leaves the list)
   */
  async openFolder(id) {
    try {
      await this.loadItems(id, false);
      this.render();
      return true;
    } catch (err) {
      toast(errorDetail(err, "No se pudo abrir la carpeta."), "error");
      await this.forgetIfGone(err, id);
      return false;
    }
  }

  /**
   * Show a folder's conversations (the chat header's "Carpeta: …"): opened if it was closed,
   * the focus on its button.
   * @param {string} id
   */
  async reveal(id) {
    if (this.open.has(id) || (await this.openFolder(id))) this.focusFolder(id, ".folder-toggle");
  }

  /** @param {string} id */
  async more(id) {
    try {
      await this.loadItems(id, false, true);
      this.render();
      this.focusFolder(id, ".folder-items li:last-child a, .folder-toggle");
    } catch (err) {
      toast(errorDetail(err, "No se pudo cargar la carpeta."), "error");
      await this.forgetIfGone(err, id);
    }
  }

  /**
   * A folder deleted elsewhere (another tab): read the folders again, so it leaves the list,
   * and put the focus where its row was (the next folder, or "Nueva carpeta").
   * @param {unknown} err
   * @param {string} id
   * @returns {Promise<boolean>} whether it was gone
   */
  async forgetIfGone(err, id) {
    if (!(err instanceof ApiError && err.code === "folder_not_found")) return false;
    const index = this.folders.findIndex((f) => f.id === id);
    this.open.delete(id);
    await this.load(false);
    this.onChanged();
    this.focusNear(index);
    return true;
  }

  /** @param {number} index where a folder's row was: the one now there, the last, or "Nueva carpeta" */
  focusNear(index) {
    if (inOpenMenu()) return;
    const next = this.folders[Math.min(index, this.folders.length - 1)];
    if (next) this.focusFolder(next.id, ".folder-toggle");
    else this.newButton.focus();
  }

  async create() {
    const folder = await nameDialog(null);
    if (!folder || folder instanceof ApiError) return;
    toast(`Carpeta «${folder.name}» creada.`);
    await this.load(false);
    this.focusFolder(folder.id, ".folder-toggle");
  }

  /** @param {Folder} folder */
  async rename(folder) {
    const saved = await nameDialog(folder);
    if (saved instanceof ApiError) {
      toast(errorDetail(saved, "No se pudo guardar la carpeta."), "error");
      await this.forgetIfGone(saved, folder.id);
      return;
    }
    if (saved) {
      await this.load(false);
      this.onChanged();
    }
    this.focusFolder(folder.id, "[data-action=folder-more]");
  }

  /** @param {Folder} folder */
  async remove(folder) {
    const count = plural(folder.conversation_count, "conversación", "conversaciones");
    const ok = await confirmDialog("Eliminar carpeta", `¿Eliminar la carpeta «${folder.name}»? Sus conversaciones (${count}) no se eliminan: quedan sin carpeta, en el historial.`, "Eliminar carpeta", true);
    if (!ok) {
      this.focusFolder(folder.id, "[data-action=folder-more]");
      return;
    }
    const ids = this.folders.map((f) => f.id);
    const index = ids.indexOf(folder.id);
    try {
      await api(`/folders/${encodeURIComponent(folder.id)}`, { method: "DELETE" });
      toast(`Carpeta «${folder.name}» eliminada; sus conversaciones quedaron sin carpeta.`);
      await this.load(false);
      this.onChanged();
      this.focusNear(index);
    } catch (err) {
      toast(errorDetail(err, "No se pudo eliminar la carpeta."), "error");
      if (!(await this.forgetIfGone(err, folder.id))) this.focusFolder(folder.id, "[data-action=folder-more]");
    }
  }

  /**
   * Write the status (a polite live region) only when it changes: the section is drawn again
   * after each of the list's refreshes, and the same words written again are said again.
   * @param {string} text
   */
  say(text) {
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  /**
   * @param {string} id
   * @param {string} selector
   * @returns {boolean} whether the folder is there
   */
  focusFolder(id, selector) {
    const row = this.list.querySelector(`[data-folder="${CSS.escape(id)}"]`);
    if (inOpenMenu()) return Boolean(row); // the person moved on to a menu: left there
    const target = /** @type {HTMLElement | null} */ (row?.querySelector(selector) ?? null);
    // A conversation's menu button shows while its row holds the focus: its link takes it first.
    const link = target?.closest(".conv-item")?.querySelector(".conv-link") ?? row?.querySelector(".folder-toggle");
    /** @type {HTMLElement | null | undefined} */ (link)?.focus();
    target?.focus();
    return Boolean(row);
  }
}
