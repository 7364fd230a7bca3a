import * as v from 'valibot';
import { ValidationError } from './errors';
import { MAX_ID_BYTES, validateId } from './keys';

/**
 * Request validation with valibot: the schemas of request bodies (lambda/shared/api-schemas.ts)
 * and job payloads are valibot schemas, checked here and turned into the OpenAPI document
 * (lambda/shared/openapi.ts), so what is enforced and what is published are one source. The
 * builders below give every issue a message that names its field, in the API's wording.
 */

/** Any valibot schema without async parts. */
export type Schema = v.GenericSchema;

/**
 * An object with exactly these fields: an unknown field is an issue naming it and the allowed
 * ones (a typo such as `ttlMS` silently ignored would be worse), as are a missing required field
 * and a value that is not an object (`what` names it).
 */
export const fields = <const E extends v.ObjectEntries>(entries: E, what = 'the body') => {
  const schema = v.strictObject(entries, (issue) => {
    if (issue.expected === 'never') {
      return `unknown field ${issue.received}; allowed: ${Object.keys(entries).join(', ') || 'none'}`;
    }
    const missing = issue.path?.at(-1)?.key;
    return missing === undefined ? `${what} must be a JSON object` : `${String(missing)} is required`;
  });
  OBJECTS.set(schema, what);
  return schema;
};

/** What each {@link fields} schema is called: valibot's object schemas take an array for one. */
const OBJECTS = new WeakMap<object, string>();

/**
 * A client-supplied id (a key, a user id, an identifier): 1 to 512 UTF-8 bytes, no control
 * characters, none of `* ? [ ] \` (lambda/shared/keys.ts `validateId`).
 */
export const id = (what: string, description = `${what}: 1-${MAX_ID_BYTES} bytes of UTF-8`) =>
  v.pipe(
    v.string(`${what} must be a non-empty string`),
    v.minLength(1, `${what} must be a non-empty string`),
    v.maxLength(MAX_ID_BYTES, `${what} must be at most ${MAX_ID_BYTES} bytes`),
    v.rawCheck<string>(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      try {
        validateId(dataset.value, what);
      } catch (error) {
        addIssue({ message: (error as Error).message });
      }
    }),
    v.description(description),
  );

/** A key prefix: `""` for every key of the tenant, else a valid key prefix (no glob characters). */
export const keyPrefix = (description: string) =>
  v.pipe(
    v.union([v.literal(''), id('prefix')], (issue) =>
      typeof issue.input === 'string'
        ? ((issue.issues?.at(-1)?.message as string | undefined) ?? 'prefix must be a valid key prefix')
        : 'prefix must be a string ("" for every key)',
    ),
    v.description(description),
  );

/** A whole number from `min` to `max`. */
export const wholeNumber = (name: string, min: number, max: number, description?: string) => {
  const message = `${name} must be a whole number from ${min} to ${max}`;
  return v.pipe(
    v.number(message),
    v.integer(message),
    v.minValue(min, message),
    v.maxValue(max, message),
    v.description(description ?? name),
  );
};

/** One of `values`. */
export const oneOf = <const T extends readonly string[]>(name: string, values: T, description?: string) =>
  v.pipe(
    v.picklist(values, `${name} must be ${values.map((x) => `"${x}"`).join(', ')}`),
    v.description(description ?? name),
  );

/** JSON Schemas of the schemas valibot has no JSON Schema for (see {@link jsonObject}). */
export const JSON_SCHEMA_OF = new WeakMap<Schema, Record<string, unknown>>();

/**
 * A JSON object of any fields, passed on exactly as parsed: valibot's own object and record
 * schemas leave out keys named `__proto__`, `constructor` and `prototype`, which this API stores
 * as data (session fields; see docs/api.md).
 */
export function jsonObject(message: string, description: string): Schema {
  const object = v.custom<Record<string, unknown>>(
    (input) => typeof input === 'object' && input !== null && !Array.isArray(input),
    message,
  );
  JSON_SCHEMA_OF.set(object, { type: 'object', additionalProperties: true });
  return v.pipe(object, v.description(description));
}

/** The message of the issue to report: an unknown field first (the likelier mistake), else the first. */
function messageOf(issues: readonly v.BaseIssue<unknown>[]): string {
  const unknown = issues.find((issue) => issue.type === 'strict_object' && issue.expected === 'never');
  return (unknown ?? issues[0])?.message ?? 'the request is not valid';
}

/**
 * `value` checked against `schema`: its output, or a ValidationError (400) with the message of
 * the issue that matters most.
 */
export function parseWith<S extends Schema>(schema: S, value: unknown): v.InferOutput<S> {
  const base = 'pipe' in schema ? (schema.pipe as readonly object[])[0] : schema;
  const what = base ? OBJECTS.get(base) : undefined;
  if (what !== undefined && Array.isArray(value)) throw new ValidationError(`${what} must be a JSON object`);
  const result = v.safeParse(schema, value);
  if (!result.success) throw new ValidationError(messageOf(result.issues));
  return result.output;
}
