import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ValidationError } from './errors';
import { validateTenant } from './keys';

/**
 * API keys: the format of the Secrets Manager secret the authorizer reads, and the pure functions
 * the authorizer and the `api-key` CLI share. The secret holds only SHA-256 hashes; a key is shown
 * once, when it is minted.
 *
 * Secret value: `{"keys":[{"id":"k_1a2b3c4d","hash":"<sha256 hex>","tenant":"acme","scopes":["*"],"createdAt":"...",
 * "label":"ci deploys","expiresAt":"..."}]}` (label and expiry optional).
 */

/** Scopes a key may carry. `*` grants every one. */
export const SCOPES = [
  'cache:read',
  'cache:write',
  'sessions:read',
  'sessions:write',
  'rate-limits',
  // Resets a rate limit (what a support or admin tool needs, not an app): kept apart from
  // `rate-limits`, which only checks, reads and refunds.
  'rate-limits:admin',
  'jobs',
  'stats',
] as const;

/** One scope a route or a job type needs. */
export type ApiScope = (typeof SCOPES)[number];

/** One scope, or `*` for all. */
export type Scope = ApiScope | '*';

/** One stored key: everything but the key itself. */
export interface ApiKeyRecord {
  /** Public identifier, safe to log and to pass to `revoke`. */
  readonly id: string;
  /** Lower-case hex SHA-256 of the key. */
  readonly hash: string;
  readonly tenant: string;
  readonly scopes: readonly Scope[];
  /** ISO 8601 time of minting. */
  readonly createdAt?: string;
  /** What the key is for, as its owner wrote it (shown by `list`, never used to authorize). */
  readonly label?: string;
  /** ISO 8601 time from which the key no longer works. @default - never expires */
  readonly expiresAt?: string;
}

/** Options of {@link mintApiKey}. */
export interface MintOptions {
  /** @default - none */
  readonly label?: string;
  /** @default - never expires */
  readonly expiresAt?: Date;
}

/** The parsed secret. */
export interface ApiKeySet {
  readonly keys: readonly ApiKeyRecord[];
}

/** A freshly minted key and the record to store. The key is never stored. */
export interface MintedKey {
  readonly key: string;
  readonly record: ApiKeyRecord;
}

const HASH = /^[0-9a-f]{64}$/;
const KEY_PREFIX = 'usk_';

/** Lower-case hex SHA-256 of a key, as stored in the secret. */
export const hashApiKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

/**
 * Mints a key with 256 random bits (`usk_` + base64url) for `tenant`.
 *
 * @throws ValidationError when the tenant or a scope is not valid
 */
export function mintApiKey(
  tenant: string,
  scopes: readonly string[] = ['*'],
  now = new Date(),
  options: MintOptions = {},
): MintedKey {
  validateTenant(tenant);
  const checked = scopes.map(checkScope);
  if (checked.length === 0) throw new ValidationError('a key needs at least one scope');
  if (options.label !== undefined) checkLabel(options.label, 'label');
  if (options.expiresAt !== undefined && !(options.expiresAt.getTime() > now.getTime())) {
    throw new ValidationError('a key must expire in the future');
  }
  const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  return {
    key,
    record: {
      id: `k_${randomBytes(4).toString('hex')}`,
      hash: hashApiKey(key),
      tenant,
      scopes: checked,
      createdAt: now.toISOString(),
      ...(options.label !== undefined ? { label: options.label } : {}),
      ...(options.expiresAt !== undefined ? { expiresAt: options.expiresAt.toISOString() } : {}),
    },
  };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const LABEL = /^[^\u0000-\u001f\u007f]{1,100}$/;

function checkLabel(label: string, where: string): string {
  if (typeof label !== 'string' || !LABEL.test(label)) {
    throw new ValidationError(`${where} must be 1-100 characters without control characters`);
  }
  return label;
}

/** Epoch ms of a record's expiry, `null` when it never expires. */
export const expiryOf = (record: Pick<ApiKeyRecord, 'expiresAt'>): number | null =>
  record.expiresAt === undefined ? null : Date.parse(record.expiresAt);

/** Whether a key has expired at `now` (epoch ms). */
export const isExpired = (record: Pick<ApiKeyRecord, 'expiresAt'>, now = Date.now()): boolean => {
  const expiry = expiryOf(record);
  return expiry !== null && expiry <= now;
};

function checkScope(scope: string): Scope {
  if (scope === '*' || (SCOPES as readonly string[]).includes(scope)) return scope as Scope;
  throw new ValidationError(`unknown scope ${JSON.stringify(scope)}; known: *, ${SCOPES.join(', ')}`);
}

/**
 * Parses the secret's text. An empty or absent value is an empty set (a new deployment denies
 * everything until a key is minted). Malformed entries are an error naming the entry, never a hash.
 */
export function parseApiKeySet(text: string | undefined): ApiKeySet {
  if (text === undefined || text.trim() === '') return { keys: [] };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ValidationError('the API-key secret is not JSON');
  }
  const list = (raw as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new ValidationError('the API-key secret must be {"keys": [...]}');
  return {
    keys: list.map((entry, index): ApiKeyRecord => {
      const e = entry as Partial<Record<keyof ApiKeyRecord, unknown>>;
      const where = `keys[${index}]`;
      if (typeof e.id !== 'string' || e.id === '') throw new ValidationError(`${where}.id must be a string`);
      if (typeof e.hash !== 'string' || !HASH.test(e.hash))
        throw new ValidationError(`${where}.hash must be 64 lower-case hex digits`);
      if (typeof e.tenant !== 'string') throw new ValidationError(`${where}.tenant must be a string`);
      validateTenant(e.tenant);
      const scopes = e.scopes === undefined ? ['*'] : e.scopes;
      if (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string'))
        throw new ValidationError(`${where}.scopes must be a list of strings`);
      if (e.label !== undefined) checkLabel(e.label as string, `${where}.label`);
      if (
        e.expiresAt !== undefined &&
        (typeof e.expiresAt !== 'string' || Number.isNaN(Date.parse(e.expiresAt)))
      ) {
        throw new ValidationError(`${where}.expiresAt must be an ISO 8601 time`);
      }
      return {
        id: e.id,
        hash: e.hash,
        tenant: e.tenant,
        scopes: scopes.map((s) => checkScope(s as string)),
        ...(typeof e.createdAt === 'string' ? { createdAt: e.createdAt } : {}),
        ...(typeof e.label === 'string' ? { label: e.label } : {}),
        ...(typeof e.expiresAt === 'string' ? { expiresAt: e.expiresAt } : {}),
      };
    }),
  };
}

/** The secret's text for a set. */
export const serializeApiKeySet = (set: ApiKeySet): string => JSON.stringify({ keys: set.keys });

/**
 * The record whose hash matches `key`, or `null`. Every record is compared, each in constant
 * time, so neither the position of a match nor a shared hash prefix shows in the timing.
 */
export function findApiKey(set: ApiKeySet, key: string): ApiKeyRecord | null {
  const digest = Buffer.from(hashApiKey(key), 'hex');
  let found: ApiKeyRecord | null = null;
  for (const record of set.keys) {
    if (timingSafeEqual(digest, Buffer.from(record.hash, 'hex')) && found === null) found = record;
  }
  return found;
}

/** Whether `scopes` grant `needed`. */
export const hasScope = (scopes: readonly string[], needed: Scope): boolean =>
  scopes.includes('*') || scopes.includes(needed);
