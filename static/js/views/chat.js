// @ts-check
// Chat screen: sidebar + conversation + composer, with streamed answers that survive reloads.
// This module lays the screen out and holds the conversation shown: loading it, its versions,
// asking (a new question, an edit, Regenerar). Its parts live in chat/: models.js (the model
// picker and the model-service band), messages.js (the messages' DOM), edit.js ("Editar"),
// composer.js (field, draft, Enviar/Detener), stream.js (an answer's events, Detener, reload),
// temporary.js ("Chat temporal": the toggle and the band) and folder.js (the header's folder).
import { api, apiFetch, errorDetail } from "../api.js";
import { h, iconButton, toast, clear } from "../dom.js";
import { navigate } from "../router.js";
import { setPageTitle } from "../page_title.js";
import { answerContinued } from "../notify.js";
import { Sidebar } from "./sidebar.js";
import { installShortcuts, showShortcuts, HELP_TITLE } from "../shortcuts.js";
import { NO_PARENT } from "./versions.js";
import { ModelService } from "./chat/models.js";
import { MessageList, cutFrom, explained, fetchMessages, showError, storedError } from "./chat/messages.js";
import { editQuestion } from "./chat/edit.js";
import { questionContent } from "./chat/attachments.js";
import { saveQuestionAsPrompt } from "./prompts.js";
import { Composer } from "./chat/composer.js";
import { AnswerStreams, forgetStreamingAnswer, readStreaming } from "./chat/stream.js";
import { TemporaryChat, TEMPORARY_NAME } from "./chat/temporary.js";
import { HeaderFolder } from "./chat/folder.js";
/** @import { AnswerView, Message } from "./chat/messages.js" */

/**
 * Where a message goes in the conversation's tree (docs/chat.md): under `parent` (an edit),
 * or a new answer to the question `regenerate`; neither: after the branch shown.
 * @typedef {{ parent?: string, regenerate?: string }} Turn
 */

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

