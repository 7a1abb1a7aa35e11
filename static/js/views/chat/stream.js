// @ts-check
// An answer's stream: POST /chat or a re-attach after a reload, read as server-sent events
// (sse.js) into the answer on screen, with its status pill; "Detener" and Esc; the answer left
// streaming, remembered in sessionStorage so that a reload follows it again.
import { api, apiFetch, ApiError, errorDetail, isAbort, sessionEnded } from "../../api.js";
import { followAnswer } from "../../sse.js";
import { toast } from "../../dom.js";
import { renderMarkdown } from "../../markdown.js";
import { ERROR_FALLBACK, showError, showStatus } from "./messages.js";
import { questionContent } from "./attachments.js";
import { answerEnded } from "../../notify.js";
/** @import { AnswerView, Message, MessageList } from "./messages.js" */
/** @import { Composer } from "./composer.js" */
/** @import { ModelService } from "./models.js" */
/** @import { Sidebar } from "../sidebar.js" */
/** @import { Outcome } from "../../notify.js" */

const STREAM_KEY = "energyapp.streaming";
/** What a screen reader hears when an answer ends well (a failure speaks through its alert). */
const ENDED_TEXTS = /** @type {Record<string, string>} */ ({ complete: "Respuesta completa.", stopped: "Respuesta detenida." });
/** How a `done` status reads in a hidden tab's title and notification (interrupted: an error). */
const OUTCOMES = /** @type {Record<string, Outcome>} */ ({ complete: "complete", stopped: "stopped" });

/**
 * "En cola: posición 2 · su turno en unos 3 min": the server's estimate of the wait for a slot,
 * when it has one (reading the conversation comes after it, before the first word), less what
 * has been waited since it came: the server tells a new estimate only when the place changes.
 * @param {number} position 1: the next to be served
 * @param {number | null | undefined} waitSeconds
 * @param {number} [waitedSeconds] since the estimate came; past it, the turn is "en breve"
 * @returns {string}
 */
export function queueText(position, waitSeconds, waitedSeconds = 0) {
  const place = `En cola: posición ${position}`;
  if (waitSeconds == null) return place;
  const left = waitSeconds - waitedSeconds;
  const wait = left < 0 ? "breve" : left < 60 ? "menos de 1 min" : left < 90 ? "alrededor de 1 min" : `unos ${Math.round(left / 60)} min`;
  return `${place} · su turno en ${wait}`;
}

/** How often a queued answer's wait is counted down (its text changes once a minute at most). */
const COUNTDOWN_MS = 5000;

/** Sign-out, "Nueva conversación", an answer gone: the answer left streaming is not followed again. */
export function forgetStreamingAnswer() {
  sessionStorage.removeItem(STREAM_KEY);
}

/** @returns {{ conversation_id: string, assistant_message_id: string } | null} the answer streaming when the page was left */
export function readStreaming() {
  try {
    return JSON.parse(sessionStorage.getItem(STREAM_KEY) || "null");
  } catch {
    return null;
  }
}

/**
 * The chat screen, as far as its answers' streams need it.
 * @typedef {object} StreamHost
 * @property {string | null} conversationId
 * @property {string | null} title the conversation's name, null until it has one
 * @property {() => string | null} shownName the name the browser and the desktop keep (a notification, the tab's title): "Chat temporal" for a temporary chat, whose title is its first words
 * @property {boolean} destroyed
 * @property {Composer} composer
 * @property {ModelService} models
 * @property {MessageList} list
 * @property {Sidebar} sidebar
 * @property {(title: string) => void} setHeadTitle
 * @property {(conversationId: string) => void} answerStarted the server saved the question and started its answer
 * @property {(text: string) => void} send ask a question again, after an answer that failed
 */

export class AnswerStreams {
  /** @param {StreamHost} chat */
  constructor(chat) {
    this.chat = chat;
    /** @type {Set<AbortController>} */
    this.controllers = new Set();
    /** @type {AnswerView | null} the answer being generated */
    this.active = null;
  }

  /** The screen is left: its streams are closed (the answers go on in the server). */
  abort() {
    for (const controller of this.controllers) controller.abort();
  }

  /**
   * The conversation `id` was drawn: follow its answers still being generated, and forget the
   * answer remembered in it when it is no longer being generated.
   * @param {string} id
   * @param {Message[]} messages
   */
  resume(id, messages) {
    const saved = readStreaming();
    const live = messages.filter((m) => m.role === "assistant" && m.status === "streaming");
    if (saved && saved.conversation_id === id && !live.some((m) => m.id === saved.assistant_message_id)) {
      const found = messages.find((m) => m.id === saved.assistant_message_id);
      if (!found || found.status !== "streaming") forgetStreamingAnswer();
    }
    for (const message of live) this.reattach(message);
  }

