// @ts-check
// Conversation sidebar: newest first in day groups, infinite scroll, search, a running
// indicator kept fresh across tabs, and each row's actions (rename inline, pin, archive, export,
// delete) in one "Más acciones" menu.
import { api, backgroundRead, errorDetail, qs } from "../api.js";
import { h, icon, confirmDialog, toast, clear } from "../dom.js";
import { menuButton } from "../menu.js";
import { dayGroup } from "../days.js";
import { retentionNotice } from "./retention_notice.js";
import { downloadExport } from "./export.js";
import { FolderSection, moveDialog } from "./folders.js";
/** @import { Page } from "../api.js" */

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

/**
 * A conversation of the list (`ConversationOut`, the fields shown here).
 * @typedef {object} Conversation
 * @property {string} id
 * @property {string} title
 * @property {string} [title_source] "user" once a person named it
 * @property {boolean} pinned
 * @property {boolean} archived
 * @property {string} updated_at
 * @property {boolean} [running] one of its answers is being generated
 * @property {string | null} [folder_id] the person's folder holding it
 */

/** @typedef {Partial<Pick<Conversation, "title" | "pinned" | "archived" | "folder_id">>} ConversationChanges */

/**
 * What the chat hears from the sidebar.
 * @typedef {object} SidebarOptions
 * @property {string | null} activeId the conversation shown beside it
 * @property {(id: string) => void} onSelect a conversation was picked
 * @property {() => void} onNew "Nueva conversación"
 * @property {(id: string) => void} onDeleted a conversation was deleted
 * @property {(title: string) => void} onTitle the shown conversation was renamed
 * @property {(running: Conversation[]) => void} onRunning the list was refreshed: these have an answer running
 */

