// @ts-check
// Chat screen: sidebar + conversation + composer, with streamed answers that survive reloads.
import { api, apiFetch, ApiError, errorDetail, isAbort } from "../api.js";
import { followAnswer } from "../sse.js";
import { h, iconButton, toast, clear } from "../dom.js";
import { renderMarkdown } from "../markdown.js";
import { navigate } from "../router.js";
import { Sidebar } from "./sidebar.js";
import { installShortcuts, showShortcuts, HELP_TITLE } from "../shortcuts.js";
import { NO_PARENT } from "./versions.js";
import { ModelService } from "./chat/models.js";
import { ERROR_FALLBACK, MessageList, cutFrom, fetchMessages, showError, showStatus, storedError } from "./chat/messages.js";
import { editQuestion } from "./chat/edit.js";
import { Composer } from "./chat/composer.js";
/** @import { AnswerView, Message } from "./chat/messages.js" */

/**
 * Where a message goes in the conversation's tree (docs/chat.md): under `parent` (an edit),
 * or a new answer to the question `regenerate`; neither: after the branch shown.
 * @typedef {{ parent?: string, regenerate?: string }} Turn
 */

const STREAM_KEY = "energyapp.streaming";
/** What a screen reader hears when an answer ends well (a failure speaks through its alert). */
const ENDED_TEXTS = /** @type {Record<string, string>} */ ({ complete: "Respuesta completa.", stopped: "Respuesta detenida." });

/**
 * @param {HTMLElement} main
 * @param {string | null} conversationId null for a new conversation
 * @returns {() => void} what to undo when the screen is left
 */
export function renderChat(main, conversationId) {
  const saved = readStreaming();
  if (!conversationId && saved?.conversation_id) {
    location.replace(`#/chat/${encodeURIComponent(saved.conversation_id)}`);
    return () => {};
  }
  const view = new ChatView(main, conversationId);
  return () => view.destroy();
}

/** Sign-out: the answer left streaming is not followed again on this page. */
export function forgetStreamingAnswer() {
  sessionStorage.removeItem(STREAM_KEY);
}

/** @returns {{ conversation_id: string, assistant_message_id: string } | null} the answer streaming when the page was left */
function readStreaming() {
  try {
    return JSON.parse(sessionStorage.getItem(STREAM_KEY) || "null");
  } catch {
    return null;
  }
}