  /**
   * Follow an answer still being generated, from the start of its text.
   * @param {{ id?: string }} message no id: the answer never got one, nothing to follow
   */
  async reattach(message) {
    const { id } = message;
    const answers = /** @type {NodeListOf<HTMLElement>} */ (this.chat.list.inner.querySelectorAll(".msg-assistant"));
    const el = [...answers].find((node) => node.dataset.id === id);
    if (!el || !id) return;
    const part = (/** @type {string} */ selector) => /** @type {Element} */ (el.querySelector(selector));
    /** @type {AnswerView} */
    const target = { el, body: part(".md"), status: part(".status-slot"), meta: part(".msg-meta"), content: "", id, reattached: true };
    const previous = el.previousElementSibling;
    const question = previous?.classList.contains("msg-user") ? questionContent(previous.querySelector(".bubble")) : "";
    await this.run(target, (signal) => apiFetch(`/chat/${encodeURIComponent(id)}/stream`, { signal, headers: { Accept: "text/event-stream" } }),
      () => this.reattach(message), question ? () => this.chat.send(question) : null);
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
  async run(view, open, retry, askAgain = retry) {
    const controller = new AbortController();
    this.controllers.add(controller);
    this.active = view;
    this.chat.composer.setGenerating(true);
    showStatus(view, "generando…");
    this.chat.composer.announce(""); // the last answer's end is old news
    // The button that asked (Regenerar, Editar's Enviar, Reintentar) is gone with what it
    // replaced: the focus goes to the composer, where Esc stops the answer, not to <body>.
    if (document.activeElement === document.body) this.chat.composer.input.focus();
    let finished = false;
    /** @type {string | null} */
    let ended = null;
    let failed = false; // an `error` event is shown: the `done` that follows keeps it
    let stoppedBy = ""; // an admin stopped it ("Estado"): said once its `done` comes
    let scheduled = false;
    let told = false;
    /** @type {{ position: number, wait: number | null | undefined, at: number } | null} */
    let queued = null; // the last `queue` event while the answer waits for a slot
    const showQueue = () => {
      if (queued) showStatus(view, queueText(queued.position, queued.wait, (performance.now() - queued.at) / 1000));
    };
    const countdown = setInterval(showQueue, COUNTDOWN_MS);
    // A hidden tab says the answer ended (its title, maybe a notification), once.
    const tell = (/** @type {Outcome} */ outcome) => {
      if (told) return;
      told = true;
      answerEnded({ conversationId: this.chat.conversationId, messageId: view.id ?? null, outcome, title: this.chat.shownName() });
    };
    const paint = () => {
      scheduled = false;
      renderMarkdown(view.body, view.content);
      this.chat.list.scrollToEnd();
    };
    try {
      const response = await open(controller.signal);
      const resume = (/** @type {string} */ lastId) => view.id ? apiFetch(`/chat/${encodeURIComponent(view.id)}/stream`,
        { signal: controller.signal, headers: { Accept: "text/event-stream", ...(lastId ? { "Last-Event-ID": lastId } : {}) } }) : null;
      for await (const { event, data } of followAnswer(response, resume)) {
        if (this.chat.destroyed) return null;
        if (event !== "queue") queued = null; // the slot came, or the answer ended waiting
        if (event === "meta") this.onMeta(view, data);
        else if (event === "queue") {
          queued = data.position > 0 ? { position: data.position, wait: data.wait_seconds, at: performance.now() } : null;
          if (queued) showQueue();
          else showStatus(view, "generando…");
        } else if (event === "token") {
          // A re-attached stream, and a continued answer's, start with the whole text so far.
          view.content = data.replace || view.before ? data.content : view.content + data.content;
          view.before = undefined;
          view.firstTokenAt ??= performance.now();
          showStatus(view, "generando…");
          this.chat.models.answered();
          if (!scheduled) {
            scheduled = true;
            requestAnimationFrame(paint);
          }
        } else if (event === "title") {
          view.titled = true;
          if (this.chat.sidebar.autoTitle(this.chat.conversationId, data.title)) this.chat.setHeadTitle(data.title);
        } else if (event === "done") {
          finished = true;
          ended = data.status;
          paint();
          this.release(view);
          // A continued answer keeps the time it was asked at.
          this.chat.list.finishMeta(view, data.status, { created_at: view.info?.created_at, ...data });
          tell(OUTCOMES[data.status] ?? "error");
          if (failed) continue;
          showStatus(view, "");
          this.chat.composer.announce(ENDED_TEXTS[data.status] ?? "");
          if (stoppedBy) showError(view, stoppedBy, null);
          if (data.status === "interrupted") showError(view, "La respuesta se interrumpió. El texto parcial quedó guardado.", null);
          else if (data.status === "error") showError(view, ERROR_FALLBACK, askAgain);
        } else if (event === "error" && data.code === "session_ended") {
          // The session that opened the stream ended (signed out elsewhere, password changed):
          // the answer goes on in the server, and is followed again after signing in.
          sessionEnded(data.detail);
          return null;
        } else if (event === "error" && data.code === "stopped_by_admin") {
          stoppedBy = data.detail || "Un administrador detuvo esta respuesta.";
        } else if (event === "error") {
          finished = true;
          failed = true;
          paint();
          this.release(view);
          this.chat.list.finishMeta(view, "error", {});
          showError(view, data.detail || ERROR_FALLBACK, askAgain);
          tell("error");
          if (data.code === "llm_unavailable") this.chat.models.down();
        }
      }
      if (!finished) {
        paint();
        showError(view, "Se perdió la conexión con la respuesta. Puede reintentar para seguir viéndola.", () => this.reattach({ id: view.id }));
        tell("error");
      }
    } catch (err) {
      if (isAbort(err) || this.chat.destroyed) return null;
      showStatus(view, "");
      if (view.before) {
        // "Continuar" refused (its answer changed meanwhile, the quota, the queue): the
        // answer stays as it was, and the server's reason is said.
        this.chat.list.finishMeta(view, "complete", view.before);
        view.before = undefined;
        toast(errorDetail(err, "No se pudo continuar la respuesta."), "error");
        return null;
      }
      this.chat.list.finishMeta(view, "error", {});
      // The server's message already says when to try again (rate limit, quota, busy).
      showError(view, errorDetail(err, "No se pudo enviar el mensaje."), retry);
      tell("error");
      if (err instanceof ApiError && err.status === 404 && view.reattached) forgetStreamingAnswer();
    } finally {
      clearInterval(countdown);
      this.controllers.delete(controller);
      this.release(view);
      if (finished && readStreaming()?.assistant_message_id === view.id) forgetStreamingAnswer();
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
      if (this.chat.destroyed) return;
      this.chat.composer.setGenerating(false);
      if (this.chat.conversationId) this.chat.sidebar.markRunning(this.chat.conversationId, false);
    }
  }

  /**
   * The question and its answer are saved (`meta`): their ids, and the answer remembered.
   * @param {AnswerView} view
   * @param {{ conversation_id: string, assistant_message_id: string, user_message_id: string }} data
   */
  onMeta(view, data) {
    view.id = data.assistant_message_id;
    view.el.dataset.id = data.assistant_message_id;
    view.el.dataset.parent = data.user_message_id;
    if (view.question && !view.question.dataset.id) {
      view.question.dataset.id = data.user_message_id;
      this.chat.list.questionMeta(view.question, { parent_id: view.question.dataset.parent });
    }
    sessionStorage.setItem(STREAM_KEY, JSON.stringify({ conversation_id: data.conversation_id, assistant_message_id: data.assistant_message_id }));
    this.chat.answerStarted(data.conversation_id);
    if (view.stopWanted) this.stop();
  }

  /** "Detener" (or Esc): the server stops the answer being generated. */
  async stop() {
    const view = this.active;
    if (!view) return;
    if (!view.id) {
      // Asked for before `meta`: nothing to name yet; done as soon as it is known.
      view.stopWanted = true;
      this.chat.composer.input.focus();
      return;
    }
    this.chat.composer.stopBtn.disabled = true;
    try {
      await api(`/chat/${encodeURIComponent(view.id)}/stop`, { method: "POST" });
    } catch (err) {
      // 404 or 409: the answer ended meanwhile, nothing left to stop.
      const ended = err instanceof ApiError && (err.status === 404 || err.status === 409);
      if (!ended) toast(errorDetail(err, "No se pudo detener la respuesta."), "error");
    } finally {
      this.chat.composer.stopBtn.disabled = false;
      // The button is hidden once the answer ends: the next action is a new message.
      if (!this.chat.destroyed) this.chat.composer.input.focus();
    }
  }
}
