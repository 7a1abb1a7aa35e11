// @ts-check
// Server-Sent Events over fetch(): EventSource cannot POST or send an Authorization header.

/**
 * @typedef {{ event: string, data: any, id: string }} ServerEvent `data` parsed as JSON when it is
 *   JSON; `id` the event's id ("" when it has none): with the shared broker, where to resume from
 */

/**
 * Yield {event, data} from a text/event-stream Response body, data parsed as JSON.
 * @param {Response} response
 * @returns {AsyncGenerator<ServerEvent>}
 */
export async function* readEvents(response) {
  if (!response.body) throw new TypeError("the event stream has no body");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const parsed = parseBlock(block);
        if (parsed) yield parsed;
      }
    }
    const last = parseBlock(buffer);
    if (last) yield last;
  } finally {
    reader.releaseLock();
  }
}

/**
 * @param {string} block the lines of one event
 * @returns {ServerEvent | null}
 */
function parseBlock(block) {
  let event = "message";
  let id = "";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue; // keep-alive comment
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  if (!data.length) return null;
  const raw = data.join("\n");
  try {
    return { event, data: JSON.parse(raw), id };
  } catch {
    return { event, data: raw, id };
  }
}

const MAX_MOVES = 5; // re-opens in a row after `reconnect`

/**
 * The events of an answer's stream, followed through a server restart: when the server says
 * `reconnect` (it stops for an update; the answer goes on in another process), the stream is
 * opened again with `reopen(lastId)`, which resumes after the last event received.
 * @param {Response} response
 * @param {(lastId: string) => Promise<Response> | null} reopen null: nothing to re-open
 * @returns {AsyncGenerator<ServerEvent>}
 */
export async function* followAnswer(response, reopen) {
  let lastId = "";
  for (let moves = 0; ; moves += 1) {
    let moved = false;
    for await (const item of readEvents(response)) {
      if (item.id) lastId = item.id;
      if (item.event === "reconnect") {
        moved = true;
        break;
      }
      yield item;
    }
    if (!moved || moves >= MAX_MOVES) return;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const next = reopen(lastId);
    if (!next) return;
    response = await next;
  }
}
