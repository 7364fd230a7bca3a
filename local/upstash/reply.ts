/**
 * Turns raw Redis replies into the JSON an Upstash REST client expects.
 *
 * Replies come from ioredis' `callBuffer` with `stringNumbers` on, so the three RESP2 shapes
 * stay distinguishable: bulk and status strings arrive as `Buffer`, integers as decimal
 * strings (exact over the full signed 64-bit range), nil as `null`, arrays as arrays.
 */
export type RawReply = Buffer | string | number | null | RawReply[];

/**
 * Serializes a reply as a JSON value. Integers are written as number literals digit for digit
 * (never through `Number`), strings as UTF-8 text or, with `base64`, as the base64 of their exact
 * bytes at every depth, as `Upstash-Encoding: base64` requires.
 */
export function replyToJson(reply: RawReply, base64: boolean): string {
  if (reply === null || reply === undefined) return 'null';
  if (Buffer.isBuffer(reply)) {
    return JSON.stringify(base64 ? reply.toString('base64') : reply.toString('utf8'));
  }
  if (typeof reply === 'string') {
    // An integer reply under stringNumbers; anything else here would be a bug upstream.
    return /^-?\d+$/.test(reply)
      ? reply
      : JSON.stringify(base64 ? Buffer.from(reply).toString('base64') : reply);
  }
  if (typeof reply === 'number')
    return Number.isInteger(reply) ? String(reply) : JSON.stringify(String(reply));
  return `[${reply.map((item) => replyToJson(item, base64)).join(',')}]`;
}

/** `{"result": X}`: the key is always present, also for null. */
export const resultBody = (reply: RawReply, base64: boolean): string =>
  `{"result":${replyToJson(reply, base64)}}`;

/** `{"error": "<Redis text>"}`. Errors are never base64-encoded. */
export const errorBody = (message: string): string => JSON.stringify({ error: message });
