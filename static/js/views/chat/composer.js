// @ts-check
// The composer: the message field with its counter and draft, the files attached to it, Enviar /
// Detener, the band saying an answer runs in another conversation, and what a screen reader hears
// when an answer ends.
import { api } from "../../api.js";
import { h, icon, iconButton } from "../../dom.js";
import { state, signedInUser } from "../../state.js";
import { readDraft, saveDraft } from "../drafts.js";
import { ACCEPT, MAX_FILES, AttachmentError, readAttachment } from "./attachments.js";
import { PromptPicker } from "./prompt_picker.js";
/** @import { Attachment } from "./attachments.js" */
/** @import { ModelService } from "./models.js" */

/**
 * What the composer asks of the chat screen.
 * @typedef {object} ComposerHost
 * @property {() => string | null} conversationId the conversation its draft belongs to
 * @property {() => boolean} generating an answer of this conversation is being generated
 * @property {() => boolean} loading the conversation's messages are not drawn yet
 * @property {(text: string) => void} send
 * @property {() => void} stop "Detener", or Esc in the field
 */

/**
 * "12 / 500" beside a message field. It is no live region (a screen reader would read it after
 * every key): the field points to it with aria-describedby, and only crossing the limit is said.
 */
export class CharCounter {
  /**
   * @param {string} id the count's id, for the field's aria-describedby
   * @param {number} max
   * @param {string} [subject] what is counted, as the alert names it past the limit
   */
  constructor(id, max, subject = "El mensaje") {
    this.max = max;
    this.subject = subject;
    this.count = h("span", { class: "counter", id });
    this.alert = h("span", { class: "sr-only", role: "status" });
    this.el = h("span", {}, this.count, this.alert);
    /** @type {boolean | null} */
    this.over = null;
  }

  /**
   * @param {number} length the text's length now
   * @returns {boolean} whether it is past the limit
   */
  show(length) {
    const over = length > this.max;
    this.count.textContent = `${length.toLocaleString("es-CL")} / ${this.max.toLocaleString("es-CL")}`;
    this.count.classList.toggle("over", over);
    if (over !== this.over) this.alert.textContent = over ? `${this.subject} supera el límite de ${this.max.toLocaleString("es-CL")} caracteres.` : "";
    this.over = over;
    return over;
  }
}

export class Composer {
  /**
   * @param {ComposerHost} host
   * @param {ModelService} models its picker, note and band are shown with the composer
   */
  constructor(host, models) {
    this.host = host;
    // Read once: the drafts belong to whoever opened this chat, also for an update that comes
    // after they signed out (an answer's end).
    this.userId = signedInUser().id;
    this.max = state.config.max_message_chars;
    /** @type {{ id: string, title: string } | null} an answer running in another conversation */
    this.elsewhere = null;
    this.input = h("textarea", { id: "composer-input", rows: 1, placeholder: "Escriba su mensaje…", "aria-label": "Mensaje", "aria-describedby": "composer-counter composer-help" });
    this.counter = new CharCounter("composer-counter", this.max);
    this.sendBtn = h("button", { type: "submit", class: "btn btn-primary", id: "send-btn", "aria-label": "Enviar mensaje" }, icon("send"), h("span", { class: "sr-only", text: "Enviar" }));
    this.stopBtn = h("button", { type: "button", class: "btn btn-danger", id: "stop-btn", hidden: true, onclick: () => host.stop() }, icon("stop"), "Detener");
    /** @type {Attachment[]} files going with the next question (not kept in the draft) */
    this.attachments = [];
    /** Files are read one batch after another (the limits count what came before). */
    this.reading = Promise.resolve();
    this.pendingReads = 0;
    this.fileInput = h("input", { type: "file", id: "attach-input", accept: ACCEPT, multiple: true, hidden: true, tabindex: -1 });
    this.fileInput.addEventListener("change", () => {
      const files = [...(this.fileInput.files ?? [])];
      this.fileInput.value = "";
      void this.attach(files);
    });
    this.attachBtn = iconButton("attach", "Adjuntar archivo (texto, PDF, Word, Excel o PowerPoint)", () => this.fileInput.click(), { id: "attach-btn" });
    this.fileList = h("ul", { class: "attachments", id: "attachments", "aria-label": "Archivos adjuntos", hidden: true });
    this.fileError = h("p", { class: "attach-error small", id: "attach-error", role: "alert", hidden: true });
    this.fileErrorTurn = 0; // the latest showFileError: an older one's text comes too late
    // "/" at the start of the empty field, or its button: the saved prompts (prompt_picker.js).
    this.picker = new PromptPicker(this.input, () => this.update(), () => this.max);
    this.readingNote = h("p", { class: "hint small", id: "attach-reading", role: "status", hidden: true });
    const form = h("form", { class: "composer", "aria-label": "Escribir mensaje" },
      this.picker.popup,
      this.fileList,
      this.input,
      this.readingNote,
      this.fileError,
      h("div", { class: "composer-row" },
        this.attachBtn,
        this.picker.button,
        this.fileInput,
        models.slot,
        h("span", { class: "hint small", id: "composer-help", text: "Enter envía · Shift+Enter nueva línea" }),
        h("span", { class: "spacer" }),
        this.counter.el,
        this.stopBtn,
        this.sendBtn,
      ),
    );
    this.input.value = readDraft(this.userId, host.conversationId());
    this.input.addEventListener("input", () => {
      this.picker.onInput();
      this.update();
    });
    this.input.addEventListener("keydown", (event) => {
      if (this.picker.handleKey(event)) return;
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "Escape" && host.generating()) {
        event.preventDefault();
        host.stop();
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = this.message();
      if (!this.sendable() || this.blocked()) return;
      this.picker.close();
      this.input.value = "";
      this.attachments = [];
      this.showFileError("");
      this.showFiles();
      this.update();
      host.send(text);
    });
    // A file pasted into the field (copied in the file manager) is attached like a chosen one.
    this.input.addEventListener("paste", (event) => {
      if (!event.clipboardData?.files.length) return;
      event.preventDefault();
      void this.attach([...event.clipboardData.files]);
    });
    form.addEventListener("dragover", (event) => {
      if (!event.dataTransfer?.types.includes("Files")) return;
      event.preventDefault();
      form.classList.add("dropping");
    });
    form.addEventListener("dragleave", () => form.classList.remove("dropping"));
    form.addEventListener("drop", (event) => {
      form.classList.remove("dropping");
      if (!event.dataTransfer?.files.length) return;
      event.preventDefault();
      void this.attach([...event.dataTransfer.files]);
    });
    this.runningNote = h("p", { class: "alert alert-info composer-warning", id: "running-note", role: "status", hidden: true });
    // What a screen reader hears when an answer ends (the answer's own text is not a live region:
    // read token by token it would be noise).
    this.announcer = h("p", { class: "sr-only", id: "answer-announcer", role: "status" });
    this.wrap = h("div", { class: "composer-wrap" }, models.warning, this.runningNote, form, models.note, this.announcer);
    this.update();
    queueMicrotask(() => this.input.focus());
  }

