import { type Reply, RespBigInt, RespError } from './resp';

/**
 * Serializes a Redis reply as the JSON value an Upstash REST client expects. Integers are
 * written digit for digit (never rounded through a double past 2^53); strings as UTF-8 text or,
 * with `base64`, as the base64 of their exact bytes at every depth, as `Upstash-Encoding: base64`
 * requires. An error nested in an array (a script may return one) becomes its text.
 */
export function replyToJson(reply: Reply, base64: boolean): string {
  if (reply === null) return 'null';
  if (Buffer.isBuffer(reply)) {
    return base64 ? `"${reply.toString('base64')}"` : JSON.stringify(reply.toString('utf8'));
  }
  if (typeof reply === 'number') return String(reply);
  if (reply instanceof RespBigInt) return reply.digits;
  if (reply instanceof RespError) {
    return base64 ? `"${Buffer.from(reply.message).toString('base64')}"` : JSON.stringify(reply.message);
  }
  let out = '[';
  for (let i = 0; i < reply.length; i++) {
    if (i > 0) out += ',';
    out += replyToJson(reply[i] as Reply, base64);
  }
  return `${out}]`;
}

/** `{"result": X}`: the key is always present, also for null. */
export const resultBody = (reply: Reply, base64: boolean): string =>
  `{"result":${replyToJson(reply, base64)}}`;

/** `{"error": "<Redis text>"}`. Errors are never base64-encoded. */
export const errorBody = (message: string): string => `{"error":${JSON.stringify(message)}}`;

/** One item of a pipeline or transaction answer: a result, or an error in its place. */
export const itemBody = (reply: Reply, base64: boolean): string =>
  reply instanceof RespError ? errorBody(reply.message) : resultBody(reply, base64);
