// @ts-check
// Conversation sidebar: newest first in day groups, infinite scroll, search, a running
// indicator kept fresh across tabs, and each row's actions (rename inline, pin, archive, move to
// a folder, export, delete) in one "Más acciones" menu, the same in an open folder's rows
// (conv_rows.js draws a row; the actions here keep both lists and the chat's header in step).
import { api, ApiError, backgroundRead, errorDetail, qs } from "../api.js";
import { h, icon, confirmDialog, toast, clear } from "../dom.js";
import { hasOpenMenu, MENU_CLOSED } from "../menu.js";
import { dayGroup } from "../days.js";
import { retentionNotice } from "./retention_notice.js";
import { downloadExport } from "./export.js";
import { FolderSection, moveDialog } from "./folders.js";
import { MORE, RowPlace, conversationRow } from "./conv_rows.js";
/** @import { Page } from "../api.js" */
/** @import { Conversation } from "./conv_rows.js" */

const PAGE = 30;
// How often the list is asked again for running answers (faster while one runs), and the
// channel that tells the other tabs an answer started or ended.
const REFRESH_MS = 30_000;
const REFRESH_RUNNING_MS = 5_000;
const CHANNEL = "energyapp.conversations";
/**
 * The search and "Ver archivadas" of the list a row was picked from: the next screen's list (the
 * conversation opened) starts from them, so the other results stay at hand. Any other way to a
 * screen ("Nueva conversación", a reload) starts from the whole list.
 * @type {{ query: string, archived: boolean } | null}
 */
let carried = null;

/** @typedef {Partial<Pick<Conversation, "title" | "pinned" | "archived" | "folder_id">>} ConversationChanges */

/**
 * What the chat hears from the sidebar.
 * @typedef {object} SidebarOptions
 * @property {string | null} activeId the conversation shown beside it
 * @property {(id: string) => void} onSelect a conversation was picked
 * @property {() => void} onNew "Nueva conversación"
 * @property {(id: string) => void} onDeleted a conversation was deleted
 * @property {(conv: Conversation) => void} onChanged the shown conversation was changed here (renamed, moved to a folder)
 * @property {() => void} onFolders the folders were read again (names, some gone)
 * @property {(running: Conversation[]) => void} onRunning the list was refreshed: these have an answer running
 */

