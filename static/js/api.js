// API client: access token in memory only, refresh token in localStorage (see docs/security.md).
// A 401 triggers one silent refresh and one retry; a failed refresh ends the session.

const REFRESH_KEY = "energyapp.refresh";
let accessToken = null;
let refreshing = null;
let onSessionLost = () => {};

export class ApiError extends Error {
  constructor(status, code, detail, retryAfter = null) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

export function setSessionLostHandler(fn) {
  onSessionLost = fn;
}

export function hasStoredSession() {
  return Boolean(localStorage.getItem(REFRESH_KEY));
}

export function storeTokens(data) {
  accessToken = data.access_token;
  localStorage.setItem(REFRESH_KEY, data.refresh_token);
}

export function forgetTokens() {
  accessToken = null;
  localStorage.removeItem(REFRESH_KEY);
}

export function currentRefreshToken() {
  return localStorage.getItem(REFRESH_KEY);
}

async function errorFrom(response) {
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

async function doRefresh() {
  const token = localStorage.getItem(REFRESH_KEY);
  if (!token) return false;
  const response = await fetch("/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: token }),
  });
  if (!response.ok) {
    // Another tab may have rotated the token meanwhile: then the stored one differs, use it.
    if (localStorage.getItem(REFRESH_KEY) !== token) return doRefresh();
    forgetTokens();
    return false;
  }
  storeTokens(await response.json());
  return true;
}

/** Refresh once for every caller waiting at the same time (and across tabs via Web Locks). */
export function refresh() {
  if (!refreshing) {
    const run = () => doRefresh().catch(() => false);
    const locked = navigator.locks ? navigator.locks.request("energyapp-refresh", run) : run();
    refreshing = Promise.resolve(locked).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/** fetch() with the bearer token, one silent refresh on 401, and Spanish errors. */
export async function apiFetch(path, { method = "GET", body, auth = true, signal, headers = {} } = {}) {
  const build = () => {
    const all = { ...headers };
    if (body !== undefined) all["Content-Type"] = "application/json";
    if (auth && accessToken) all.Authorization = `Bearer ${accessToken}`;
    return { method, headers: all, body: body === undefined ? undefined : JSON.stringify(body), signal };
  };
  if (auth && !accessToken && hasStoredSession()) await refresh();
  let response;
  try {
    response = await fetch(path, build());
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network", "No hay conexión con el servidor. Revise su red e intente de nuevo.");
  }
  if (response.status === 401 && auth) {
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

export async function api(path, options = {}) {
  const response = await apiFetch(path, options);
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export function qs(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export async function logout() {
  const token = currentRefreshToken();
  try {
    if (token) await fetch("/auth/logout", { method: "POST", headers: { "Content-Type": "application/json", ...(accessToken ? { Authorization: `Bearer ${accessToken}` } : {}) }, body: JSON.stringify({ refresh_token: token }) });
  } finally {
    forgetTokens();
  }
}
