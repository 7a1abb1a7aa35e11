// @ts-check
// The chat's model: the picker (several models) or name (one) in the composer, the note under it
// (a real model or the stand-in), and the band above it while the model service is down.
import { api } from "../../api.js";
import { h, clear } from "../../dom.js";

/** @typedef {{ name: string, stand_in?: boolean, missing?: boolean }} ModelChoice */
/** @typedef {{ default_model: string, models: ModelChoice[] }} ModelsAnswer GET /models (`ModelsOut`) */

const MODEL_KEY = "energyapp.model";
const NOTE_REAL = "EnergyApp responde con un modelo local; verifique la información importante.";
const NOTE_STAND_IN = "Modo de demostración: responde un Ollama de reemplazo con texto sintético, no un modelo real.";
const MODEL_DOWN = "El servicio del modelo no está disponible en este momento: sus mensajes no se podrán responder hasta que vuelva.";
const HEALTH_EVERY_MS = 30_000;
/** @type {Promise<ModelsAnswer> | null} GET /models once per page load (a reload shows a model pulled since) */
let modelsRequest = null;

export class ModelService {
  // Set by load() once GET /models answers.
  /** @type {ModelChoice[] | undefined} */ models;
  /** @type {string | undefined} */ defaultModel;
  /** @type {string | undefined} */ model;

  constructor() {
    this.destroyed = false;
    this.slot = h("span", { class: "model-slot" });
    this.note = h("p", { class: "composer-note", id: "composer-note", text: NOTE_REAL });
    this.warning = h("p", { class: "alert alert-warn composer-warning", id: "model-warning", role: "status", hidden: true, text: MODEL_DOWN });
  }

  /** Ask `GET /health` now and every 30 s, until destroy(). */
  watchHealth() {
    this.check();
    this.healthTimer = setInterval(() => this.check(), HEALTH_EVERY_MS);
  }

  destroy() {
    this.destroyed = true;
    clearInterval(this.healthTimer);
  }

  /** @returns {string | undefined} the model to ask for, when it is not the server's default */
  get requested() {
    return this.model && this.model !== this.defaultModel ? this.model : undefined;
  }

  /** The model picker (several models) or name (one), and the stand-in's label wherever it answers. */
  async load() {
    modelsRequest ??= api("/models").catch((err) => {
      modelsRequest = null; // Ollama down: try again on the next screen; the chat reports the error
      throw err;
    });
    let data;
    try {
      data = await modelsRequest;
    } catch {
      return;
    }
    if (this.destroyed || !data.models.length) return;
    // The default model not pulled: still shown (a message to it explains what to run), with
    // the ones that are offered beside it to pick from.
    const missing = !data.models.some((m) => m.name === data.default_model);
    this.models = missing ? [{ name: data.default_model, missing: true }, ...data.models] : data.models;
    this.defaultModel = data.default_model;
    const stored = localStorage.getItem(MODEL_KEY);
    this.model = stored !== null && data.models.some((m) => m.name === stored) ? stored : data.default_model;
    clear(this.slot);
    if (this.models.length > 1) {
      const label = (/** @type {ModelChoice} */ m) => (m.missing ? `${m.name} (no disponible)` : m.stand_in ? `${m.name} (reemplazo)` : m.name);
      const select = h("select", { class: "model-select", id: "model-select", "aria-label": "Modelo" },
        this.models.map((m) => h("option", { value: m.name, text: label(m) })));
      select.value = this.model;
      select.addEventListener("change", () => {
        this.model = select.value;
        localStorage.setItem(MODEL_KEY, select.value);
        this.showNote();
      });
      this.slot.appendChild(select);
    } else {
      this.slot.appendChild(h("span", { class: "model-name", id: "model-name", title: "Modelo", text: this.model }));
    }
    this.showNote();
  }

  /** Warn above the composer while `GET /health` says Ollama is down. */
  async check() {
    let health;
    try {
      health = await api("/health", { auth: false });
    } catch {
      return; // the app itself is unreachable: sending says so
    }
    if (this.destroyed) return;
    if (health.ollama === "unavailable") this.down();
    else this.back();
  }

  /** An answer (or the health check) says the model service is unavailable. */
  down() {
    this.warning.hidden = false;
  }

  /** An answer's token came: the model answers, whatever the band said. */
  answered() {
    if (!this.warning.hidden) this.back();
  }

  /** The model answers again: no band saying it is down, and its picker back. */
  back() {
    this.warning.hidden = true;
    if (!this.models) this.load();
  }

  showNote() {
    /** @type {ModelChoice[]} */
    const models = this.models ?? [];
    const chosen = models.find((m) => m.name === this.model);
    // A default that is not pulled would be asked of the same server as the models offered.
    const standIn = chosen?.missing ? models.some((m) => m.stand_in) : Boolean(chosen?.stand_in);
    this.note.textContent = standIn ? NOTE_STAND_IN : NOTE_REAL;
    this.note.classList.toggle("stand-in", standIn);
  }
}
