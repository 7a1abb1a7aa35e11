// @ts-check
// What a person typed in a conversation's composer and has not sent, kept while the page is
// open: looking at another conversation, or "Nueva conversación", and coming back loses nothing.
// In memory only (never in storage), keyed by the signed-in account, so that someone else who
// signs in on the same page does not see it.

/** @type {Map<string, string>} */
const drafts = new Map();

/**
 * @param {string} userId
 * @param {string | null} conversationId null for a new conversation
 */
const key = (userId, conversationId) => `${userId}:${conversationId ?? ""}`;

/**
 * @param {string} userId
 * @param {string | null} conversationId
 * @returns {string} what was left in that composer, "" if nothing
 */
export function readDraft(userId, conversationId) {
  return drafts.get(key(userId, conversationId)) ?? "";
}

/**
 * @param {string} userId
 * @param {string | null} conversationId
 * @param {string} text "" forgets it (sent, or erased)
 */
export function saveDraft(userId, conversationId, text) {
  if (text) drafts.set(key(userId, conversationId), text);
  else drafts.delete(key(userId, conversationId));
}
