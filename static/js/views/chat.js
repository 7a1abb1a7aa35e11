// Chat screen: sidebar + conversation + composer, with streamed answers that survive reloads.
import { api, apiFetch, qs, ApiError } from "../api.js";
import { readEvents } from "../sse.js";
import { h, icon, iconButton, toast, clear } from "../dom.js";
import { renderMarkdown } from "../markdown.js";
import { state } from "../state.js";
import { Sidebar } from "./sidebar.js";

const STREAM_KEY = "energyapp.streaming";
const MODEL_KEY = "energyapp.model";
const NOTE_REAL = "EnergyApp responde con un modelo local; verifique la información importante.";
const NOTE_STAND_IN = "Modo de demostración: responde un Ollama de reemplazo con texto sintético, no un modelo real.";
let modelsRequest = null; // GET /models once per page load (a reload shows a model pulled since)
const EXAMPLES = [
  ["Explica un concepto", "¿Qué es la eficiencia energética y cómo se mide en una planta industrial?"],
  ["Redacta un correo", "Redacta un correo formal para solicitar una reunión con el equipo de mantenimiento."],
  ["Resume un texto", "Resume en 5 puntos las ventajas de la energía solar para una empresa mediana."],
  ["Escribe código", "Escribe una función en Python que calcule el consumo mensual promedio a partir de una lista de lecturas."],
];

const STATUS_LABELS = {
  stopped: "Respuesta detenida",
  interrupted: "Respuesta interrumpida",
  error: "Respuesta con error",
};

export function renderChat(main, conversationId) {
  const saved = readStreaming();
  if (!conversationId && saved?.conversation_id) {
    location.replace(`#/chat/${encodeURIComponent(saved.conversation_id)}`);
    return () => {};
  }
  const view = new ChatView(main, conversationId);
  return () => view.destroy();
}

function readStreaming() {
  try {
    return JSON.parse(sessionStorage.getItem(STREAM_KEY) || "null");
  } catch {
    return null;
  }
}

