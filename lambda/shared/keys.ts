import { ValidationError } from './errors';

/**
 * The second segment of a key: who owns it, so owners never collide. These are stored data's
 * layout, not the feature names of the configuration (`Feature` in `config.ts`): renaming one
 * would orphan every key written under it.
 */
export type KeySpace =
  | 'cache'
  | 'session'
  | 'ratelimit'
  | 'lock'
  | 'queue'
  | 'stats'
  | 'migration'
  | 'idempotency'
  | 'apikey';

/** Tenants are identifiers we mint (API-key owners), so they can be strict. */
// Starts with a letter or digit, so no tenant can be `_`, the segment of shared keys.
const TENANT = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Longest client-supplied id, in UTF-8 bytes. */
export const MAX_ID_BYTES = 512;

// C0 controls, DEL, C1 controls, and the glob metacharacters of SCAN MATCH. Rejecting the glob
// characters means no pattern we build from an id can match more than that id's own keys.
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f*?[\]\\]/;

/** Throws a {@link ValidationError} unless `tenant` is a valid tenant id. */
export function validateTenant(tenant: string): string {
  if (typeof tenant !== 'string' || !TENANT.test(tenant)) {
    throw new ValidationError(
      'tenant must be 1-64 characters of A-Z, a-z, 0-9, "_" or "-", starting with a letter or digit',
    );
  }
  return tenant;
}

/**
 * Throws a {@link ValidationError} unless `id` is a usable client-supplied id: 1 to 512 UTF-8
 * bytes, no control characters, none of `* ? [ ] \`. Colons, dots and any other Unicode are
 * fine: the tenant segment before the id is what isolates tenants.
 */
export function validateId(id: string, what = 'key'): string {
  if (typeof id !== 'string' || id.length === 0) throw new ValidationError(`${what} must not be empty`);
  if (id.length > MAX_ID_BYTES || Buffer.byteLength(id, 'utf8') > MAX_ID_BYTES) {
    throw new ValidationError(`${what} must be at most ${MAX_ID_BYTES} bytes`);
  }
  if (FORBIDDEN.test(id)) {
    throw new ValidationError(`${what} must not contain control characters or any of * ? [ ] \\`);
  }
  if (id !== id.toWellFormed()) throw new ValidationError(`${what} must be valid Unicode`);
  return id;
}

/**
 * The one key builder of the runtime: `${prefix}:${feature}:${tenant}:${id}`.
 *
 * @example
 * const keys = new KeyBuilder('app');
 * keys.key('cache', 'acme', 'user:42'); // 'app:cache:acme:user:42'
 */
export class KeyBuilder {
  constructor(readonly prefix: string) {
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) {
      throw new ValidationError(
        `key prefix must be 1-32 characters of A-Z, a-z, 0-9, "_" or "-", got "${prefix}"`,
      );
    }
  }

  /** The key of `id` for `tenant` under `feature`; tenant and id are validated. */
  key(feature: KeySpace, tenant: string, id: string): string {
    return `${this.prefix}:${feature}:${validateTenant(tenant)}:${validateId(id)}`;
  }

  /** A key under `feature` for `tenant` with an id the runtime built itself (already safe). */
  internal(feature: KeySpace, tenant: string, ...parts: string[]): string {
    return [this.prefix, feature, validateTenant(tenant), ...parts].join(':');
  }

  /** A key under `feature` shared by all tenants (queues, the maintenance lock). */
  global(feature: KeySpace, ...parts: string[]): string {
    return [this.prefix, feature, '_', ...parts].join(':');
  }

  /** The SCAN MATCH pattern of every key of `tenant` under `feature` whose id starts with `idPrefix`. */
  pattern(feature: KeySpace, tenant: string, idPrefix = ''): string {
    if (idPrefix !== '') validateId(idPrefix, 'prefix');
    return `${this.prefix}:${feature}:${validateTenant(tenant)}:${idPrefix}*`;
  }
}