class ChatView {
  /**
   * @param {HTMLElement} main
   * @param {string | null} conversationId
   */
  constructor(main, conversationId) {
    this.conversationId = conversationId;
    /** @type {string | null} the conversation's name, null until it has one */
    this.title = null;
    this.destroyed = false;
    /** @type {AnswerStreams} */
    this.streams = new AnswerStreams(this);
    this.models = new ModelService();
    // Until its messages are drawn, nothing is sent into the conversation: drawing them would
    // sweep away the question just sent (a draft can be sent the moment the view opens).
    this.loading = Boolean(conversationId);
    const startNew = () => {
      // An answer running here goes on (the server keeps generating); the new screen links to it.
      forgetStreamingAnswer();
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
      onChanged: (conv) => {
        this.setHeadTitle(conv.title);
        this.folder.show(conv);
      },
      onFolders: () => this.folder.follow(),
      onRunning: (running) => this.composer.showRunningElsewhere(running),
    });
    this.removeShortcuts = installShortcuts({ onNew: startNew });
    this.list = new MessageList({
      pickVersion: (el, id, which) => this.pickVersion(el, id, which),
      editQuestion: (el) => editQuestion(el, () => this.busy(), (text, parent) => this.send(text, { parent })),
      saveAsPrompt: (el) => void saveQuestionAsPrompt(questionContent(el.querySelector(".bubble"))),
      regenerate: (view) => this.regenerate(view),
      conversationId: () => this.conversationId,
      continueAnswer: (view) => this.continueAnswer(view),
    });
    this.headTitle = h("h1", { class: "title", text: "EnergyApp" });
    this.folder = new HeaderFolder(this.sidebar, (folderId) => {
      if (!this.wide.matches) this.showDrawer(true); // on a phone the sidebar is a drawer
      void this.sidebar.folders.reveal(folderId);
    });
    this.temporary = new TemporaryChat({
      conversationId: () => this.conversationId,
      // Saved: now it is history, listed like any other.
      saved: (conv) => {
        this.sidebar.upsert({ id: conv.id, title: conv.title, updated_at: conv.updated_at, running: Boolean(this.streams.active) });
        this.setHeadTitle(conv.title); // the tab is named after it now
        this.folder.show(conv);
      },
    });
    /** @type {Composer} */
    this.composer = new Composer({
      conversationId: () => this.conversationId,
      generating: () => Boolean(this.streams.active),
      loading: () => this.loading,
      send: (text) => this.send(text),
      stop: () => this.streams.stop(),
    }, this.models);
    void this.composer.loadLimit(conversationId);
    this.models.load();
    this.drawerBtn = iconButton("menu", "Abrir historial", () => this.toggleSidebar(), { class: "icon-btn only-mobile", "aria-controls": "sidebar", "aria-expanded": "false" });
    const helpBtn = iconButton("keyboard", HELP_TITLE, () => showShortcuts(), { class: "icon-btn help-btn" });
    // What the open drawer covers (all but the title, which stays the page's heading).
    this.covered = [this.drawerBtn, this.folder.el, helpBtn, this.temporary.el, this.list.scroller, this.composer.wrap];
    const chatMain = h("section", { class: "chat-main", "aria-label": "Conversación" },
      h("div", { class: "chat-head" }, this.drawerBtn, this.headTitle, this.folder.el, helpBtn),
      this.temporary.el,
      this.list.scroller,
      this.composer.wrap,
    );
    this.root = h("div", { class: "chat" }, this.sidebar.el, chatMain);
    main.appendChild(this.root);
    // On a phone the sidebar is a drawer: a tap outside or Escape closes it. While it is open
    // the conversation behind it is inert (the drawer is modal): Tab cannot reach what it
    // covers, a screen reader does not read it as shown, and a tap there lands on the root.
    this.root.addEventListener("pointerdown", (event) => {
      if (this.root.classList.contains("sidebar-open") && !(event.target instanceof Node && this.sidebar.el.contains(event.target))) this.closeSidebar();
    });
    // A window widened past the phone's width shows the sidebar beside the chat: no drawer.
    this.wide = matchMedia("(min-width: 821px)");
    this.onWide = () => this.closeSidebar();
    this.wide.addEventListener("change", this.onWide);
    this.sidebar.el.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || !this.sidebar.el.classList.contains("open")) return;
      this.closeSidebar();
      // The closed drawer cannot hold the focus: back to the button that opened it.
      this.drawerBtn.focus();
    });
    if (conversationId) this.loadConversation(conversationId);
    else {
      this.showWelcome();
      this.temporary.offer();
    }
    this.models.watchHealth();
  }

  destroy() {
    this.destroyed = true;
    this.wide.removeEventListener("change", this.onWide);
    this.models.destroy();
    this.removeShortcuts();
    this.streams.abort();
    this.sidebar.destroy();
  }

  closeSidebar() {
    this.showDrawer(false);
  }

  toggleSidebar() {
    const open = !this.sidebar.el.classList.contains("open");
    this.showDrawer(open);
    if (open) this.sidebar.search.focus();
  }

  /** @param {boolean} open */
  showDrawer(open) {
    this.sidebar.el.classList.toggle("open", open);
    this.root?.classList.toggle("sidebar-open", open);
    for (const el of this.covered ?? []) el.inert = open;
    this.drawerBtn.setAttribute("aria-expanded", String(open));
  }

  /** @param {string | null} title null for a conversation not saved yet */
  setHeadTitle(title) {
    this.headTitle.textContent = title || "Nueva conversación";
    this.title = title;
    this.folder?.setTitle(title || "");
    const shown = this.shownName();
    setPageTitle(shown ? `${shown} · EnergyApp` : "EnergyApp LLM");
  }

  /**
   * The name the browser and the desktop keep (the tab's title, so its history; an answer's
   * notification, maybe on a locked screen): a temporary chat's title is its first words, which
   * must not outlive it there.
   * @returns {string | null}
   */
  shownName() {
    return this.temporary.on ? TEMPORARY_NAME : this.title;
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
      this.temporary.showFor(conv.temporary); // first: it decides the tab's title
      this.setHeadTitle(conv.title);
      this.renderMessages(messages);
      this.folder.show(conv);
      this.list.scrollToEnd(true);
      this.streams.resume(id, messages);
    } catch (err) {
      if (this.destroyed) return;
      const notFound = this.list.showLoadError(err);
      if (notFound && readStreaming()?.conversation_id === id) forgetStreamingAnswer();
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
      else if (explained(message)) showError(view, storedError(message), null);
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
    if (this.destroyed || id !== this.conversationId || this.streams.active) return;
    // Drawing the messages replaces their buttons: a keyboard user's focus there would fall
    // to <body>. It goes back to the same button of the same message.
    const spot = this.list.focusSpot();
    this.renderMessages(messages);
    if (focus) this.list.focusVersions(focus.index, focus.which);
    else if (spot) this.list.refocus(spot);
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
    if (!this.streams.active && !this.composer.elsewhere) return false;
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

  /**
   * "Continuar": the server writes on the answer the length cap cut, in the same bubble.
   * @param {AnswerView} view
   */
  continueAnswer(view) {
    const id = view.id;
    if (this.busy() || !id || !this.conversationId) return;
    const body = { conversation_id: this.conversationId, continue_message_id: id };
    answerContinued(id);
    view.before = view.info ?? { finish_reason: "length" };
    view.continued = true;
    this.list.finishMeta(view, "streaming");
    // No "Reintentar" for a continuation that failed: the answer is no longer cut (Regenerar is).
    void this.streams.run(view, (signal) => apiFetch("/chat", { method: "POST", body, signal, headers: { Accept: "text/event-stream" } }),
      () => this.continueAnswer(view), null);
  }

  // ---------- asking ----------
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
    /** @type {{ message?: string, conversation_id?: string, model?: string, parent_message_id?: string, regenerate?: boolean, temporary?: boolean }} */
    const body = turn.regenerate ? { parent_message_id: turn.regenerate, regenerate: true } : { message: text };
    if (turn.parent) body.parent_message_id = turn.parent;
    if (this.conversationId) body.conversation_id = this.conversationId;
    else if (this.temporary.on) body.temporary = true;
    if (this.models.requested) body.model = this.models.requested;
    const status = await this.streams.run(view, (signal) => apiFetch("/chat", { method: "POST", body, signal, headers: { Accept: "text/event-stream" } }), () => {
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
   * The server saved the question and started its answer: the conversation exists (a new one
   * gets its address) and shows as running in the list.
   * @param {string} id
   */
  answerStarted(id) {
    const isNew = !this.conversationId;
    this.conversationId = id;
    if (isNew) {
      // Update the address without re-rendering the view (no hashchange event).
      history.replaceState(null, "", `#/chat/${encodeURIComponent(id)}`);
      this.sidebar.setActive(id);
      this.list.addExportButton(this.conversationId);
      this.temporary.showFor(this.temporary.on);
      const now = new Date().toISOString();
      this.folder.show({ id, title: "", pinned: false, archived: false, updated_at: now, folder_id: null, temporary: this.temporary.on });
    }
    if (this.temporary.on) return; // not in the history: the list does not show it
    const title = this.headTitle.textContent;
    this.sidebar.upsert({ id, title: isNew ? "Nueva conversación" : title, updated_at: new Date().toISOString(), running: true });
    this.sidebar.announce();
  }
}
