import { ValidationError } from './errors';

/**
 * Checks of parsed JSON input (request bodies, job payloads), shared by the api function and the
 * job types, so a payload is validated the same way whichever way it arrives. Unknown fields are
 * refused: a typo such as `ttlMS` silently ignored would be worse.
 */

/** Plain-object check for parsed JSON. */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * An object with only the `allowed` fields (`what` names it in errors, e.g. `the payload`).
 * @throws ValidationError for another type or an unknown field
 */
export function objectBody(
  value: unknown,
  allowed: readonly string[],
  what = 'the body',
): Record<string, unknown> {
  if (!isObject(value)) throw new ValidationError(`${what} must be a JSON object`);
  const unknown = Object.keys(value).filter((name) => !allowed.includes(name));
  if (unknown.length > 0) {
    throw new ValidationError(
      `unknown field ${JSON.stringify(unknown[0])}; allowed: ${allowed.join(', ') || 'none'}`,
    );
  }
  return value;
}

/** A non-empty string field; `undefined` only when `optional` and absent. */
export function stringField(body: Record<string, unknown>, name: string): string;
export function stringField(body: Record<string, unknown>, name: string, optional: true): string | undefined;
export function stringField(
  body: Record<string, unknown>,
  name: string,
  optional = false,
): string | undefined {
  const value = body[name];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || value === '')
    throw new ValidationError(`${name} must be a non-empty string`);
  return value;
}

/** A whole number field within `[min, max]`. */
export function intField(
  body: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  optional = true,
): number | undefined {
  const value = body[name];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ValidationError(`${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}
