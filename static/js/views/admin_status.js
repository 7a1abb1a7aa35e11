// @ts-check
// "Estado" (admins only): what the server is doing right now (GET /admin/status): the model
// servers, the answers being written and waiting in every app process (who, never what), today's
// answers, the database and Redis. Read again every 10 s while the tab is visible and this
// screen is shown; those reads are not the person's doing, so they go through backgroundRead
// (they never refresh the session) and stop once the access token has expired, until this tab
// gets a new one. "Actualizar" is the person's own read. Nothing is announced on a timed read:
// only "Actualizar" says, politely, that it has read again. "Detener" on a row stops that answer
// (POST /admin/status/work/{id}/stop) after a confirmation; the table is read again and the focus
// goes to the next row's "Detener" (or "Actualizar" when none is left).
import { api, backgroundRead, errorDetail } from "../api.js";
import { h, formatDate, ROLE_LABELS, confirmDialog, toast } from "../dom.js";
import { errorBox } from "./admin_common.js";
import { formatCount } from "../plural.js";
/** @import { Role } from "../state.js" */

/** @typedef {{ name: string, size: number, expires_at: string | null }} LoadedModel */
/** @typedef {{ url: string, reachable: boolean, version: string | null, stand_in: boolean, loaded: LoadedModel[] | null, slots: number, num_ctx: number }} ModelServer */
/**
 * An answer (or a title) being written or waiting (`WorkOut`).
 * @typedef {object} Work
 * @property {string} id
 * @property {string | null} user_id null: a title, background work
 * @property {string | null} full_name
 * @property {string | null} email
 * @property {Role | null} role
 * @property {"chat" | "continuation" | "api" | "title"} kind
 * @property {"writing" | "waiting"} state
 * @property {number | null} position 1: next
 * @property {number} seconds since it started writing, or began to wait
 * @property {boolean} stoppable an admin may stop it (not a title)
 */
/** @typedef {{ available: boolean, broker: "local" | "redis", running: Work[], waiting: Work[], longest_wait_seconds: number | null, estimated_wait_seconds: number | null }} Queue */
/** @typedef {{ day: string, finished: number, failed: number, stopped: number, cut: number, avg_first_token_ms: number | null, p95_first_token_ms: number | null }} Today */
/** @typedef {{ generated_at: string, servers: ModelServer[], queue: Queue, today: Today, database: "ok" | "error", redis: "ok" | "down" | null }} ServerStatus */

const POLL_MS = 10_000;
const KIND_LABELS = { chat: "Chat", continuation: "Continuación", api: "API", title: "Título automático" };
// What Ollama reports for a model kept loaded with no end (keep_alive -1).
const FOREVER_YEAR = 2200;

/**
 * "45 s", "3 min 05 s", "1 h 02 min".
 * @param {number} seconds
 */
function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** @param {number} bytes */
function gigabytes(bytes) {
  return `${(bytes / 1e9).toLocaleString("es-CL", { maximumFractionDigits: 1 })} GB`;
}

/** @param {string | null} iso */
function until(iso) {
  if (!iso) return "sin dato";
  return new Date(iso).getUTCFullYear() >= FOREVER_YEAR ? "sin plazo" : `hasta el ${formatDate(iso)}`;
}

/** Which answer the confirmation names (a title is not stopped). */
const KIND_WORDS = /** @type {Record<string, string>} */ ({ chat: "del chat ", continuation: "continuada ", api: "de la API " });

/**
 * @param {HTMLElement} body
 * @returns {() => void} stops the timed reads
 */
