// @ts-check
// Spanish counts, the one place a number and the words that agree with it are put together:
// "1 mensaje", "2 mensajes", "1.500 respuestas" (es-CL digits), "0 claves".

const number = new Intl.NumberFormat("es-CL");

/**
 * A count in es-CL digits: "1.500".
 * @param {number} n
 */
export function formatCount(n) {
  return number.format(n);
}

/**
 * `n` (es-CL digits) and the words that agree with it: "1 respuesta", "1.500 respuestas".
 * The words may carry the rest of the agreement: plural(n, "conversación se eliminará",
 * "conversaciones se eliminarán").
 * @param {number} n
 * @param {string} one for exactly 1
 * @param {string} many for every other count (Spanish says "0 mensajes")
 */
export function plural(n, one, many) {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}