export class Sidebar {
  /** @param {SidebarOptions} options */
  constructor({ activeId, onSelect, onNew, onDeleted, onChanged, onFolders, onRunning }) {
    this.activeId = activeId;
    this.onRunning = onRunning;
    this.onSelect = onSelect;
    this.onNew = onNew;
    this.onDeleted = onDeleted;
    this.onChanged = onChanged;
    /** @type {Conversation[]} */
    this.items = [];
    /** @type {string | null} */
    this.cursor = null;
    this.done = false;
    this.loading = false;
    const start = carried ?? { query: "", archived: false };
    carried = null;
    this.query = start.query;
    this.archived = start.archived;
    this.generation = 0;
    this.search = h("input", { class: "input", type: "search", id: "conv-search", placeholder: "Buscar conversaciones", "aria-label": "Buscar conversaciones", autocomplete: "off" });
    /** @type {number | undefined} */
    let timer;
    this.search.addEventListener("input", () => {
      clearTimeout(timer);
      // The list is about to change: assistive technology (and a script) can wait for it.
      this.list.setAttribute("aria-busy", "true");
      timer = setTimeout(() => this.reload(this.search.value.trim()), 250);
    });
    this.search.value = start.query;
    const archivedBox = h("input", { type: "checkbox", id: "show-archived", checked: start.archived });
    archivedBox.addEventListener("change", () => {
      this.archived = archivedBox.checked;
      this.reload(this.query);
    });
    // The scroller of the day groups: each day (or "Fijadas") is a group named by its heading,
    // with a list of its conversations, so a screen reader counts conversations, not days.
    this.list = h("div", { class: "conv-list" });
    // A change that arrived while a row was in use (see update()) is drawn once it no longer is.
    this.pendingRender = false;
    this.status = h("div", { class: "list-status", "aria-live": "polite" });
    this.sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
    // The list's own reads (timer, focus, other tabs) are background reads: with the access
    // token expired they stop until the person's next request brings a new one.
    this.again = () => void this.refresh();
    this.folders = new FolderSection({
      row: (conv, place) => this.row(conv, place),
      onChanged: () => void this.refresh(),
      onLoaded: onFolders,
      again: this.again,
    });
    this.folders.activeId = activeId;
    this.newButton = h("button", { type: "button", class: "btn btn-primary btn-block", id: "new-chat", onclick: () => this.onNew() }, icon("plus"), "Nueva conversación");
    this.place = new RowPlace(this.list, ".conv-item", () => this.newButton.focus());
    this.el = h("aside", { class: "sidebar", id: "sidebar", "aria-label": "Historial de conversaciones" },
      h("div", { class: "sidebar-top" },
        this.newButton,
        this.search,
        h("label", { class: "archived-toggle", for: "show-archived" }, archivedBox, "Ver archivadas"),
      ),
      retentionNotice(),
      this.folders.el,
      this.list,
    );
    // The focus leaving a row in use (a menu closed, here or in a folder; a title saved), or a
    // menu closed with the focus already elsewhere.
    const drawHeld = () => setTimeout(() => {
      if (this.pendingRender && !this.interacting()) this.render();
    });
    this.el.addEventListener("focusout", drawHeld);
    this.el.addEventListener(MENU_CLOSED, drawHeld);
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.loadMore();
    }, { root: this.list, rootMargin: "120px" });
    this.channel = "BroadcastChannel" in window ? new BroadcastChannel(CHANNEL) : null;
    if (this.channel) this.channel.onmessage = () => this.refresh();
    this.onFocus = () => this.refresh();
    window.addEventListener("focus", this.onFocus);
    /** @type {number | undefined} */
    this.timer = undefined;
    this.destroyed = false;
    this.reload(start.query);
    void this.folders.load(false);
  }

  destroy() {
    this.destroyed = true;
    this.observer.disconnect();
    this.channel?.close();
    window.removeEventListener("focus", this.onFocus);
    clearTimeout(this.timer);
  }

  /** Tell the other tabs an answer started or ended: their lists ask again. */
  announce() {
    this.channel?.postMessage("changed");
  }

  scheduleRefresh() {
    clearTimeout(this.timer);
    // A list that came back after the chat was left (or its person signed out) asks no more.
    if (this.destroyed) return;
    const running = this.items.some((c) => c.running);
    this.timer = setTimeout(() => this.refresh(true), running ? REFRESH_RUNNING_MS : REFRESH_MS);
    // After the caller's constructor, which builds what the callback fills.
    const runningNow = this.items.filter((c) => c.running);
    queueMicrotask(() => this.onRunning(runningNow));
  }

  /**
   * Ask the list again (up to what is loaded) for running answers and new conversations,
   * without disturbing a rename or an open menu.
   * @param {boolean} [timed] on the list's timer: the folders follow only when due (FolderSection.due)
   */
  async refresh(timed = false) {
    if (this.destroyed) return;
    if (this.loading || this.interacting()) {
      this.scheduleRefresh();
      return;
    }
    const generation = this.generation;
    const limit = Math.min(Math.max(this.items.length, PAGE), 200);
    try {
      /** @type {Page<Conversation>} */
      const page = await backgroundRead(`/conversations${qs({ limit, q: this.query, archived: this.archived ? "true" : null })}`, this.again);
      if (page === undefined || generation !== this.generation) return; // waiting for the person
      if (this.items.length <= limit) {
        this.items = page.items;
        this.cursor = page.next_cursor;
        this.done = !page.next_cursor;
      }
      this.update();
      // The folders' counts and open lists follow, as quietly.
      const rows = JSON.stringify(this.items.map((c) => [c.id, c.folder_id, c.title, c.pinned, c.archived, c.updated_at]));
      if (this.folders.due(rows) || !timed) void this.folders.load(true);
    } catch {
      if (generation === this.generation) this.scheduleRefresh(); // offline for a moment: try later
    }
  }

  /**
   * @param {string} id
   * @param {boolean} running
   */
  markRunning(id, running) {
    const conv = this.items.find((c) => c.id === id);
    if (conv) conv.running = running;
    this.update();
    this.announce();
  }

  /** @param {string} query */
  async reload(query) {
    this.query = query;
    this.items = [];
    this.cursor = null;
    this.done = false;
    this.generation += 1;
    this.loading = false;
    this.render();
    await this.loadMore();
  }

  async loadMore() {
    if (this.loading || this.done || this.destroyed) return;
    this.loading = true;
    const generation = this.generation;
    let loaded = false;
    this.list.setAttribute("aria-busy", "true");
    this.say("Cargando…");
    try {
      /** @type {Page<Conversation>} */
      const page = await api(`/conversations${qs({ limit: PAGE, cursor: this.cursor, q: this.query, archived: this.archived ? "true" : null })}`);
      if (generation !== this.generation) return;
      this.items.push(...page.items);
      this.cursor = page.next_cursor;
      this.done = !page.next_cursor;
      this.render();
      loaded = true;
    } catch (err) {
      if (generation === this.generation) {
        this.say(errorDetail(err, "No se pudo cargar el historial."));
        this.scheduleRefresh();
      }
    } finally {
      if (generation === this.generation) {
        this.loading = false;
        this.list.removeAttribute("aria-busy");
      }
    }
    // Fill a tall screen: keep loading while the sentinel is still visible. Not after a failure
    // (the next frame would ask again at once, sixty times a second while the server is away):
    // the next refresh or scroll asks again.
    if (loaded && !this.done && generation === this.generation) requestAnimationFrame(() => this.checkSentinel());
  }

  checkSentinel() {
    const list = this.list.getBoundingClientRect();
    const s = this.sentinel.getBoundingClientRect();
    if (s.top < list.bottom + 120) this.loadMore();
  }

  /** Whether the person is using a row, here or in a folder: its menu is open or its title is being edited. */
  interacting() {
    const rename = document.activeElement?.closest(".conv-rename");
    return Boolean(this.list.querySelector("[role=menu]:not([hidden])") || (rename && this.list.contains(rename)) || this.folders.interacting());
  }

  /**
   * Draw a change the person did not make here (an answer that starts or ends, a title, another
   * tab's changes): at once, or, while they use a row, once they are done, so that an open menu
   * or a title being edited is never swept away under them.
   */
  update() {
    if (this.interacting()) this.pendingRender = true;
    else this.render();
  }

  render() {
    // A menu opened while an action's answer was on its way stays: drawn once it closes.
    if (hasOpenMenu(this.list)) {
      this.pendingRender = true;
      return;
    }
    this.pendingRender = false;
    const focused = this.focusedControl();
    clear(this.list);
    /** @type {HTMLUListElement | null} the list of the group being drawn */
    let rows = null;
    let group = "";
    for (const c of [...this.items.filter((conv) => conv.pinned), ...this.items.filter((conv) => !conv.pinned)]) {
      const name = c.pinned ? "Fijadas" : dayGroup(c.updated_at);
      if (!rows || name !== group) rows = this.group((group = name));
      rows.appendChild(this.row(c));
    }
    if (!this.items.length && this.done) {
      this.say(this.query ? "Sin resultados para su búsqueda." : this.archived ? "No hay conversaciones archivadas." : "Aún no hay conversaciones.");
    } else {
      this.say(this.done ? "" : "Cargando…");
    }
    this.list.appendChild(this.status);
    this.list.appendChild(this.sentinel);
    this.observer.disconnect();
    this.observer.observe(this.sentinel);
    if (focused) this.place.focusInRow(focused.id, focused.selector);
    this.scheduleRefresh();
  }

  /**
   * Start a group of rows ("Fijadas", "Hoy", ...): a group named by its heading, around a list.
   * @param {string} name
   * @returns {HTMLUListElement} the group's list, for its rows
   */
  group(name) {
    const id = `conv-group-${this.list.querySelectorAll(".conv-group").length + 1}`;
    const rows = h("ul", { class: "conv-rows" });
    this.list.appendChild(h("div", { role: "group", "aria-labelledby": id },
      h("h2", { class: "conv-group", id, text: name }),
      rows,
    ));
    return rows;
  }

  /**
   * Write the list's status (a polite live region) only when it changes: the list is drawn
   * again on every refresh (every 30 s, 5 s while an answer runs), and the same words written
   * again are announced again.
   * @param {string} text
   */
  say(text) {
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  /** @returns {{ id: string, selector: string } | null} the row control with the focus, to give it back after a render */
  focusedControl() {
    const active = document.activeElement;
    const row = active instanceof HTMLElement && this.list.contains(active) ? active.closest(".conv-item") : null;
    if (!(row instanceof HTMLElement) || !row.dataset.id) return null;
    return { id: row.dataset.id, selector: active?.classList.contains("conv-link") ? ".conv-link" : MORE };
  }

  /**
   * A conversation's row, in the whole list or (`place`) an open folder's: the same link, menu
   * and keys, its actions' focus kept in the list the row is in.
   * @param {Conversation} conv
   * @param {RowPlace} [place]
   * @returns {HTMLLIElement}
   */
  row(conv, place = this.place) {
    return conversationRow(conv, {
      place,
      active: conv.id === this.activeId,
      folderName: place === this.place ? this.folders.nameOf(conv.folder_id) : null,
      onOpen: (event) => {
        // A click that opens another tab leaves this screen as it is.
        if (!(event.ctrlKey || event.metaKey || event.shiftKey || event.altKey)) carried = { query: this.query, archived: this.archived };
        this.onSelect(conv.id);
      },
      entries: (item) => this.actions(item, conv, place),
    });
  }

  /**
   * The entries of a row's "Más acciones" menu.
   * @param {HTMLLIElement} item
   * @param {Conversation} conv
   * @param {RowPlace} place
   * @returns {import("../menu.js").MenuEntry[]}
   */
  actions(item, conv, place) {
    return [
      { label: "Renombrar", action: "rename", run: () => this.rename(item, conv, place) },
      { label: conv.pinned ? "Desfijar" : "Fijar", action: "pin", run: () => this.patch(conv, { pinned: !conv.pinned }, place) },
      { label: conv.archived ? "Desarchivar" : "Archivar", action: "archive", run: () => this.patch(conv, { archived: !conv.archived }, place, conv.archived ? "Conversación restaurada." : "Conversación archivada.") },
      { label: "Mover a carpeta…", action: "move", run: () => this.move(conv, place) },
      { label: "Exportar en Markdown", action: "export-md", run: () => this.download(conv, "md") },
      { label: "Exportar en JSON", action: "export-json", run: () => this.download(conv, "json") },
      { label: "Eliminar", action: "delete", danger: true, run: () => this.remove(conv, place) },
    ];
  }

  /**
   * "Mover a carpeta…": the dialog of the person's folders, then the move. The focus comes back
   * to the row's menu button, or where the row was when it left `place` (its folder).
   * @param {Conversation} conv
   * @param {RowPlace} place
   */
  async move(conv, place) {
    await this.folders.load(false); // the dialog lists the folders as they are now (other tabs)
    const target = await moveDialog(this.folders.folders, conv.folder_id ?? null, conv.title || "Nueva conversación");
    if (target === null) place.settle(place.shownIds(), conv.id, MORE);
    else await this.file(conv, target || null, place);
  }

  /**
   * Put `conv` in a folder (null: none); the focus back in `place` (settle).
   * @param {Conversation} conv
   * @param {string | null} target
   * @param {RowPlace} place
   */
  async file(conv, target, place) {
    const shown = place.shownIds();
    const name = this.folders.nameOf(target);
    await this.patch(conv, { folder_id: target }, place, name ? `Conversación movida a «${name}».` : "La conversación quedó sin carpeta.");
    place.settle(shown, conv.id, MORE);
  }

  /**
   * Download the conversation's export (it needs the session's token: fetched, then saved).
   * @param {Conversation} conv
   * @param {"md" | "json"} format
   */
  async download(conv, format) {
    try {
      await downloadExport(conv.id, { format });
    } catch (err) {
      toast(errorDetail(err, "No se pudo exportar la conversación."), "error");
    }
  }

  /**
   * @param {HTMLLIElement} item the conversation's row, replaced by the title's input
   * @param {Conversation} conv
   * @param {RowPlace} place
   */
  rename(item, conv, place) {
    const input = h("input", { class: "input conv-rename", value: conv.title || "", "aria-label": "Nuevo título", maxlength: 200 });
    item.replaceChildren(input);
    input.focus();
    input.select();
    let finished = false;
    const finish = async (/** @type {boolean} */ save, /** @type {boolean} */ keyboard) => {
      if (finished) return;
      finished = true;
      const shown = place.shownIds();
      const value = input.value.trim();
      if (save && value && value !== conv.title) await this.patch(conv, { title: value }, place);
      else this.redraw();
      // Enter or Escape: back to the row's menu (a blur means focus went elsewhere already).
      if (keyboard) place.settle(shown, conv.id, MORE);
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true, true);
      if (event.key === "Escape") finish(false, true);
    });
    input.addEventListener("blur", () => finish(true, false));
  }

  /** Both lists drawn again as they are (a rename's field gone). */
  redraw() {
    this.render();
    this.folders.redraw();
  }

  /**
   * Save a change to a conversation from a row (in `place`) or the chat's header; the whole
   * list, the folders (counts, open rows) and the header follow.
   * @param {Conversation} conv
   * @param {ConversationChanges} changes
   * @param {RowPlace} place
   * @param {string} [message] a toast once saved
   */
  async patch(conv, changes, place, message) {
    const generation = this.generation;
    // Filed before or after, its folder's count or rows change.
    const folderFollows = Boolean(conv.folder_id) || "folder_id" in changes;
    try {
      /** @type {Conversation} */
      const updated = await api(`/conversations/${encodeURIComponent(conv.id)}`, { method: "PATCH", body: changes });
      Object.assign(conv, updated);
      if (conv.id === this.activeId) this.onChanged(updated);
      if (generation !== this.generation) {
        // The list was asked again while this ran ("Ver archivadas", a search), maybe before
        // the change was saved: asked once more, it shows the conversation where it now belongs.
        void this.refresh();
        if (message) toast(message);
        return;
      }
      const shown = place.shownIds();
      if ("archived" in changes) this.items = this.items.filter((c) => c.id !== conv.id);
      else Object.assign(this.items.find((c) => c.id === conv.id) ?? {}, updated);
      this.render();
      if (folderFollows) await this.folders.load(false);
      // Archived (or restored), its row left its list, and the focus with it.
      const focus = document.activeElement;
      if ("archived" in changes && (!focus || focus === document.body || this.el.contains(focus))) place.settle(shown, conv.id, MORE);
      if (message) toast(message);
    } catch (err) {
      toast(errorDetail(err, "No se pudo guardar el cambio."), "error");
      await this.refused(err, conv, place);
    }
  }

  /** @param {Conversation} conv @param {RowPlace} place */
  async remove(conv, place) {
    const ok = await confirmDialog("Eliminar conversación", `¿Eliminar «${conv.title || "Nueva conversación"}» y todos sus mensajes? Esta acción no se puede deshacer.`, "Eliminar", true);
    if (!ok) {
      place.focusInRow(conv.id, MORE);
      return;
    }
    try {
      await api(`/conversations/${encodeURIComponent(conv.id)}`, { method: "DELETE" });
      toast("Conversación eliminada.");
      await this.forget(conv, place);
      this.onDeleted(conv.id);
    } catch (err) {
      toast(errorDetail(err, "No se pudo eliminar."), "error");
      await this.refused(err, conv, place);
    }
  }

  /**
   * A change the server refused. A conversation (or folder) gone meanwhile, deleted in another
   * tab, leaves the lists; otherwise they are drawn again as they were.
   * @param {unknown} err
   * @param {Conversation} conv
   * @param {RowPlace} place
   */
  async refused(err, conv, place) {
    const code = err instanceof ApiError ? err.code : "";
    if (code === "not_found") await this.forget(conv, place);
    else if (code === "folder_not_found") await this.folders.load(false);
    this.redraw();
    if (code !== "not_found") place.settle(place.shownIds(), conv.id, MORE);
  }

  /**
   * A conversation deleted (here or elsewhere) leaves both lists; the focus goes where its row
   * was in `place`.
   * @param {Conversation} conv
   * @param {RowPlace} place
   */
  async forget(conv, place) {
    const shown = place.shownIds();
    this.items = this.items.filter((c) => c.id !== conv.id);
    this.render();
    await this.folders.load(false); // its folder's count and rows follow
    place.focusInstead(shown, conv.id);
  }

  /** @param {string} id */
  setActive(id) {
    this.activeId = id;
    this.folders.activeId = id;
    this.folders.render();
    this.render();
  }

  /**
   * A conversation created or updated by the chat: move it to the top.
   * @param {Pick<Conversation, "id" | "title" | "updated_at" | "running">} conv
   */
  upsert(conv) {
    const existing = this.items.find((c) => c.id === conv.id);
    if (existing) {
      Object.assign(existing, conv);
      this.items = [existing, ...this.items.filter((c) => c !== existing)];
    } else if (!this.query && !this.archived) {
      this.items.unshift({ pinned: false, archived: false, ...conv });
    }
    this.update();
  }

  /**
   * @param {string | null} id
   * @param {string} title
   */
  setTitle(id, title) {
    const existing = this.items.find((c) => c.id === id);
    if (existing) {
      existing.title = title;
      this.update();
    }
  }

  /**
   * The model named a conversation. A name the person gave it meanwhile wins: the server keeps
   * theirs (it saves an automatic title only while none was given), but the answer's `title`
   * event can still arrive after their rename was saved.
   * @param {string | null} id
   * @param {string} title
   * @returns {boolean} whether the automatic title was taken
   */
  autoTitle(id, title) {
    const existing = this.items.find((c) => c.id === id);
    if (existing?.title_source === "user") return false;
    if (existing) existing.title_source = "auto";
    this.setTitle(id, title);
    return true;
  }
}