export function renderStatus(body) {
  const refreshButton = h("button", { type: "button", class: "btn btn-sm btn-primary", id: "status-refresh", text: "Actualizar" });
  const stamp = h("span", { class: "muted small", id: "status-stamp" });
  const said = h("span", { class: "sr-only", "aria-live": "polite", id: "status-said" });
  const status = h("div");
  const servers = h("div", { id: "status-servers" });
  const now = h("div", { id: "status-now" });
  const today = h("div", { id: "status-today" });
  body.append(
    h("div", { class: "toolbar" }, refreshButton, stamp, said),
    status,
    h("section", { class: "card", "aria-labelledby": "status-servers-title" }, h("h2", { id: "status-servers-title", text: "Servidores del modelo" }), servers),
    h("section", { class: "card", "aria-labelledby": "status-now-title" }, h("h2", { id: "status-now-title", text: "Ahora" }), now),
    h("section", { class: "card", "aria-labelledby": "status-today-title" }, h("h2", { id: "status-today-title", text: "Hoy" }), today),
  );

  let shown = true;
  let idle = false;  // the access token expired under a timed read: wait for a new one
  let generation = 0;
  /** @type {number | undefined} */
  let timer;
  let lastError = "";

  const schedule = () => {
    clearTimeout(timer);
    if (shown && !idle && document.visibilityState === "visible") timer = setTimeout(() => { void read(false); }, POLL_MS);
  };
  const again = () => { if (shown && idle) void read(false); };
  /**
   * @param {boolean} asked the person's own read ("Actualizar", or after "Detener")
   * @param {boolean} [say] announce it (only "Actualizar": a stop says so itself)
   */
  const read = async (asked, say = asked) => {
    if (!shown) return;
    const mine = ++generation;
    clearTimeout(timer);
    idle = false;
    try {
      /** @type {ServerStatus | undefined} */
      const data = asked ? await api("/admin/status") : await backgroundRead("/admin/status", again);
      if (mine !== generation || !shown) return;
      if (data === undefined) {
        idle = true;
        return;
      }
      lastError = "";
      status.replaceChildren();
      show(data);
      if (say) said.textContent = `Estado actualizado a las ${stamp.dataset.time}.`;
    } catch (err) {
      if (mine !== generation || !shown) return;
      // The same failure again is not said again (a timed read every 10 s).
      const box = errorBox(err);
      if (asked || box.textContent !== lastError) status.replaceChildren(box);
      lastError = box.textContent || "";
    }
    if (mine === generation) schedule();
  };
  /** @param {ServerStatus} data */
  const show = (data) => {
    const time = new Date(data.generated_at).toLocaleTimeString("es-CL", { timeZone: "America/Santiago" });
    stamp.dataset.time = time;
    stamp.textContent = `Actualizado a las ${time}; se actualiza cada 10 segundos.`;
    servers.replaceChildren(...data.servers.map(serverBlock), servicesList(data));
    now.replaceChildren(...queueBlock(data.queue, stopWork));
    today.replaceChildren(todayList(data.today));
  };
  /**
   * The focus after a stop, or a cancelled one whose row was drawn again meanwhile: the row's
   * "Detener" at `index` (the next one once the stopped row is gone), else "Actualizar".
   * @param {number} index
   */
  const focusRow = (index) => {
    const buttons = now.querySelectorAll("button[data-action=stop-work]");
    const target = /** @type {HTMLElement | undefined} */ (buttons[Math.min(index, buttons.length - 1)]);
    (target ?? refreshButton).focus();
  };
  /**
   * @param {Work} work
   * @param {HTMLButtonElement} button the row's "Detener"
   */
  const stopWork = async (work, button) => {
    const index = [...now.querySelectorAll("button[data-action=stop-work]")].indexOf(button);
    const who = work.full_name ? `${work.full_name}${work.email ? ` (${work.email})` : ""}` : "una cuenta eliminada";
    const what = work.state === "writing" ? "que se está escribiendo" : "que espera su turno";
    const kind = KIND_WORDS[work.kind] ?? "";
    const question = `¿Detener la respuesta ${kind}${what} para ${who}? Lo escrito hasta ahora queda guardado y la persona verá «Un administrador detuvo esta respuesta.».`;
    if (!(await confirmDialog("Detener respuesta", question, "Detener", true))) {
      if (!button.isConnected) focusRow(index);  // a timed read drew the table again
      return;
    }
    try {
      const done = await api(`/admin/status/work/${encodeURIComponent(work.id)}/stop`, { method: "POST" });
      // "stopping": another server was asked to stop it and had not yet confirmed it
      toast(done?.status === "stopping" ? "Se pidió detener la respuesta; puede tardar unos segundos." : "Respuesta detenida.");
    } catch (err) {
      toast(errorDetail(err, "No se pudo detener la respuesta."), "error");
    }
    await read(true, false);
    focusRow(index);
  };
  const onVisibility = () => {
    if (document.visibilityState === "visible") void read(false);
    else clearTimeout(timer);
  };

  refreshButton.addEventListener("click", () => { said.textContent = ""; void read(true); });
  document.addEventListener("visibilitychange", onVisibility);
  void read(false);
  return () => {
    shown = false;
    generation += 1;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
  };
}

/** @param {ModelServer} server */
function serverBlock(server) {
  const loaded = server.loaded === null
    ? h("p", { class: "muted", text: "No informó qué modelos tiene en memoria." })
    : server.loaded.length
      ? h("ul", { class: "status-models" }, server.loaded.map((m) => h("li", { text: `${m.name}: ${gigabytes(m.size)} en memoria, ${until(m.expires_at)}` })))
      : h("p", { class: "muted", text: "Ningún modelo en memoria (el próximo mensaje lo cargará y tardará más)." });
  return h("div", { class: "status-server", dataset: { url: server.url } },
    h("h3", { class: "wrap" }, server.url, " ",
      h("span", { class: `pill ${server.reachable ? "pill-ok" : "pill-off"}`, text: server.reachable ? "Responde" : "No responde" }),
      server.stand_in ? h("span", { class: "pill stand-in-label", text: "Ollama de reemplazo (demostración)" }) : null),
    h("dl", { class: "kv" },
      h("dt", { text: "Versión" }), h("dd", { text: server.version || "—" }),
      h("dt", { text: "Respuestas a la vez" }), h("dd", { text: String(server.slots) }),
      h("dt", { text: "Contexto (num_ctx)" }), h("dd", { text: `${formatCount(server.num_ctx)} tokens` })),
    h("h4", { text: "Modelos en memoria" }), loaded);
}