class ChatView {
  /**
   * @param {HTMLElement} main
   * @param {string | null} conversationId
   */
  constructor(main, conversationId) {
    this.conversationId = conversationId;
    /** @type {Set<AbortController>} */
    this.controllers = new Set();
    /** @type {AnswerView | null} the answer being generated */
    this.active = null;
    this.destroyed = false;
    this.models = new ModelService();
    // Until its messages are drawn, nothing is sent into the conversation: drawing them would
    // sweep away the question just sent (a draft can be sent the moment the view opens).
    this.loading = Boolean(conversationId);
    const startNew = () => {
      // An answer running here goes on (the server keeps generating); the new screen links to it.
      sessionStorage.removeItem(STREAM_KEY);
      this.closeSidebar();
      // Also when the address is already #/chat (a first message refused before `meta`).
      navigate("#/chat");
    };
    this.sidebar = new Sidebar({
      activeId: conversationId,
      onSelect: () => this.closeSidebar(),
      onNew: startNew,
      onDeleted: (id) => {
        if (id === this.conversationId) navigate("#/chat");
      },
      onTitle: (title) => this.setHeadTitle(title),
      onRunning: (running) => this.composer.showRunningElsewhere(running),
    });
    this.removeShortcuts = installShortcuts({ onNew: startNew });
    this.list = new MessageList({
      pickVersion: (el, id, which) => this.pickVersion(el, id, which),
      editQuestion: (el) => editQuestion(el, () => this.busy(), (text, parent) => this.send(text, { parent })),
      regenerate: (view) => this.regenerate(view),
    });
    this.headTitle = h("h1", { class: "title", text: "EnergyApp" });
    this.composer = new Composer({
      conversationId: () => this.conversationId,
      generating: () => Boolean(this.active),
      loading: () => this.loading,
      send: (text) => this.send(text),
      stop: () => this.stop(),
    }, this.models);
    this.models.load();
    this.drawerBtn = iconButton("menu", "Abrir historial", () => this.toggleSidebar(), { class: "icon-btn only-mobile", "aria-controls": "sidebar", "aria-expanded": "false" });
    const chatMain = h("section", { class: "chat-main", "aria-label": "Conversación" },
      h("div", { class: "chat-head" },
        this.drawerBtn,
        this.headTitle,
        iconButton("keyboard", HELP_TITLE, () => showShortcuts(), { class: "icon-btn help-btn" }),
      ),
      this.list.scroller,
      this.composer.wrap,
    );
    this.root = h("div", { class: "chat" }, this.sidebar.el, chatMain);
    main.appendChild(this.root);
    // On a phone the sidebar is a drawer: a tap outside or Escape closes it.
    chatMain.addEventListener("pointerdown", (event) => {
      if (this.root.classList.contains("sidebar-open") && !(event.target instanceof Element && event.target.closest(".chat-head"))) this.closeSidebar();
    });
    this.sidebar.el.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || !this.sidebar.el.classList.contains("open")) return;
      this.closeSidebar();
      // The closed drawer cannot hold the focus: back to the button that opened it.
      this.drawerBtn.focus();
    });
    if (conversationId) this.loadConversation(conversationId);
    else this.showWelcome();
    this.models.watchHealth();
  }

  destroy() {
    this.destroyed = true;
    this.models.destroy();
    this.removeShortcuts();
    for (const controller of this.controllers) controller.abort();
    this.sidebar.destroy();
  }

  closeSidebar() {
    this.sidebar.el.classList.remove("open");
    this.root?.classList.remove("sidebar-open");
    this.drawerBtn.setAttribute("aria-expanded", "false");
  }

  toggleSidebar() {
    const open = this.sidebar.el.classList.toggle("open");
    this.root.classList.toggle("sidebar-open", open);
    this.drawerBtn.setAttribute("aria-expanded", String(open));
    if (open) this.sidebar.search.focus();
  }

  /** @param {string | null} title null for a conversation not saved yet */
  setHeadTitle(title) {
    this.headTitle.textContent = title || "Nueva conversación";
    document.title = title ? `${title} · EnergyApp` : "EnergyApp LLM";
  }

  // ---------- rendering ----------
  showWelcome() {
    this.setHeadTitle(null);
    this.list.showWelcome((prompt) => this.composer.fill(prompt));
  }

  /** @param {string} id */
  async loadConversation(id) {
    this.loading = true;
    this.composer.update();
    this.list.showLoading();
    try {
      const [conv, messages] = await Promise.all([
        api(`/conversations/${encodeURIComponent(id)}`),
        fetchMessages(id),
      ]);
      if (this.destroyed) return;
      this.setHeadTitle(conv.title);
      this.renderMessages(messages);
      this.list.scrollToEnd(true);
      const saved = readStreaming();
      const live = messages.filter((m) => m.role === "assistant" && m.status === "streaming");
      if (saved && saved.conversation_id === id && !live.some((m) => m.id === saved.assistant_message_id)) {
        const found = messages.find((m) => m.id === saved.assistant_message_id);
        if (!found || found.status !== "streaming") sessionStorage.removeItem(STREAM_KEY);
      }
      for (const message of live) this.reattach(message);
    } catch (err) {
      if (this.destroyed) return;
      const notFound = this.list.showLoadError(err);
      if (notFound && readStreaming()?.conversation_id === id) sessionStorage.removeItem(STREAM_KEY);
    } finally {
      this.loading = false;
      this.composer.update();
    }
  }

  /**
   * The branch shown: each message with its versions and details.
   * @param {Message[]} messages
   */
  renderMessages(messages) {
    clear(this.list.inner);
    if (!messages.length) this.showWelcome();
    this.list.addExportButton(this.conversationId);
    let question = "";
    for (const message of messages) {
      if (message.role === "user") {
        question = message.content;
        this.list.appendQuestion(message);
        continue;
      }
      const view = this.list.appendAnswer(message);
      const asked = question;
      if (message.status === "error") showError(view, storedError(message), asked ? () => this.send(asked) : null);
    }
  }

  /**
   * Draw the current branch again (after a new version or a switch between versions).
   * @param {{ index: number, which: "prev" | "next" }} [focus] the version button to focus after
   */
  async showBranch(focus) {
    const id = this.conversationId;
    if (!id) return;
    let messages;
    try {
      messages = await fetchMessages(id);
    } catch (err) {
      toast(errorDetail(err, "No se pudo cargar la conversación."), "error");
      return;
    }
    if (this.destroyed || id !== this.conversationId || this.active) return;
    this.renderMessages(messages);
    if (focus) this.list.focusVersions(focus.index, focus.which);
  }

  /**
   * Show another version of a message (‹ ›); the server remembers the choice.
   * @param {HTMLElement} el the message
   * @param {string} id the version to show
   * @param {"prev" | "next"} which the button used
   */
  async pickVersion(el, id, which) {
    if (this.busy()) return;
    const index = [...this.list.inner.querySelectorAll(".msg")].indexOf(el);
    try {
      await api(`/conversations/${encodeURIComponent(/** @type {string} */ (this.conversationId))}/branch`, { method: "PUT", body: { message_id: id } });
    } catch (err) {
      toast(errorDetail(err, "No se pudo mostrar esa versión."), "error");
      return;
    }
    await this.showBranch({ index, which });
  }

  /**
   * True (and says so) while an answer is being generated, here or in another conversation
   * (one at a time per person): versions wait for it, rather than removing what they would
   * replace and then being refused.
   */
  busy() {
    if (!this.active && !this.composer.elsewhere) return false;
    toast("Espere a que termine la respuesta en curso.", "error");
    return true;
  }

  /**
   * "Regenerar": a new answer to the same question, shown in place of this one.
   * @param {AnswerView} view
   */
  regenerate(view) {
    const questionId = view.el.dataset.parent;
    const question = view.el.previousElementSibling;
    if (this.busy() || !questionId || !(question instanceof HTMLElement)) return;
    cutFrom(view.el);
    this.ask(question, { regenerate: questionId });
  }

  // ---------- streaming ----------
  /**
   * @param {string} text
   * @param {Turn} [turn] an edit: under which answer (NO_PARENT for a new first question)
   */
  async send(text, turn = {}) {
    const answers = this.list.inner.querySelectorAll(".msg-assistant");
    const after = /** @type {HTMLElement | undefined} */ (answers[answers.length - 1]);
    const parent = turn.parent ?? after?.dataset.id ?? "";
    const question = this.list.appendQuestion({ content: text, parent_id: parent === NO_PARENT ? null : parent });
    await this.ask(question, turn, text);
  }

  /**
   * Ask for an answer to `question` and stream it below.
   * @param {HTMLElement} question
   * @param {Turn} turn
   * @param {string} [text] the new question's text (none when regenerating)
   */
  async ask(question, turn, text = "") {
    const isNew = !this.conversationId;
    const view = this.list.appendAnswer({ content: "", status: "streaming" });
    view.question = question;
    this.list.scrollToEnd(true);
    /** @type {{ message?: string, conversation_id?: string, model?: string, parent_message_id?: string, regenerate?: boolean }} */
    const body = turn.regenerate ? { parent_message_id: turn.regenerate, regenerate: true } : { message: text };
    if (turn.parent) body.parent_message_id = turn.parent;
    if (this.conversationId) body.conversation_id = this.conversationId;
    if (this.models.requested) body.model = this.models.requested;
    const status = await this.runStream(view, (signal) => apiFetch("/chat", { method: "POST", body, signal, headers: { Accept: "text/event-stream" } }), () => {
      // Nothing was saved when the request failed before `meta`: replace the pair.
      // After `meta` the failed question and answer are in the history: keep them.
      if (turn.regenerate) {
        view.el.remove(); // a failed version stays reachable with ‹ ›
        return this.ask(question, turn);
      }
      if (!view.id) {
        question.remove();
        view.el.remove();
      }
      this.send(text, view.id ? {} : turn);
    });
    // A new version: draw the branch again, with its ‹ › between versions.
    if (status === "complete" && (turn.parent || turn.regenerate)) await this.showBranch();
    if (isNew && view.id && !view.titled) await this.showSavedTitle();
  }

  /**
   * A first answer that was stopped or failed gets no `title` event, but the server already
   * named the conversation after its question: show that name instead of "Nueva conversación".
   */
  async showSavedTitle() {
    const id = this.conversationId;
    if (!id) return;
    try {
      const conv = await api(`/conversations/${encodeURIComponent(id)}`);
      if (this.destroyed || id !== this.conversationId || !conv.title) return;
      this.setHeadTitle(conv.title);
      this.sidebar.setTitle(id, conv.title);
    } catch {
      /* the list's next refresh shows it */
    }
  }

  /**
   * Follow an answer still being generated, from the start of its text.
   * @param {{ id?: string }} message no id: the answer never got one, nothing to follow
   */
  async reattach(message) {
    const { id } = message;
    const answers = /** @type {NodeListOf<HTMLElement>} */ (this.list.inner.querySelectorAll(".msg-assistant"));
    const el = [...answers].find((node) => node.dataset.id === id);
    if (!el || !id) return;
    const part = (/** @type {string} */ selector) => /** @type {Element} */ (el.querySelector(selector));
    /** @type {AnswerView} */
    const target = { el, body: part(".md"), status: part(".status-slot"), meta: part(".msg-meta"), content: "", id, reattached: true };
    const previous = el.previousElementSibling;
    const question = previous?.classList.contains("msg-user") ? previous.querySelector(".bubble")?.textContent || "" : "";
    await this.runStream(target, (signal) => apiFetch(`/chat/${encodeURIComponent(id)}/stream`, { signal, headers: { Accept: "text/event-stream" } }),
      () => this.reattach(message), question ? () => this.send(question) : null);
  }

  /**
   * Show the events of an answer's stream as they come.
   * @param {AnswerView} view
   * @param {(signal: AbortSignal) => Promise<Response>} open the request that answers with the stream
   * @param {() => void} retry what "Reintentar" does when the request fails
   * @param {(() => void) | null} [askAgain] what it does when the answer failed (an `error` event, a
   *   `done` with status error): the same question again; `retry` unless given
   * @returns {Promise<string | null>} how the answer ended (`done`'s status), null if unknown
   */
  async runStream(view, open, retry, askAgain = retry) {
    const controller = new AbortController();
    this.controllers.add(controller);
    this.active = view;
    this.composer.setGenerating(true);
    showStatus(view, "generando…");
    this.composer.announce(""); // the last answer's end is old news
    // The button that asked (Regenerar, Editar's Enviar, Reintentar) is gone with what it
    // replaced: the focus goes to the composer, where Esc stops the answer, not to <body>.
    if (document.activeElement === document.body) this.composer.input.focus();
    let finished = false;
    /** @type {string | null} */
    let ended = null;
    let failed = false; // an `error` event is shown: the `done` that follows keeps it
    let scheduled = false;
    const paint = () => {
      scheduled = false;
      renderMarkdown(view.body, view.content);
      this.list.scrollToEnd();
    };
    try {
      const response = await open(controller.signal);
      const resume = (/** @type {string} */ lastId) => view.id ? apiFetch(`/chat/${encodeURIComponent(view.id)}/stream`,
        { signal: controller.signal, headers: { Accept: "text/event-stream", ...(lastId ? { "Last-Event-ID": lastId } : {}) } }) : null;
      for await (const { event, data } of followAnswer(response, resume)) {
        if (this.destroyed) return null;
        if (event === "meta") this.onMeta(view, data);
        else if (event === "queue") showStatus(view, data.position > 0 ? `En cola: posición ${data.position}` : "generando…");
        else if (event === "token") {
          // A re-attached stream starts with the whole text so far as one token event.
          view.content = data.replace ? data.content : view.content + data.content;
          view.firstTokenAt ??= performance.now();
          showStatus(view, "generando…");
          this.models.answered();
          if (!scheduled) {
            scheduled = true;
            requestAnimationFrame(paint);
          }
        } else if (event === "title") {
          view.titled = true;
          if (this.sidebar.autoTitle(this.conversationId, data.title)) this.setHeadTitle(data.title);
        } else if (event === "done") {
          finished = true;
          ended = data.status;
          paint();
          this.release(view);
          this.list.finishMeta(view, data.status, data);
          if (failed) continue;
          showStatus(view, "");
          this.composer.announce(ENDED_TEXTS[data.status] ?? "");
          if (data.status === "interrupted") showError(view, "La respuesta se interrumpió. El texto parcial quedó guardado.", null);
          else if (data.status === "error") showError(view, ERROR_FALLBACK, askAgain);
        } else if (event === "error") {
          finished = true;
          failed = true;
          paint();
          this.release(view);
          this.list.finishMeta(view, "error", {});
          showError(view, data.detail || ERROR_FALLBACK, askAgain);
          if (data.code === "llm_unavailable") this.models.down();
        }
      }
      if (!finished) {
        paint();
        showError(view, "Se perdió la conexión con la respuesta. Puede reintentar para seguir viéndola.", () => this.reattach({ id: view.id }));
      }
    } catch (err) {
      if (isAbort(err) || this.destroyed) return null;
      showStatus(view, "");
      this.list.finishMeta(view, "error", {});
      // The server's message already says when to try again (rate limit, quota, busy).
      showError(view, errorDetail(err, "No se pudo enviar el mensaje."), retry);
      if (err instanceof ApiError && err.status === 404 && view.reattached) sessionStorage.removeItem(STREAM_KEY);
    } finally {
      this.controllers.delete(controller);
      this.release(view);
      if (finished && readStreaming()?.assistant_message_id === view.id) sessionStorage.removeItem(STREAM_KEY);
    }
    return failed ? "error" : ended;
  }

  /**
   * The answer is over (the stream may stay open a moment for the title): free the composer.
   * @param {AnswerView} view
   */
  release(view) {
    if (this.active === view) {
      this.active = null;
      if (this.destroyed) return;
      this.composer.setGenerating(false);
      if (this.conversationId) this.sidebar.markRunning(this.conversationId, false);
    }
  }

  /**
   * @param {AnswerView} view
   * @param {{ conversation_id: string, assistant_message_id: string, user_message_id: string }} data
   */
  onMeta(view, data) {
    view.id = data.assistant_message_id;
    view.el.dataset.id = data.assistant_message_id;
    view.el.dataset.parent = data.user_message_id;
    if (view.question && !view.question.dataset.id) {
      view.question.dataset.id = data.user_message_id;
      this.list.questionMeta(view.question, { parent_id: view.question.dataset.parent });
    }
    const isNew = !this.conversationId;
    this.conversationId = data.conversation_id;
    sessionStorage.setItem(STREAM_KEY, JSON.stringify({ conversation_id: data.conversation_id, assistant_message_id: data.assistant_message_id }));
    if (isNew) {
      // Update the address without re-rendering the view (no hashchange event).
      history.replaceState(null, "", `#/chat/${encodeURIComponent(data.conversation_id)}`);
      this.sidebar.setActive(data.conversation_id);
      this.list.addExportButton(this.conversationId);
    }
    const title = this.headTitle.textContent;
    this.sidebar.upsert({ id: data.conversation_id, title: isNew ? "Nueva conversación" : title, updated_at: new Date().toISOString(), running: true });
    this.sidebar.announce();
    if (view.stopWanted) this.stop();
  }

  async stop() {
    const view = this.active;
    if (!view) return;
    if (!view.id) {
      // Asked for before `meta`: nothing to name yet; done as soon as it is known.
      view.stopWanted = true;
      this.composer.input.focus();
      return;
    }
    this.composer.stopBtn.disabled = true;
    try {
      await api(`/chat/${encodeURIComponent(view.id)}/stop`, { method: "POST" });
    } catch (err) {
      // 404 or 409: the answer ended meanwhile, nothing left to stop.
      const ended = err instanceof ApiError && (err.status === 404 || err.status === 409);
      if (!ended) toast(errorDetail(err, "No se pudo detener la respuesta."), "error");
    } finally {
      this.composer.stopBtn.disabled = false;
      // The button is hidden once the answer ends: the next action is a new message.
      if (!this.destroyed) this.composer.input.focus();
    }
  }
}
