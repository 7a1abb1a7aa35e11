// @ts-check
// A conversation's row, wherever the sidebar draws one (the whole list's day groups, an open
// folder): its link and its "Más acciones" menu button, one tab stop (↑/↓ between the rows of
// its list, → to the menu button, Shift+F10 opens the menu), and RowPlace: the rows of one list,
// where the focus goes after a row's action (the same control, else a neighbour, never <body>).
import { h, icon } from "../dom.js";
import { inOpenMenu, menuButton } from "../menu.js";
/** @import { MenuEntry } from "../menu.js" */

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

/** The selector of a row's menu button, the control an action gives the focus back to. */
export const MORE = "[data-action=more]";

/** The rows of one list, found again inside a root that outlives their drawing. */
export class RowPlace {
  /**
   * @param {HTMLElement} root
   * @param {string} rows the selector of this list's rows inside `root`
   * @param {() => void} fallback focus what stands for the list once no row is left
   */
  constructor(root, rows, fallback) {
    this.root = root;
    this.rows = rows;
    this.fallback = fallback;
  }

  /** @returns {string[]} the ids of the rows, in the order shown */
  shownIds() {
    const rows = /** @type {NodeListOf<HTMLElement>} */ (this.root.querySelectorAll(this.rows));
    return [...rows].map((row) => row.dataset.id || "");
  }

  /**
   * Focus a control of a conversation's row. Its actions show only while the row has the
   * focus (or the pointer), so the link takes it first. The focus stays in a menu the person
   * opened meanwhile (an action's end arriving after they moved on).
   * @param {string} id
   * @param {string} selector
   * @returns {boolean} whether the row is there
   */
  focusInRow(id, selector) {
    const row = this.root.querySelector(`${this.rows}[data-id="${CSS.escape(id)}"]`);
    if (inOpenMenu()) return Boolean(row);
    /** @type {HTMLElement | null} */ (row?.querySelector(".conv-link") ?? null)?.focus();
    /** @type {HTMLElement | null} */ (row?.querySelector(selector) ?? null)?.focus();
    return Boolean(row);
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
   * Focus the row that took the place of `id`'s, the one above when it was the last, or the
   * list's fallback.
   * @param {string[]} shown the rows' ids before `id`'s left (shownIds)
   * @param {string} id
   */
  focusInstead(shown, id) {
    if (inOpenMenu()) return;
    const index = shown.indexOf(id);
    const next = shown.filter((other) => other !== id)[Math.min(index, shown.length - 2)];
    if (!next || !this.focusInRow(next, ".conv-link")) this.fallback();
  }

  /**
   * After an action: the same control of `id`'s row while it is still in this list, else
   * where its row was (focusInstead).
   * @param {string[]} shown the rows' ids before the action
   * @param {string} id
   * @param {string} selector
   */
  settle(shown, id, selector) {
    if (!this.focusInRow(id, selector)) this.focusInstead(shown, id);
  }
}

/**
 * How a row is drawn.
 * @typedef {object} RowOptions
 * @property {RowPlace} place the list it is drawn in
 * @property {boolean} active the conversation shown beside the sidebar
 * @property {string | null} folderName its folder, written after the title (the whole list)
 * @property {(event: MouseEvent) => void} onOpen its link was followed
 * @property {(item: HTMLLIElement) => MenuEntry[]} entries its menu, read when it opens
 */

/**
 * @param {Conversation} conv
 * @param {RowOptions} options
 * @returns {HTMLLIElement}
 */
export function conversationRow(conv, { place, active, folderName, onOpen, entries }) {
  const title = conv.title || "Nueva conversación";
  const link = h("a", { class: "conv-link", href: `#/chat/${encodeURIComponent(conv.id)}`, "aria-current": active ? "page" : null },
    conv.pinned ? icon("pin") : null,
    h("span", { class: "conv-title", text: title }),
    folderName ? h("span", { class: "conv-folder" }, h("span", { class: "sr-only", text: ", en la carpeta " }), folderName) : null,
    conv.running ? h("span", { class: "conv-running", title: "Respuesta en curso" }, h("span", { class: "sr-only", text: "(respuesta en curso)" })) : null,
  );
  link.addEventListener("click", onOpen);
  const more = menuButton(icon("more"), `Más acciones para «${title}»`, () => entries(item), { tabindex: "-1", "data-action": "more" });
  const item = h("li", { class: `conv-item${active ? " active" : ""}${conv.running ? " running" : ""}`, dataset: { id: conv.id } },
    link,
    h("div", { class: "conv-actions" }, more.wrap),
  );
  link.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      place.moveFocus(conv.id, event.key === "ArrowDown" ? 1 : -1);
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
