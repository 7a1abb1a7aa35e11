// @ts-check
// Hash navigation shared by app.js, which draws the screen for an address, and the views, which
// only ask to go somewhere: a view imports this module, never app.js (that would be a cycle).

const AFTER_LOGIN = "energyapp.after-login";
/** @type {() => void} */
let render = () => {};

/**
 * Draw the screen for the current address, now and on every change of it (app.js, once).
 * @param {() => Promise<void>} draw
 */
export function startRouter(draw) {
  render = draw;
  window.addEventListener("hashchange", draw);
  return draw();
}

/**
 * Go to `hash`; when it is already the address, draw it again (no hashchange fires then).
 * @param {string} hash such as "#/chat"
 */
export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

/** To the login screen, coming back to the current address once signed in. */
export function loginFirst() {
  sessionStorage.setItem(AFTER_LOGIN, location.hash);
  navigate("#/login");
}

/** Signed in: back to the address that asked for the login, or to the chat. */
export function afterLogin() {
  const wanted = sessionStorage.getItem(AFTER_LOGIN);
  sessionStorage.removeItem(AFTER_LOGIN);
  navigate(wanted && !wanted.startsWith("#/login") ? wanted : "#/chat");
}