  /**
   * Nothing can be sent now: an answer runs (here or elsewhere), the messages are not drawn yet,
   * or a file is still being read (sent now, the question would go without it).
   */
  blocked() {
    return Boolean(this.host.generating() || this.elsewhere || this.host.loading() || this.pendingReads);
  }

  /**
   * What Enviar sends: the text written, then each attached file's block. Nothing written, a
   * line naming the files: it is also the conversation's first title, which the model's may
   * never replace (a conversation past num_ctx gets none), and one line for all would make
   * every such conversation "Revise el archivo adjunto".
   */
  message() {
    const blocks = this.attachments.map((a) => a.block()).join("");
    if (!blocks) return this.input.value;
    const names = this.attachments.map((a) => `«${a.name}»`);
    // No count is shown: the article and noun follow whether there are several (not plural()).
    let asked = `Revise el archivo adjunto ${names[0]}.`;
    if (names.length > 1) asked = `Revise los archivos adjuntos ${names.slice(0, -1).join(", ")} y ${names[names.length - 1]}.`;
    return `${this.input.value.trim() || asked}${blocks}`;
  }

  /**
   * How long a question may be here: the server counts the room the conversation's custom
   * instructions take in the model's context (`GET /chat/limit`). Until it answers, or if it
   * cannot, the limit without them stays (the server checks either way).
   * @param {string | null} conversationId null: the conversation Enviar would create
   */
  async loadLimit(conversationId) {
    const query = conversationId ? `?conversation_id=${encodeURIComponent(conversationId)}` : "";
    try {
      const { max_message_chars: max } = await api(`/chat/limit${query}`);
      if (typeof max !== "number" || max < 1 || max === this.max) return;
      this.max = max;
      this.counter.max = max;
      this.counter.over = null;
      this.update();
    } catch {
      // The global limit stays.
    }
  }

  /** There is something to send and it fits the limit. */
  sendable() {
    const text = this.message();
    return Boolean(text.trim()) && text.length <= this.max;
  }

  /** Keep the draft, count the characters (files included) and allow Enviar when it can be sent. */
  update() {
    saveDraft(this.userId, this.host.conversationId(), this.input.value);
    this.counter.show(this.message().length);
    this.sendBtn.disabled = !this.sendable() || this.blocked();
  }

