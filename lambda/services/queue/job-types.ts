import type * as v from 'valibot';
import { type ApiScope, hasScope } from '../../shared/api-keys';
import { ForbiddenError, ValidationError } from '../../shared/errors';
import { intField, objectBody, stringField } from '../../shared/input';
import { fields, id, keyPrefix, parseWith, type Schema } from '../../shared/validation';
import { MIGRATION_COPY, OPERATOR_JOB_PREFIX } from '../migration/job-types';

/**
 * The registry of job-type definitions: for each type, the scope a key needs to enqueue it and the
 * validation of its payload. No handler code: the api function imports this module to check a
 * `POST /jobs` before anything is enqueued, and the queue worker binds its handlers to the same
 * definitions (`JobRegistry.register(definition, handler)`), which validate each payload again
 * before the handler runs. So enqueue and run can never disagree about what a type needs.
 */

/** Who may enqueue a type over HTTP: keys with this scope, or nobody (`operator`: CLI and code only). */
export type JobScope = ApiScope | 'operator';

/** One job type. */
export interface JobType<P = unknown> {
  /** 1-64 characters of A-Z, a-z, 0-9, `.`, `_`, `-`, e.g. `cache.invalidate-prefix`. */
  readonly type: string;
  /**
   * The scope a key needs to enqueue it through `POST /jobs` (besides the route's `jobs`). Choose
   * the scope of what the job does: a job that deletes cache values needs `cache:write`, as the
   * route that does the same would.
   */
  readonly scope: JobScope;
  /** One line for docs and errors: what the job does. */
  readonly summary: string;
  /**
   * Validates a payload and returns it typed; made with {@link payloadOf} from a valibot schema,
   * it carries that schema, and the OpenAPI document describes the payload from it.
   * @throws ValidationError for a payload the handler could never run
   */
  readonly payload: PayloadCheck<P>;
}

/** A payload check, with the valibot schema it was made from when there is one. */
export type PayloadCheck<P> = ((payload: unknown) => P) & { readonly schema?: Schema };

/** The payload check of a valibot schema: 400 with the message for a payload it refuses. */
export function payloadOf<S extends Schema>(schema: S): PayloadCheck<v.InferOutput<S>> {
  return Object.assign((payload: unknown) => parseWith(schema, payload), { schema });
}

const TYPE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Checks a definition and returns it (typed by its payload).
 * @throws ValidationError for a bad type name
 */
export function defineJobType<P>(definition: JobType<P>): JobType<P> {
  if (!TYPE.test(definition.type)) {
    throw new ValidationError(
      `job type must be 1-64 characters of A-Z, a-z, 0-9, ".", "_" or "-", got ${JSON.stringify(definition.type)}`,
    );
  }
  return Object.freeze({ ...definition });
}

/**
 * A set of job-type definitions, by type. Built-ins are in {@link BUILTIN_JOB_TYPES}; an app adds
 * its own with {@link JobTypes.with}.
 *
 * @example
 * const EMAIL = defineJobType({ type: 'email.send', scope: 'jobs', summary: 'sends one email', payload: parseEmail });
 * const types = BUILTIN_JOB_TYPES.with(EMAIL);
 */
export class JobTypes {
  readonly #types = new Map<string, JobType>();

  constructor(types: Iterable<JobType> = []) {
    for (const type of types) {
      if (this.#types.has(type.type)) throw new ValidationError(`job type "${type.type}" is defined twice`);
      this.#types.set(type.type, type);
    }
  }

  /** A new set with `types` added (a type defined twice is an error). */
  with(...types: JobType[]): JobTypes {
    return new JobTypes([...this.#types.values(), ...types]);
  }

  /** The definition of `type`, or `undefined`. */
  get(type: string): JobType | undefined {
    return this.#types.get(type);
  }

  /** Every definition, in the order added. */
  list(): JobType[] {
    return [...this.#types.values()];
  }

  /** The types a tenant may enqueue over HTTP (all but the operators'). */
  enqueueable(): JobType[] {
    return this.list().filter((t) => t.scope !== 'operator');
  }

  /**
   * The definition of `type` if a key with `scopes` may enqueue it over HTTP, with `payload`
   * validated; nothing is enqueued by this call.
   *
   * @throws ValidationError for an unknown type (listing the known ones) or a bad payload;
   *   ForbiddenError for an operator's type or a missing scope
   */
  authorize<P>(type: string, scopes: readonly string[], payload: unknown): { type: JobType<P>; payload: P } {
    const definition = this.#types.get(type) as JobType<P> | undefined;
    if (definition?.scope === 'operator' || (!definition && type.startsWith(OPERATOR_JOB_PREFIX))) {
      throw new ForbiddenError(`job type "${type}" acts on every tenant's data: operators enqueue it`);
    }
    if (!definition) {
      const known = this.enqueueable().map((t) => t.type);
      throw new ValidationError(`unknown job type ${JSON.stringify(type)}; known types: ${known.join(', ')}`);
    }
    if (!hasScope(scopes, definition.scope)) {
      throw new ForbiddenError(
        `job type "${type}" needs the "${definition.scope}" scope, which this key lacks`,
      );
    }
    return { type: definition, payload: definition.payload(payload) };
  }
}

/** Type of the built-in job that deletes a tenant's cache values by key prefix. */
export const INVALIDATE_PREFIX = 'cache.invalidate-prefix';
/** Type of the built-in job that revokes every session of a user. */
export const REVOKE_USER_SESSIONS = 'sessions.revoke-user';

/** `{ prefix }`: `""` for every value of the tenant, else a valid key prefix (no glob characters). */
export const INVALIDATE_PREFIX_JOB = defineJobType({
  type: INVALIDATE_PREFIX,
  scope: 'cache:write',
  summary: "deletes the tenant's cache values whose key starts with prefix; result { deleted }",
  payload: payloadOf(fields({ prefix: keyPrefix('"" for every value of the tenant') }, 'the payload')),
});

/** `{ userId }`. */
export const REVOKE_USER_SESSIONS_JOB = defineJobType({
  type: REVOKE_USER_SESSIONS,
  scope: 'sessions:write',
  summary: 'ends every session of userId; result { revoked }',
  payload: payloadOf(fields({ userId: id('userId') }, 'the payload')),
});

/** `{ database, match?, batch? }`: operators only (it reads and writes every tenant's keys). */
export const MIGRATION_COPY_JOB = defineJobType({
  type: MIGRATION_COPY,
  scope: 'operator',
  summary: 'copies keys from the old Redis of a migrating database (npm run migrate)',
  payload(payload: unknown): { database: string; match?: string; batch?: number } {
    const body = objectBody(payload ?? {}, ['database', 'match', 'batch'], 'the payload');
    const database = stringField(body, 'database');
    const match = stringField(body, 'match', true);
    const batch = intField(body, 'batch', 1, 10_000);
    return { database, ...(match !== undefined ? { match } : {}), ...(batch !== undefined ? { batch } : {}) };
  },
});

/** The built-in job types: the one set the api function checks and the queue worker runs. */
export const BUILTIN_JOB_TYPES = new JobTypes([
  INVALIDATE_PREFIX_JOB,
  REVOKE_USER_SESSIONS_JOB,
  MIGRATION_COPY_JOB,
]);
