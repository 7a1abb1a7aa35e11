// @ts-check
// The window's title, with one owner: each screen names itself (app.js; the chat, its
// conversation, also while an answer streams), and an answer that ends while the tab is hidden
// puts a short mark before that name ("(✓) ", "(!) "), so the tab says it from the tab bar. The
// mark goes as soon as the tab is seen again; a new name keeps it meanwhile.

let name = document.title;
let mark = "";

function show() {
  document.title = mark ? `${mark} ${name}` : name;
}

/** @param {string} text the screen's name, such as "Configuración · EnergyApp" */
export function setPageTitle(text) {
  name = text;
  show();
}

/**
 * Put `text` before the title while the tab is hidden; a visible tab needs no mark.
 * @param {string} text such as "(✓)"
 */
export function markPageTitle(text) {
  if (document.visibilityState !== "hidden") return;
  mark = text;
  show();
}

/** The tab is seen again, or its person signed out: the title is the screen's name alone. */
export function clearPageMark() {
  if (!mark) return;
  mark = "";
  show();
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") clearPageMark();
});
