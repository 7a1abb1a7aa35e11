// @ts-check
// API client: access token in memory only, refresh token in localStorage (see docs/security.md).
// A 401 triggers one silent refresh and one retry; a failed refresh ends the session. A read the
// person did not cause (backgroundRead) never refreshes: it must not keep an idle session alive.

const REFRESH_KEY = "energyapp.refresh";
/** @type {string | null} */
let accessToken = null;
/** @type {Promise<boolean> | null} */
let refreshing = null;
/** @type {(notice?: string) => void} */
let onSessionLost = () => {};
/** @type {Set<() => void>} background reads stopped by an expired token, run again on the next one */
const waiting = new Set();

/**
 * @typedef {object} ApiOptions
 * @property {string} [method] GET unless given
 * @property {unknown} [body] sent as JSON
 * @property {boolean} [auth] send the bearer token (the default); false for the public endpoints
 * @property {boolean} [refresh] false: with no valid access token throw ApiError 401
 *   `session_idle` instead of refreshing, forgetting nothing (backgroundRead's reads)
 * @property {AbortSignal} [signal]
 * @property {Record<string, string>} [headers]
 */

/** @typedef {{ access_token: string, refresh_token: string }} Tokens */

/**
 * One page of a list endpoint; `next_cursor` asks for the next one.
 * @template T
 * @typedef {{ items: T[], next_cursor: string | null }} Page
 */

/** An error answer of the API, or no answer at all (status 0), with its Spanish message. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the server could not be reached
   * @param {string} code the `code` of the error body
   * @param {string} detail a message for the user
   * @param {number | null} [retryAfter] seconds, from Retry-After
   */
  constructor(status, code, detail, retryAfter = null) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

/**
 * The message of an API error, or `fallback` for anything else thrown.
 * @param {unknown} err
 * @param {string} [fallback]
 */
export function errorDetail(err, fallback = "") {
  return (err instanceof ApiError && err.detail) || fallback;
}

/**
 * Whether `err` is the end of a request cancelled with an AbortController.
 * @param {unknown} err
 */
export function isAbort(err) {
  return err instanceof Error && err.name === "AbortError";
}

/**
 * @param {(notice?: string) => void} fn called when the session ends without the user asking
 *   (refresh refused, or the server said so on an answer's stream), with what the login shows
 */
export function setSessionLostHandler(fn) {
  onSessionLost = fn;
}

/**
 * The server ended the session (an answer's stream said `session_ended`): as when a refresh is
 * refused, the tokens are forgotten and the login shows `notice`.
 * @param {string} notice
 */
export function sessionEnded(notice) {
  if (!accessToken && !hasStoredSession()) return; // this tab is signing out: nothing to say
  forgetTokens();
  onSessionLost(notice);
}

/**
 * Call `fn` when another tab of this browser signs out or loses the session (the refresh token
 * they share is removed).
 * @param {() => void} fn
 */
export function onSessionGoneElsewhere(fn) {
  window.addEventListener("storage", (event) => {
    if ((event.key === REFRESH_KEY || event.key === null) && !event.newValue) fn();
  });
}

export function hasStoredSession() {
  return Boolean(localStorage.getItem(REFRESH_KEY));
}

/** @param {Tokens} data */
export function storeTokens(data) {
  accessToken = data.access_token;
  localStorage.setItem(REFRESH_KEY, data.refresh_token);
  const due = [...waiting];
  waiting.clear();
  for (const again of due) again();
}

const sessionIdle = () => new ApiError(401, "session_idle", "La sesión espera una acción de la persona.");

export function forgetTokens() {
  accessToken = null;
  waiting.clear();
  localStorage.removeItem(REFRESH_KEY);
}

export function currentRefreshToken() {
  return localStorage.getItem(REFRESH_KEY);
}

/** @param {Response} response */
async function errorFrom(response) {
  /** @type {{ detail?: unknown, code?: string }} */
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  const retry = response.headers.get("Retry-After");
  let detail = typeof body.detail === "string" ? body.detail : null;
  if (!detail && Array.isArray(body.detail)) detail = "Revise los datos ingresados.";
  if (!detail) detail = response.status >= 500 ? "El servidor tuvo un problema. Intente de nuevo en un momento." : `Error ${response.status}`;
  return new ApiError(response.status, body.code || "error", detail, retry ? Number(retry) : null);
}