/** @param {ServerStatus} data */
function servicesList(data) {
  const redis = data.redis === null ? "No se usa (un solo proceso)" : data.redis === "ok" ? "Responde" : "No responde";
  return h("dl", { class: "kv status-services" },
    h("dt", { text: "Base de datos" }), h("dd", { text: data.database === "ok" ? "Responde" : "No responde" }),
    h("dt", { text: "Redis" }), h("dd", { text: redis }));
}

/**
 * @param {Queue} queue
 * @param {(work: Work, button: HTMLButtonElement) => void} stop "Detener" on a row
 */
function queueBlock(queue, stop) {
  if (!queue.available) return [h("p", { class: "alert alert-error", text: "No se pudo leer la cola compartida: Redis no responde." })];
  const items = [...queue.running, ...queue.waiting];
  const estimate = queue.estimated_wait_seconds;
  const summary = h("p", { class: "muted", id: "status-summary" },
    `Escribiendo: ${formatCount(queue.running.length)}. En espera: ${formatCount(queue.waiting.length)}.`,
    queue.longest_wait_seconds !== null ? ` Espera más larga: ${duration(queue.longest_wait_seconds)}.` : "",
    estimate === null ? " Aún no se puede estimar cuánto esperaría quien pregunte ahora."
      : estimate === 0 ? " Quien pregunte ahora no esperará: hay un espacio libre."
        : ` Quien pregunte ahora esperará unos ${duration(estimate)}.`);
  if (!items.length) return [summary, h("p", { class: "muted", id: "status-empty", text: "No hay respuestas en curso." })];
  return [summary, h("div", { class: "table-wrap" }, h("table", { class: "data cards-on-phone", id: "status-queue" },
    h("caption", { class: "sr-only", text: "Respuestas que se escriben y que esperan" }),
    h("thead", {}, h("tr", {}, ["Persona", "Rol", "Tipo", "Estado", "Desde", "Acciones"].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, items.map((work) => workRow(work, stop)))))];
}

/**
 * @param {Work} work
 * @param {(work: Work, button: HTMLButtonElement) => void} stop
 */
function workRow(work, stop) {
  const who = work.full_name ?? (work.user_id ? "una cuenta eliminada" : "");
  const button = work.stoppable
    ? h("button", { type: "button", class: "btn btn-sm btn-danger", "data-action": "stop-work", "aria-label": `Detener la respuesta de ${who}`, text: "Detener" })
    : null;
  button?.addEventListener("click", () => stop(work, button));
  const state = work.state === "writing" ? "Escribiendo" : work.position !== null ? `En espera (n.º ${work.position})` : "En espera";
  return h("tr", { dataset: { workId: work.id, state: work.state } },
    // One block: as a card at 375 px, the name and the e-mail stay together on the right.
    h("td", { class: "wrap", "data-label": "Persona" }, h("div", {}, work.full_name ?? (work.user_id ? "Cuenta eliminada" : "—"), work.email ? h("div", { class: "muted small", text: work.email }) : null)),
    h("td", { "data-label": "Rol", text: work.role ? ROLE_LABELS[work.role] : "—" }),
    h("td", { "data-label": "Tipo", text: KIND_LABELS[work.kind] || work.kind }),
    h("td", { "data-label": "Estado", text: state }),
    h("td", { "data-label": "Desde", text: `hace ${duration(work.seconds)}` }),
    h("td", { "data-label": "Acciones" }, button ?? h("span", { class: "muted", text: "—" })));
}

/** @param {Today} day */
function todayList(day) {
  /** @param {number | null} ms */
  const seconds = (ms) => ms === null ? "sin datos" : `${(ms / 1000).toLocaleString("es-CL", { maximumFractionDigits: 1 })} s`;
  return h("dl", { class: "kv status-today-list" },
    h("dt", { text: "Terminadas" }), h("dd", { text: formatCount(day.finished) }),
    h("dt", { text: "Cortadas por el largo máximo" }), h("dd", { text: formatCount(day.cut) }),
    h("dt", { text: "Con error" }), h("dd", { text: formatCount(day.failed) }),
    h("dt", { text: "Detenidas" }), h("dd", { text: formatCount(day.stopped) }),
    h("dt", { text: "Primer token, promedio" }), h("dd", { text: seconds(day.avg_first_token_ms) }),
    h("dt", { text: "Primer token, 95 % de las veces bajo" }), h("dd", { text: seconds(day.p95_first_token_ms) }));
}
