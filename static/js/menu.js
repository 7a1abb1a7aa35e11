// @ts-check
// A menu button (WAI-ARIA APG "menu button" pattern): the button opens a role="menu" list of
// role="menuitem" buttons; arrows, Home and End move between them, Escape closes and returns to
// the button, Tab or a click elsewhere closes. menuButton() builds one (the sidebar's rows);
// menuKeys() gives a menu built elsewhere (the profile's) the same behaviour.
import { h } from "./dom.js";

/**
 * One entry of the menu.
 * @typedef {object} MenuEntry
 * @property {string} label its visible text (and accessible name)
 * @property {() => void} run what choosing it does (after the menu closes)
 * @property {string} [action] its `data-action`, for tests and focus targets
 * @property {boolean} [danger]
 */

let counter = 0;

/** The event a menu's wrap sends (it bubbles) each time the menu closes. */
export const MENU_CLOSED = "energyapp:menuclosed";

/**
 * Whether the focus is in an open menu: the person chose to be there, so the end of an earlier
 * action (a list read again, a row settled) leaves the focus and that menu alone.
 * @returns {boolean}
 */
export function inOpenMenu() {
  const menu = document.activeElement?.closest("[role=menu]");
  return menu instanceof HTMLElement && !menu.hidden;
}

/**
 * Whether `root` holds an open menu: drawing it again would take that menu from under the
 * pointer (and the focus with it), so its drawing waits until the menu closes.
 * @param {HTMLElement} root
 * @returns {boolean}
 */
export function hasOpenMenu(root) {
  return Boolean(root.querySelector("[role=menu]:not([hidden])"));
}

/**
 * @param {Node} content what the button shows (an icon)
 * @param {string} label its accessible name
 * @param {() => MenuEntry[]} entries read when the menu opens (labels can depend on state)
 * @param {Record<string, unknown>} [extra] more attributes for the button, as for h()
 * @returns {{ wrap: HTMLElement, button: HTMLButtonElement, open: () => void }}
 */
export function menuButton(content, label, entries, extra = {}) {
  counter += 1;
  const id = `menu-${counter}`;
  const menu = h("div", { class: "menu popup-menu", role: "menu", id, "aria-label": label, hidden: true });
  const button = h("button", { type: "button", class: "icon-btn", "aria-label": label, title: label, "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": id, ...extra }, content);
  const wrap = h("div", { class: "menu-wrap" }, button, menu);
  const { open, close } = menuKeys(button, menu, wrap, () => menu.replaceChildren(...entries().map((entry) =>
    menuItem(close, entry.run, { class: `menu-item${entry.danger ? " danger" : ""}`, "data-action": entry.action }, entry.label))));
  return { wrap, button, open: () => open() };
}

/**
 * One item of a menu: choosing it closes the menu (the focus back on its button), then acts.
 * @param {(refocus: boolean) => void} close the menu's, from menuKeys()
 * @param {() => void} run
 * @param {Record<string, unknown>} attrs more attributes, as for h()
 * @param {...import("./dom.js").Child} content
 */
export function menuItem(close, run, attrs, ...content) {
  return h("button", {
    type: "button", role: "menuitem", tabindex: "-1", class: "menu-item", ...attrs,
    onclick: () => {
      close(true);
      run();
    },
  }, ...content);
}

/**
 * The menu button's behaviour, for a button and its role="menu" (hidden, inside `wrap` with the
 * button): opening, closing, the keys, a press elsewhere.
 * @param {HTMLButtonElement} button
 * @param {HTMLElement} menu
 * @param {HTMLElement} wrap a press outside it closes the menu
 * @param {() => void} [fill] draws the items before each opening
 * @returns {{ open: (last?: boolean) => void, close: (refocus: boolean) => void }} open: on its
 *   first (or last) item; close: the focus back on the button when `refocus`
 */
export function menuKeys(button, menu, wrap, fill = () => {}) {
  const items = () => /** @type {HTMLButtonElement[]} */ ([...menu.querySelectorAll("[role=menuitem]")]);
  /** @param {MouseEvent} event */
  const outside = (event) => {
    if (!(event.target instanceof Node && wrap.contains(event.target))) close(false);
  };
  /** @param {boolean} refocus */
  const close = (refocus) => {
    if (menu.hidden) return;
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    document.removeEventListener("pointerdown", outside, true);
    if (refocus) button.focus();
    // Said to the lists that hold a drawing while a menu is open: a menu can close with no
    // focus change in them (a press elsewhere after the focus had gone to <body>).
    wrap.dispatchEvent(new Event(MENU_CLOSED, { bubbles: true }));
  };
  const open = (last = false) => {
    fill();
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    document.addEventListener("pointerdown", outside, true);
    const all = items();
    all[last ? all.length - 1 : 0]?.focus();
  };
  button.addEventListener("click", () => (menu.hidden ? open() : close(true)));
  button.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      open(event.key === "ArrowUp");
    }
  });
  menu.addEventListener("keydown", (event) => {
    const all = items();
    const index = all.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement));
    /** @type {Record<string, number>} */
    const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: all.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      all[(moves[event.key] + all.length) % all.length]?.focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close(true);
    } else if (event.key === "Tab") {
      close(false);
    }
  });
  return { open, close };
}