/**
 * @returns {Promise<boolean>} false when the server refused the token (it is forgotten)
 * @throws {ApiError} when the server could not answer (down, restarting, no network): the token
 *   is kept for the next try, since an outage says nothing about the session
 */
async function doRefresh() {
  const token = localStorage.getItem(REFRESH_KEY);
  if (!token) return false;
  let response;
  try {
    response = await fetch("/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: token }),
    });
  } catch {
    throw new ApiError(0, "network", "No hay conexión con el servidor. Revise su red e intente de nuevo.");
  }
  if (!response.ok) {
    // Another tab may have rotated the token meanwhile: then the stored one differs, use it.
    if (localStorage.getItem(REFRESH_KEY) !== token) return doRefresh();
    if (response.status >= 500 || response.status === 429) throw await errorFrom(response);
    forgetTokens();
    return false;
  }
  storeTokens(await response.json());
  return true;
}

/**
 * Refresh once for every caller waiting at the same time (and across tabs via Web Locks).
 * @returns {Promise<boolean>} whether a new access token was obtained
 * @throws {ApiError} when the server could not answer (the session is kept)
 */
export function refresh() {
  if (!refreshing) {
    const run = () => doRefresh();
    const locked = navigator.locks ? navigator.locks.request("energyapp-refresh", run) : run();
    refreshing = Promise.resolve(locked).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/**
 * fetch() with the bearer token, one silent refresh on 401, and Spanish errors.
 * @param {string} path
 * @param {ApiOptions} [options]
 * @returns {Promise<Response>} a successful response; anything else throws an ApiError
 */
export async function apiFetch(path, { method = "GET", body, auth = true, refresh: renew = true, signal, headers = {} } = {}) {
  const build = () => {
    /** @type {Record<string, string>} */
    const all = { ...headers };
    if (body !== undefined) all["Content-Type"] = "application/json";
    if (auth && accessToken) all.Authorization = `Bearer ${accessToken}`;
    return { method, headers: all, body: body === undefined ? undefined : JSON.stringify(body), signal };
  };
  if (auth && !accessToken && hasStoredSession()) {
    if (!renew) throw sessionIdle();
    await refresh();
  }
  let response;
  try {
    response = await fetch(path, build());
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(0, "network", "No hay conexión con el servidor. Revise su red e intente de nuevo.");
  }
  if (response.status === 401 && auth) {
    if (!renew) throw sessionIdle();
    if (await refresh()) {
      response = await fetch(path, build());
    }
    if (response.status === 401) {
      forgetTokens();
      onSessionLost();
      throw await errorFrom(response);
    }
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

/**
 * The answer's JSON (its shape is the endpoint's: callers name it), its text, or null on 204.
 * @param {string} path
 * @param {ApiOptions} [options]
 * @returns {Promise<any>}
 */
export async function api(path, options = {}) {
  const response = await apiFetch(path, options);
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

/**
 * A read the person did not cause (a timer, the tab's focus, another tab's news): the one kind
 * of request that never refreshes the session, which would keep an idle one alive for ever (a
 * visible tab left alone must still reach refresh_idle_days). Once the access token has expired
 * it resolves to `undefined` and calls `again` once, when this tab next gets a new token (the
 * person's next request refreshes it, or a sign-in); a caller that reads on a timer stops its
 * timer meanwhile. Any other failure throws, as api() does.
 * @param {string} path
 * @param {() => void} again the same function each time (it is queued once)
 * @returns {Promise<any>} the answer as api() gives it, or undefined while the session waits
 */
export async function backgroundRead(path, again) {
  try {
    return await api(path, { refresh: false });
  } catch (err) {
    if (!(err instanceof ApiError && err.code === "session_idle")) throw err;
    waiting.add(again);
    return undefined;
  }
}

/**
 * A query string ("?a=1&b=x", or "" when empty) of the parameters that have a value.
 * @param {Record<string, string | number | null | undefined>} params
 */
export function qs(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export async function logout() {
  const token = currentRefreshToken();
  const access = accessToken;
  // Forgotten first: this tab's own answer streams, which the logout ends (`session_ended`),
  // must not take it for a session ended elsewhere.
  forgetTokens();
  if (token) await fetch("/auth/logout", { method: "POST", headers: { "Content-Type": "application/json", ...(access ? { Authorization: `Bearer ${access}` } : {}) }, body: JSON.stringify({ refresh_token: token }) });
}