class ChatView {
  constructor(main, conversationId) {
    this.conversationId = conversationId;
    this.controllers = new Set();
    this.active = null; // the answer being generated: {id, el, ...}
    this.destroyed = false;
    this.sidebar = new Sidebar({
      activeId: conversationId,
      onSelect: () => this.closeSidebar(),
      onNew: () => {
        sessionStorage.removeItem(STREAM_KEY);
        this.closeSidebar();
        location.hash = "#/chat";
      },
      onDeleted: (id) => {
        if (id === this.conversationId) location.hash = "#/chat";
      },
    });
    this.sidebar.onTitle = (title) => this.setHeadTitle(title);
    this.inner = h("div", { class: "messages-inner" });
    this.scroller = h("div", { class: "messages", id: "messages", tabindex: "-1" }, this.inner);
    this.headTitle = h("span", { class: "title", text: "EnergyApp" });
    this.buildComposer();
    this.root = h("div", { class: "chat" },
      this.sidebar.el,
      h("section", { class: "chat-main", "aria-label": "Conversación" },
        h("div", { class: "chat-head" },
          iconButton("menu", "Abrir historial", () => this.toggleSidebar(), { class: "icon-btn only-mobile", "aria-controls": "sidebar" }),
          this.headTitle,
        ),
        this.scroller,
        this.composerWrap,
      ),
    );
    main.appendChild(this.root);
    // On a phone the sidebar is a drawer: a tap outside or Escape closes it.
    this.root.querySelector(".chat-main").addEventListener("pointerdown", (event) => {
      if (this.root.classList.contains("sidebar-open") && !event.target.closest(".chat-head")) this.closeSidebar();
    });
    this.sidebar.el.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.closeSidebar();
    });
    if (conversationId) this.loadConversation();
    else this.showWelcome();
  }

  destroy() {
    this.destroyed = true;
    for (const controller of this.controllers) controller.abort();
    this.sidebar.destroy();
  }

  closeSidebar() {
    this.sidebar.el.classList.remove("open");
    this.root?.classList.remove("sidebar-open");
  }

  toggleSidebar() {
    const open = this.sidebar.el.classList.toggle("open");
    this.root.classList.toggle("sidebar-open", open);
    if (open) this.sidebar.search.focus();
  }

  setHeadTitle(title) {
    this.headTitle.textContent = title || "Nueva conversación";
    document.title = title ? `${title} · EnergyApp` : "EnergyApp LLM";
  }

  // ---------- composer ----------
  buildComposer() {
    const max = state.config.max_message_chars;
    this.input = h("textarea", { id: "composer-input", rows: 1, placeholder: "Escriba su mensaje…", "aria-label": "Mensaje", "aria-describedby": "composer-counter composer-help" });
    this.counter = h("span", { class: "counter", id: "composer-counter", "aria-live": "polite" });
    this.sendBtn = h("button", { type: "submit", class: "btn btn-primary", id: "send-btn", "aria-label": "Enviar mensaje" }, icon("send"), h("span", { class: "sr-only", text: "Enviar" }));
    this.stopBtn = h("button", { type: "button", class: "btn btn-danger", id: "stop-btn", hidden: true, onclick: () => this.stop() }, icon("stop"), "Detener");
    const form = h("form", { class: "composer", "aria-label": "Escribir mensaje" },
      this.input,
      h("div", { class: "composer-row" },
        this.modelSlot = h("span", { class: "model-slot" }),
        h("span", { class: "hint small", id: "composer-help", text: "Enter envía · Shift+Enter nueva línea" }),
        h("span", { class: "spacer" }),
        this.counter,
        this.stopBtn,
        this.sendBtn,
      ),
    );
    const update = () => {
      const length = this.input.value.length;
      this.counter.textContent = `${length.toLocaleString("es-CL")} / ${max.toLocaleString("es-CL")}`;
      this.counter.classList.toggle("over", length > max);
      this.sendBtn.disabled = !this.input.value.trim() || length > max || Boolean(this.active);
    };
    this.updateComposer = update;
    this.input.addEventListener("input", update);
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = this.input.value;
      if (!text.trim() || text.length > max || this.active) return;
      this.input.value = "";
      update();
      this.send(text);
    });
    this.note = h("p", { class: "composer-note", id: "composer-note", text: NOTE_REAL });
    this.composerWrap = h("div", { class: "composer-wrap" }, form, this.note);
    update();
    this.loadModels();
    queueMicrotask(() => this.input.focus());
  }

  // ---------- models ----------
  /** The model picker (several models) or name (one), and the stand-in's label wherever it answers. */
  async loadModels() {
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
    this.model = data.models.some((m) => m.name === stored) ? stored : data.default_model;
    clear(this.modelSlot);
    if (this.models.length > 1) {
      const label = (m) => (m.missing ? `${m.name} (no disponible)` : m.stand_in ? `${m.name} (reemplazo)` : m.name);
      const select = h("select", { class: "model-select", id: "model-select", "aria-label": "Modelo" },
        this.models.map((m) => h("option", { value: m.name, text: label(m) })));
      select.value = this.model;
      select.addEventListener("change", () => {
        this.model = select.value;
        localStorage.setItem(MODEL_KEY, select.value);
        this.showModelNote();
      });
      this.modelSlot.appendChild(select);
    } else {
      this.modelSlot.appendChild(h("span", { class: "model-name", id: "model-name", title: "Modelo", text: this.model }));
    }
    this.showModelNote();
  }

  showModelNote() {
    const chosen = this.models?.find((m) => m.name === this.model);
    // A default that is not pulled would be asked of the same server as the models offered.
    const standIn = chosen?.missing ? this.models.some((m) => m.stand_in) : Boolean(chosen?.stand_in);
    this.note.textContent = standIn ? NOTE_STAND_IN : NOTE_REAL;
    this.note.classList.toggle("stand-in", standIn);
  }

  setGenerating(on) {
    this.stopBtn.hidden = !on;
    this.sendBtn.hidden = on;
    this.updateComposer();
  }

  // ---------- rendering ----------
  showWelcome() {
    this.setHeadTitle(null);
    clear(this.inner);
    const name = (state.user.full_name || "").split(" ")[0];
    this.inner.appendChild(h("div", { class: "welcome", id: "welcome" },
      h("img", { src: "/static/logo.svg", alt: "" }),
      h("h2", { text: name ? `Hola, ${name}. ¿En qué le ayudo hoy?` : "¿En qué le ayudo hoy?" }),
      h("p", { class: "muted", text: "Sus conversaciones quedan en el servidor de la empresa. Pruebe con uno de estos ejemplos:" }),
      h("div", { class: "examples" },
        EXAMPLES.map(([title, prompt]) => h("button", {
          type: "button", class: "example",
          onclick: () => {
            this.input.value = prompt;
            this.updateComposer();
            this.input.focus();
          },
        }, h("strong", { text: title }), h("span", { text: prompt }))),
      ),
    ));
  }

  async loadConversation() {
    const id = this.conversationId;
    clear(this.inner);
    this.inner.appendChild(h("p", { class: "list-status", text: "Cargando conversación…" }));
    try {
      const [conv, messages] = await Promise.all([
        api(`/conversations/${encodeURIComponent(id)}`),
        this.fetchMessages(id),
      ]);
      if (this.destroyed) return;
      this.setHeadTitle(conv.title);
      clear(this.inner);
      if (!messages.length) this.showWelcome();
      for (const message of messages) this.appendMessage(message);
      this.scrollToEnd(true);
      const saved = readStreaming();
      const live = messages.filter((m) => m.role === "assistant" && m.status === "streaming");
      if (saved && saved.conversation_id === id && !live.some((m) => m.id === saved.assistant_message_id)) {
        const found = messages.find((m) => m.id === saved.assistant_message_id);
        if (!found || found.status !== "streaming") sessionStorage.removeItem(STREAM_KEY);
      }
      for (const message of live) this.reattach(message);
    } catch (err) {
      if (this.destroyed) return;
      clear(this.inner);
      const notFound = err instanceof ApiError && err.status === 404;
      this.inner.appendChild(h("div", { class: "welcome" },
        h("h2", { text: notFound ? "Conversación no encontrada" : "No se pudo cargar la conversación" }),
        h("p", { class: "muted", text: notFound ? "No existe o no tiene acceso a ella." : err.detail || "" }),
        h("a", { class: "btn", href: "#/chat", text: "Ir a una conversación nueva" }),
      ));
      if (notFound && readStreaming()?.conversation_id === id) sessionStorage.removeItem(STREAM_KEY);
    }
  }

  async fetchMessages(id) {
    const all = [];
    let cursor = null;
    for (let page = 0; page < 50; page += 1) {
      const data = await api(`/conversations/${encodeURIComponent(id)}/messages${qs({ limit: 200, cursor })}`);
      all.push(...data.items);
      cursor = data.next_cursor;
      if (!cursor) break;
    }
    return all;
  }

  appendMessage(message) {
    document.getElementById("welcome")?.remove();
    if (message.role === "user") {
      const el = h("div", { class: "msg msg-user", dataset: { id: message.id || "", role: "user" } },
        h("div", { class: "bubble", text: message.content }));
      this.inner.appendChild(el);
      return { el };
    }
    const body = h("div", { class: "md" });
    const status = h("div", { class: "status-slot" });
    const meta = h("div", { class: "msg-meta" });
    const el = h("div", { class: "msg msg-assistant", dataset: { id: message.id || "", role: "assistant", status: message.status || "" } },
      h("img", { class: "bot-avatar", src: "/static/logo.svg", alt: "" }),
      h("div", { class: "body" }, body, status, meta),
    );
    this.inner.appendChild(el);
    const view = { el, body, status, meta, content: message.content || "", id: message.id };
    renderMarkdown(body, view.content);
    this.finishMeta(view, message.status, message);
    return view;
  }

  finishMeta(view, status, info = {}) {
    view.el.dataset.status = status || "";
    clear(view.meta);
    if (status === "streaming") return;
    if (STATUS_LABELS[status]) view.meta.appendChild(h("span", { class: "pill", text: STATUS_LABELS[status] }));
    if (view.content) {
      const copy = h("button", { type: "button", class: "btn btn-ghost btn-sm", "aria-label": "Copiar respuesta" }, icon("copy"), "Copiar");
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(view.content);
          toast("Respuesta copiada.");
        } catch {
          toast("No se pudo copiar.", "error");
        }
      });
      view.meta.appendChild(copy);
    }
    if (info.completion_tokens) view.meta.appendChild(h("span", { text: `${info.completion_tokens} tokens` }));
  }

  showStatus(view, text) {
    clear(view.status);
    if (text) view.status.appendChild(h("div", { class: "status-pill", role: "status" }, h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), h("span", { text })));
  }

  showError(view, detail, retry) {
    clear(view.status);
    const box = h("div", { class: "msg-error", role: "alert" }, h("span", { text: detail }));
    if (retry) box.appendChild(h("button", { type: "button", class: "btn btn-sm", onclick: () => { box.remove(); retry(); } }, icon("retry"), "Reintentar"));
    view.status.appendChild(box);
  }

  scrollToEnd(force = false) {
    const s = this.scroller;
    const near = s.scrollHeight - s.scrollTop - s.clientHeight < 160;
    if (force || near) s.scrollTop = s.scrollHeight;
  }

  // ---------- streaming ----------
  async send(text) {
    const question = this.appendMessage({ role: "user", content: text });
    const view = this.appendMessage({ role: "assistant", content: "", status: "streaming" });
    this.scrollToEnd(true);
    const body = { message: text };
    if (this.conversationId) body.conversation_id = this.conversationId;
    if (this.model && this.model !== this.defaultModel) body.model = this.model;
    await this.runStream(view, () => apiFetch("/chat", { method: "POST", body, signal: view.controller.signal, headers: { Accept: "text/event-stream" } }), () => {
      // Nothing was saved when the request failed before `meta`: replace the pair.
      // After `meta` the failed question and answer are in the history: keep them.
      if (!view.id) {
        question.el.remove();
        view.el.remove();
      }
      this.send(text);
    });
  }

  async reattach(message) {
    const view = [...this.inner.querySelectorAll(".msg-assistant")].map((el) => el).find((el) => el.dataset.id === message.id);
    if (!view) return;
    const target = { el: view, body: view.querySelector(".md"), status: view.querySelector(".status-slot"), meta: view.querySelector(".msg-meta"), content: "", id: message.id, reattached: true };
    await this.runStream(target, () => apiFetch(`/chat/${encodeURIComponent(message.id)}/stream`, { signal: target.controller.signal, headers: { Accept: "text/event-stream" } }), () => this.reattach(message));
  }

  async runStream(view, open, retry) {
    view.controller = new AbortController();
    this.controllers.add(view.controller);
    this.active = view;
    this.setGenerating(true);
    this.showStatus(view, "generando…");
    let finished = false;
    let scheduled = false;
    const paint = () => {
      scheduled = false;
      renderMarkdown(view.body, view.content);
      this.scrollToEnd();
    };
    try {
      const response = await open();
      for await (const { event, data } of readEvents(response)) {
        if (this.destroyed) return;
        if (event === "meta") this.onMeta(view, data);
        else if (event === "queue") this.showStatus(view, data.position > 0 ? `En cola: posición ${data.position}` : "generando…");
        else if (event === "token") {
          // A re-attached stream starts with the whole text so far as one token event.
          view.content += data.content;
          this.showStatus(view, "generando…");
          if (!scheduled) {
            scheduled = true;
            requestAnimationFrame(paint);
          }
        } else if (event === "title") {
          this.setHeadTitle(data.title);
          this.sidebar.setTitle(this.conversationId, data.title);
        } else if (event === "done") {
          finished = true;
          paint();
          this.release(view);
          this.showStatus(view, "");
          this.finishMeta(view, data.status, data);
          if (data.status === "interrupted") this.showError(view, "La respuesta se interrumpió. El texto parcial quedó guardado.", null);
        } else if (event === "error") {
          finished = true;
          paint();
          this.release(view);
          this.finishMeta(view, "error", {});
          this.showError(view, data.detail || "Ocurrió un error al generar la respuesta.", retry);
        }
      }
      if (!finished) {
        paint();
        this.showError(view, "Se perdió la conexión con la respuesta. Puede reintentar para seguir viéndola.", () => this.reattach({ id: view.id }));
      }
    } catch (err) {
      if (err.name === "AbortError" || this.destroyed) return;
      this.showStatus(view, "");
      this.finishMeta(view, "error", {});
      let detail = err.detail || "No se pudo enviar el mensaje.";
      if (err.retryAfter) detail += ` Intente de nuevo en ${err.retryAfter} s.`;
      this.showError(view, detail, retry);
      if (err.status === 404 && view.reattached) sessionStorage.removeItem(STREAM_KEY);
    } finally {
      this.controllers.delete(view.controller);
      this.release(view);
      if (finished && readStreaming()?.assistant_message_id === view.id) sessionStorage.removeItem(STREAM_KEY);
    }
  }

  /** The answer is over (the stream may stay open a moment for the title): free the composer. */
  release(view) {
    if (this.active === view) {
      this.active = null;
      if (!this.destroyed) this.setGenerating(false);
    }
  }

  onMeta(view, data) {
    view.id = data.assistant_message_id;
    view.el.dataset.id = data.assistant_message_id;
    const isNew = !this.conversationId;
    this.conversationId = data.conversation_id;
    sessionStorage.setItem(STREAM_KEY, JSON.stringify({ conversation_id: data.conversation_id, assistant_message_id: data.assistant_message_id }));
    if (isNew) {
      // Update the address without re-rendering the view (no hashchange event).
      history.replaceState(null, "", `#/chat/${encodeURIComponent(data.conversation_id)}`);
      this.sidebar.setActive(data.conversation_id);
    }
    const title = this.headTitle.textContent;
    this.sidebar.upsert({ id: data.conversation_id, title: isNew ? "Nueva conversación" : title, updated_at: new Date().toISOString() });
  }

  async stop() {
    const view = this.active;
    if (!view?.id) return;
    this.stopBtn.disabled = true;
    try {
      await api(`/chat/${encodeURIComponent(view.id)}/stop`, { method: "POST" });
    } catch (err) {
      if (err.status !== 404 && err.status !== 409) toast(err.detail || "No se pudo detener la respuesta.", "error");
    } finally {
      this.stopBtn.disabled = false;
    }
  }
}
