// @ts-check
// Applies the remembered theme as early as possible and exposes a setter.
const KEY = "energyapp.theme";

/** @typedef {"light" | "dark"} Theme */

/** @returns {Theme} the one chosen in this browser, else the system's */
export function currentTheme() {
  const saved = localStorage.getItem(KEY);
  if (saved === "light" || saved === "dark") return saved;
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

/** @param {Theme} theme */
export function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const light = /** @type {HTMLLinkElement | null} */ (document.getElementById("hljs-light"));
  const dark = /** @type {HTMLLinkElement | null} */ (document.getElementById("hljs-dark"));
  if (light && dark) {
    light.disabled = theme === "dark";
    dark.disabled = theme !== "dark";
  }
}

/** @param {Theme} theme */
export function setTheme(theme) {
  localStorage.setItem(KEY, theme);
  applyTheme(theme);
}

applyTheme(currentTheme());
