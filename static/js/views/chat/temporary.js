// @ts-check
// "Chat temporal" (docs/ui.md): on the empty new-chat screen a toggle (aria-pressed) makes the
// first message create a temporary chat; while one is shown a band says what that means, with
// the server's hour count, and "Guardar en el historial" turns it into an ordinary conversation.
import { api, errorDetail } from "../../api.js";
import { h, toast } from "../../dom.js";
import { state } from "../../state.js";
import { plural } from "../../plural.js";
/** @import { Conversation } from "../conv_rows.js" */

/** A temporary chat's name where the browser or the desktop keeps one (its title is its first words). */
export const TEMPORARY_NAME = "Chat temporal";

/** The band's sentence, with the hours the server keeps a temporary chat. */
export function bandText() {
  const hours = state.config.temporary_chat_hours;
  return `Chat temporal: no aparecerá en su historial y se borrará ${plural(hours, "hora", "horas")} después del último mensaje (los administradores pueden verlo mientras exista).`;
}

export class TemporaryChat {
  /**
   * @param {{ conversationId: () => string | null, saved: (conv: Conversation) => void }} chat
   */
  constructor(chat) {
    this.chat = chat;
    /** Whether the conversation shown (or the one the first message creates) is temporary. */
    this.on = false;
    this.toggle = h("button", { type: "button", class: "btn btn-ghost btn-sm temporary-toggle", id: "temporary-toggle", "aria-pressed": "false", "aria-describedby": "temporary-text", onclick: () => this.setChosen(!this.on) }, "Chat temporal");
    // Also the toggle's description: a screen reader hears what it means before pressing it.
    this.text = h("span", { class: "temporary-text", id: "temporary-text", text: bandText() });
    this.saveBtn = h("button", { type: "button", class: "btn btn-sm", id: "temporary-save", hidden: true, onclick: () => void this.save() }, "Guardar en el historial");
    this.band = h("div", { class: "alert alert-info temporary-band", id: "temporary-band", role: "note", hidden: true }, this.text, this.saveBtn);
    this.toggle.hidden = true; // until the empty screen offers it
    this.el = h("div", { class: "temporary" }, this.toggle, this.band);
  }

  /** The empty new-chat screen: the toggle is offered, off. */
  offer() {
    this.toggle.hidden = false;
    this.setChosen(false);
  }

  /** @param {boolean} on chosen on the empty screen: the band explains it before the first message */
  setChosen(on) {
    this.on = on;
    this.toggle.setAttribute("aria-pressed", String(on));
    this.show(false);
  }

  /**
   * A conversation is shown (loaded, or created by the first message): no toggle; the band
   * with "Guardar en el historial" when it is temporary.
   * @param {boolean} temporary
   */
  showFor(temporary) {
    this.on = temporary;
    this.toggle.hidden = true;
    this.show(temporary);
  }

  /** @param {boolean} exists the chat exists: it can be saved */
  show(exists) {
    this.text.textContent = bandText();
    this.band.hidden = !this.on;
    this.saveBtn.hidden = !exists;
    // "Compartir" goes while the band shows: by a CSS rule (app.css), since drawing the messages
    // again (Regenerar, ‹ ›) makes a new button.
  }

  async save() {
    const id = this.chat.conversationId();
    if (!id) return;
    this.saveBtn.disabled = true;
    try {
      const conv = await api(`/conversations/${encodeURIComponent(id)}`, { method: "PATCH", body: { temporary: false } });
      this.showFor(false);
      this.chat.saved(conv);
      toast("La conversación quedó guardada en su historial.");
      // The button is gone: the focus goes to the conversation, not to <body>.
      document.getElementById("composer-input")?.focus();
    } catch (err) {
      toast(errorDetail(err, "No se pudo guardar la conversación."), "error");
    } finally {
      this.saveBtn.disabled = false;
    }
  }
}
