import { ValidationError } from './errors';

/**
 * The one JSON path of the runtime, for every body, cache value, session field and job payload.
 *
 * - **Depth**: nesting is limited ({@link MAX_JSON_DEPTH}); deeper input is a ValidationError (400),
 *   checked without recursion, so no input can overflow the stack (`JSON.stringify` and
 *   `structuredClone` recurse, and a 10 KB body can nest 5,000 deep).
 * - **Prototype-safe objects**: keys named `__proto__`, `constructor` or `prototype` are data. They
 *   are stored and returned exactly: `JSON.parse` makes them own properties, and objects built from
 *   stored data go through {@link setField}, never `obj[key] = value` (which, for `__proto__`, would
 *   replace the prototype instead of adding a field).
 */

/** Deepest nesting of arrays and objects accepted, counting the outermost one as 1. */
export const MAX_JSON_DEPTH = 64;

/**
 * Throws unless `text` nests arrays and objects at most `maxDepth` deep. A linear scan of the text
 * (strings skipped), so a deep document is refused before it is parsed.
 */
export function checkJsonTextDepth(text: string, maxDepth = MAX_JSON_DEPTH, what = 'the body'): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > maxDepth) {
        throw new ValidationError(`${what} is nested deeper than ${maxDepth} levels`);
      }
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
}

/**
 * Parses JSON text through the one input path: depth checked first, then `JSON.parse`.
 *
 * @throws ValidationError for malformed or too deeply nested text
 */
export function parseJson(text: string, what = 'the body', maxDepth = MAX_JSON_DEPTH): unknown {
  checkJsonTextDepth(text, maxDepth, what);
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError(`${what} is not valid JSON`);
  }
}

/**
 * Throws unless `value` nests arrays and objects at most `maxDepth` deep, walked without recursion
 * (a cycle counts as infinitely deep). What `JSON.stringify` does with the leaves (dates through
 * `toJSON`, `undefined` fields dropped) is left to it.
 */
export function checkJsonDepth(value: unknown, what = 'the value', maxDepth = MAX_JSON_DEPTH): void {
  const stack: Array<[unknown, number]> = [[value, 0]];
  // The deepest each shared object was seen at: a value reached twice is walked again only when
  // reached deeper, so a graph of shared references costs at most its size times the limit.
  const seen = new Map<object, number>();
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > maxDepth) {
      throw new ValidationError(`${what} is nested deeper than ${maxDepth} levels (or holds a cycle)`);
    }
    if ((seen.get(v) ?? -1) >= depth) continue;
    seen.set(v, depth);
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
}

/**
 * `JSON.stringify` for data about to be stored: the depth is checked first, so no value can
 * overflow the stack, and what is stored can be read back and answered by every reader.
 *
 * @throws ValidationError for a value that is too deep, cyclic, not serializable or `undefined`
 */
export function stringifyJson(value: unknown, what = 'the value', maxDepth = MAX_JSON_DEPTH): string {
  checkJsonDepth(value, what, maxDepth);
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new ValidationError(`${what} must be JSON-serializable`, { cause: error });
  }
  if (json === undefined) throw new ValidationError(`${what} must be a JSON value (got ${typeof value})`);
  return json;
}

/**
 * Adds `key` to `target` as an own, enumerable data property, whatever its name: unlike
 * `target[key] = value`, a key `__proto__` becomes a field and never the prototype.
 */
export function setField(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * JSON text of a parsed value with every object's keys sorted, so two documents that differ only
 * in key order or whitespace give the same text (an `Idempotency-Key`'s fingerprint). Keys named
 * `__proto__` are read as the own properties `JSON.parse` makes them. Recursive: call it on values
 * that passed the depth limit.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
  return `{${entries.join(',')}}`;
}
