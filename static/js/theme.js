// @ts-check
// Applies the theme as early as possible and exposes a setter. "Sistema" (the default) follows
// the computer's light or dark setting, also when it changes while the page is open; a choice
// is remembered in this browser and applied in its other tabs at once (the storage event).
const KEY = "energyapp.theme";
const DARK = window.matchMedia("(prefers-color-scheme: dark)");

/** @typedef {"light" | "dark"} Theme */
/** @typedef {Theme | "system"} ThemeChoice */

/** @returns {ThemeChoice} what was chosen in this browser ("system" if nothing) */
export function themeChoice() {
  const saved = localStorage.getItem(KEY);
  return saved === "light" || saved === "dark" ? saved : "system";
}

/** @returns {Theme} the theme shown: the one chosen, else the system's */
function currentTheme() {
  const choice = themeChoice();
  if (choice !== "system") return choice;
  return DARK.matches ? "dark" : "light";
}

/** @param {Theme} theme */
function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const light = /** @type {HTMLLinkElement | null} */ (document.getElementById("hljs-light"));
  const dark = /** @type {HTMLLinkElement | null} */ (document.getElementById("hljs-dark"));
  if (light && dark) {
    light.disabled = theme === "dark";
    dark.disabled = theme !== "dark";
  }
}

/** @param {ThemeChoice} choice */
export function setTheme(choice) {
  if (choice === "system") localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, choice);
  applyTheme(currentTheme());
}

DARK.addEventListener("change", () => applyTheme(currentTheme()));
window.addEventListener("storage", (event) => {
  if (event.key === KEY || event.key === null) {
    applyTheme(currentTheme());
    window.dispatchEvent(new Event("energyapp:theme"));
  }
});
applyTheme(currentTheme());