  /**
   * Read files into attachments, after those still being read; Enviar waits for them.
   * @param {File[]} files
   */
  attach(files) {
    if (!files.length) return this.reading;
    this.pendingReads += 1;
    this.readingNote.textContent = "Leyendo archivos…";
    this.readingNote.hidden = false;
    this.update();
    this.reading = this.reading.then(() => this.readFiles(files)).catch(() => {}).finally(() => {
      this.pendingReads -= 1;
      this.readingNote.hidden = !this.pendingReads;
      this.update();
    });
    return this.reading;
  }

  /**
   * Read files into attachments; say in the composer why one could not be.
   * @param {File[]} files
   */
  async readFiles(files) {
    /** @type {string[]} */
    const problems = [];
    /** @type {string[]} */
    const added = [];
    for (const file of files) {
      if (this.attachments.length >= MAX_FILES) {
        problems.push(`Se pueden adjuntar hasta ${MAX_FILES} archivos por mensaje.`);
        break;
      }
      try {
        const room = this.max - this.message().length;
        const attachment = await readAttachment(file, room);
        if (attachment.block().length > room) {
          problems.push(`«${attachment.name}» no cabe: su texto pasa de los ${Math.max(room, 0).toLocaleString("es-CL")} caracteres que le quedan al mensaje (el máximo es ${this.max.toLocaleString("es-CL")}). Adjunte un extracto.`);
          continue;
        }
        this.attachments.push(attachment);
        added.push(attachment.name);
      } catch (err) {
        problems.push(err instanceof AttachmentError ? err.message : `«${file.name}» no se pudo leer.`);
      }
    }
    if (added.length) this.announce(`Adjuntado: ${added.join(", ")}.`);
    this.showFileError(problems.join(" "));
    this.showFiles();
    this.update();
    this.input.focus();
  }

  /**
   * Say why files could not be attached; none: hide it. The alert is emptied and its text set
   * a moment later, as `announce` does: the same words as last time (the same file chosen
   * again) are announced again, where an alert whose text does not change is not.
   * @param {string} text
   */
  showFileError(text) {
    const turn = ++this.fileErrorTurn;
    this.fileError.textContent = "";
    this.fileError.hidden = !text;
    if (text) setTimeout(() => { if (turn === this.fileErrorTurn) this.fileError.textContent = text; }, 50);
  }

  /** The attached files as removable chips above the field. */
  showFiles() {
    this.fileList.hidden = !this.attachments.length;
    this.fileList.replaceChildren(...this.attachments.map((a, i) => h("li", { class: "attachment-chip" },
      icon("file"),
      h("span", { class: "attachment-name", text: a.name }),
      h("span", { class: "hint small", text: `${a.text.length.toLocaleString("es-CL")} caracteres` }),
      iconButton("close", `Quitar ${a.name}`, () => {
        this.attachments.splice(i, 1);
        this.showFileError("");
        this.showFiles();
        this.update();
        this.input.focus();
      }),
    )));
  }

  /** @param {string} text put in the field to be sent (an example of the welcome) */
  fill(text) {
    this.input.value = text;
    this.update();
    this.input.focus();
  }

  /** @param {boolean} on an answer is being generated: Detener instead of Enviar */
  setGenerating(on) {
    // The button that goes may hold the focus (Detener when the answer ends by itself): it
    // goes to the field, not to <body>.
    const leaving = on ? this.sendBtn : this.stopBtn;
    const focused = document.activeElement === leaving;
    this.stopBtn.hidden = !on;
    this.sendBtn.hidden = on;
    this.update();
    if (focused) this.input.focus();
  }

  /**
   * Say above the composer that an answer of another conversation is running (one at a time),
   * with a link to it, and hold the send button until it ends.
   * @param {{ id: string, title: string }[]} running from the sidebar's refresh
   */
  showRunningElsewhere(running) {
    const other = running.find((c) => c.id !== this.host.conversationId()) ?? null;
    const shown = this.elsewhere;
    this.elsewhere = other && !this.host.generating() ? other : null;
    this.runningNote.hidden = !this.elsewhere;
    // Rewritten only when it changes: a live region repeats what it is given.
    if (this.elsewhere && (this.elsewhere.id !== shown?.id || this.elsewhere.title !== shown?.title)) {
      this.runningNote.replaceChildren(
        `Hay una respuesta en curso en «${this.elsewhere.title || "Nueva conversación"}». Podrá enviar otro mensaje cuando termine. `,
        h("a", { href: `#/chat/${encodeURIComponent(this.elsewhere.id)}`, text: "Ver la respuesta" }),
      );
    }
    this.update();
  }

  /**
   * Say `text` through the polite status region; the same words twice are announced twice.
   * @param {string} text
   */
  announce(text) {
    const region = this.announcer;
    region.textContent = "";
    if (text) setTimeout(() => { region.textContent = text; }, 50);
  }
}