export class Sidebar {
  /** @param {SidebarOptions} options */
  constructor({ activeId, onSelect, onNew, onDeleted, onTitle, onRunning }) {
    this.activeId = activeId;
    this.onRunning = onRunning;
    this.onSelect = onSelect;
    this.onNew = onNew;
    this.onDeleted = onDeleted;
    this.onTitle = onTitle;
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
    this.list.addEventListener("focusout", () => setTimeout(() => {
      if (this.pendingRender && !this.interacting()) this.render();
    }));
    this.status = h("div", { class: "list-status", "aria-live": "polite" });
    this.sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
    // The list's own reads (timer, focus, other tabs) are background reads: with the access
    // token expired they stop until the person's next request brings a new one.
    this.again = () => void this.refresh();
    this.folders = new FolderSection({
      onSelect: (id) => this.onSelect(id),
      onChanged: () => void this.refresh(),
      again: this.again,
    });
    this.folders.activeId = activeId;
    this.newButton = h("button", { type: "button", class: "btn btn-primary btn-block", id: "new-chat", onclick: () => this.onNew() }, icon("plus"), "Nueva conversación");
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

  /** Whether the person is using a row: its menu is open or its title is being edited. */
  interacting() {
    const rename = document.activeElement?.closest(".conv-rename");
    return Boolean(this.list.querySelector("[role=menu]:not([hidden])") || (rename && this.list.contains(rename)));
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
    if (focused) this.focusInRow(focused.id, focused.selector);
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
    return { id: row.dataset.id, selector: active?.classList.contains("conv-link") ? ".conv-link" : "[data-action=more]" };
  }

  /** @param {Conversation} conv */
  row(conv) {
    const title = conv.title || "Nueva conversación";
    const link = h("a", { class: "conv-link", href: `#/chat/${encodeURIComponent(conv.id)}`, "aria-current": conv.id === this.activeId ? "page" : null },
      conv.pinned ? icon("pin") : null,
      h("span", { class: "conv-title", text: title }),
      this.folders.nameOf(conv.folder_id) ? h("span", { class: "conv-folder" }, h("span", { class: "sr-only", text: ", en la carpeta " }), this.folders.nameOf(conv.folder_id)) : null,
      conv.running ? h("span", { class: "conv-running", title: "Respuesta en curso" }, h("span", { class: "sr-only", text: "(respuesta en curso)" })) : null,
    );
    link.addEventListener("click", (event) => {
      // A click that opens another tab leaves this screen as it is.
      if (!(event.ctrlKey || event.metaKey || event.shiftKey || event.altKey)) carried = { query: this.query, archived: this.archived };
      this.onSelect(conv.id);
    });
    const more = menuButton(icon("more"), `Más acciones para «${title}»`, () => this.actions(item, conv), { tabindex: "-1", "data-action": "more" });
    const item = h("li", { class: `conv-item${conv.id === this.activeId ? " active" : ""}${conv.running ? " running" : ""}`, dataset: { id: conv.id } },
      link,
      h("div", { class: "conv-actions" }, more.wrap),
    );
    // One tab stop per row: arrows move between rows and to the row's menu button.
    link.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        this.moveFocus(conv.id, event.key === "ArrowDown" ? 1 : -1);
      } else if (event.key === "ArrowRight") {
        event.preventDefault();
        more.button.focus();
      } else if (event.key === "ContextMenu" || (event.key === "F10" && event.shiftKey)) {
        event.preventDefault();
        more.open();
      }
    });
    more.button.addEventListener("keydown", (event) => {
      if (event.key === "ArrowLeft") link.focus();
    });
    return item;
  }

  /**
   * @param {string} id the row the focus is in
   * @param {number} step 1 for the next row, -1 for the previous one
   */
  moveFocus(id, step) {
    const ids = this.shownIds();
    const next = ids[ids.indexOf(id) + step];
    if (next) this.focusInRow(next, ".conv-link");
  }

  /**
   * The entries of a row's "Más acciones" menu.
   * @param {HTMLLIElement} item
   * @param {Conversation} conv
   * @returns {import("../menu.js").MenuEntry[]}
   */
  actions(item, conv) {
    return [
      { label: "Renombrar", action: "rename", run: () => this.rename(item, conv) },
      { label: conv.pinned ? "Desfijar" : "Fijar", action: "pin", run: () => this.patch(conv, { pinned: !conv.pinned }) },
      { label: conv.archived ? "Desarchivar" : "Archivar", action: "archive", run: () => this.patch(conv, { archived: !conv.archived }, conv.archived ? "Conversación restaurada." : "Conversación archivada.") },
      { label: "Mover a carpeta…", action: "move", run: () => this.move(conv) },
      { label: "Exportar en Markdown", action: "export-md", run: () => this.download(conv, "md") },
      { label: "Exportar en JSON", action: "export-json", run: () => this.download(conv, "json") },
      { label: "Eliminar", action: "delete", danger: true, run: () => this.remove(conv) },
    ];
  }

  /**
   * "Mover a carpeta…": the dialog of the person's folders, then the move. The focus comes back
   * to the row's menu button.
   * @param {Conversation} conv
   */
  async move(conv) {
    const title = conv.title || "Nueva conversación";
    const target = await moveDialog(this.folders.folders, conv.folder_id ?? null, title);
    if (target !== null) {
      const name = this.folders.nameOf(target);
      await this.patch(conv, { folder_id: target || null }, name ? `Conversación movida a «${name}».` : "La conversación quedó sin carpeta.");
      await this.folders.load(false);
      this.render();
    }
    this.focusInRow(conv.id, "[data-action=more]");
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
   */
  rename(item, conv) {
    const input = h("input", { class: "input conv-rename", value: conv.title || "", "aria-label": "Nuevo título", maxlength: 200 });
    item.replaceChildren(input);
    input.focus();
    input.select();
    let finished = false;
    const finish = async (/** @type {boolean} */ save, /** @type {boolean} */ keyboard) => {
      if (finished) return;
      finished = true;
      const value = input.value.trim();
      if (save && value && value !== conv.title) await this.patch(conv, { title: value });
      else this.render();
      // Enter or Escape: back to the row's menu (a blur means focus went elsewhere already).
      if (keyboard) this.focusInRow(conv.id, "[data-action=more]");
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true, true);
      if (event.key === "Escape") finish(false, true);
    });
    input.addEventListener("blur", () => finish(true, false));
  }

  /**
   * @param {Conversation} conv
   * @param {ConversationChanges} changes
   * @param {string} [message] a toast once saved
   */
  async patch(conv, changes, message) {
    const generation = this.generation;
    // A filed conversation archived or renamed changes its folder's count or rows ("Mover a
    // carpeta…" reads the folders itself).
    const folderFollows = Boolean(conv.folder_id) && !("folder_id" in changes);
    try {
      /** @type {Conversation} */
      const updated = await api(`/conversations/${encodeURIComponent(conv.id)}`, { method: "PATCH", body: changes });
      if (generation !== this.generation) {
        // The list was asked again while this ran ("Ver archivadas", a search), maybe before
        // the change was saved: asked once more, it shows the conversation where it now belongs.
        void this.refresh();
        if (message) toast(message);
        return;
      }
      const shown = this.shownIds();
      if ("archived" in changes) this.items = this.items.filter((c) => c.id !== conv.id);
      else Object.assign(conv, updated);
      this.render();
      // Archived (or restored), its row left the list, and the focus with it.
      if ("archived" in changes && (!document.activeElement || document.activeElement === document.body)) this.focusInstead(shown, conv.id);
      if (folderFollows) void this.folders.load(false);
      if (message) toast(message);
      if (conv.id === this.activeId && updated.title) this.onTitle(updated.title);
    } catch (err) {
      toast(errorDetail(err, "No se pudo guardar el cambio."), "error");
      this.render();
    }
  }

  /** @param {Conversation} conv */
  async remove(conv) {
    const ok = await confirmDialog("Eliminar conversación", `¿Eliminar «${conv.title || "Nueva conversación"}» y todos sus mensajes? Esta acción no se puede deshacer.`, "Eliminar", true);
    if (!ok) {
      this.focusInRow(conv.id, "[data-action=more]");
      return;
    }
    try {
      await api(`/conversations/${encodeURIComponent(conv.id)}`, { method: "DELETE" });
      const shown = this.shownIds();
      this.items = this.items.filter((c) => c.id !== conv.id);
      this.render();
      if (conv.folder_id) void this.folders.load(false); // its folder's count and rows follow
      toast("Conversación eliminada.");
      this.focusInstead(shown, conv.id);
      this.onDeleted(conv.id);
    } catch (err) {
      toast(errorDetail(err, "No se pudo eliminar."), "error");
      this.focusInRow(conv.id, "[data-action=more]");
    }
  }

  /**
   * Focus the row that took the place of `id`'s, the one above when it was the last, or
   * "Nueva conversación".
   * @param {string[]} shown the rows' ids before `id`'s left (shownIds)
   * @param {string} id
   */
  focusInstead(shown, id) {
    const index = shown.indexOf(id);
    const next = shown.filter((other) => other !== id)[Math.min(index, shown.length - 2)];
    if (next) this.focusInRow(next, ".conv-link");
    else this.newButton.focus();
  }

  /** @returns {string[]} the ids of the rows, in the order shown (pinned first) */
  shownIds() {
    const rows = /** @type {NodeListOf<HTMLElement>} */ (this.list.querySelectorAll(".conv-item"));
    return [...rows].map((row) => row.dataset.id || "");
  }

  /**
   * Focus a control of a conversation's row. Its actions show only while the row has the
   * focus (or the pointer), so the link takes it first.
   * @param {string} id
   * @param {string} selector
   */
  focusInRow(id, selector) {
    const row = this.list.querySelector(`.conv-item[data-id="${CSS.escape(id)}"]`);
    /** @type {HTMLElement | null} */ (row?.querySelector(".conv-link") ?? null)?.focus();
    /** @type {HTMLElement | null} */ (row?.querySelector(selector) ?? null)?.focus();
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
