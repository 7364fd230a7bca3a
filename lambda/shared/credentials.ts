import type { DatabaseMode, RuntimeDatabase } from './env';
import { envSuffix } from './env';
import { ConfigurationError, CredentialsError } from './errors';
import { MemoMap } from './memo';
import { secretString as readSecret, resetSecretsManagerForTests } from './secrets-manager';

/** How to reach an Upstash database over REST. */
export interface RestCredentials {
  readonly mode: 'rest';
  /** `https://<name>.upstash.io` (any http(s) URL locally). */
  readonly url: string;
  /** Bearer token. Never logged, never put in an error. */
  readonly token: string;
}

/** How to reach a Redis over TCP: a `redis://` or `rediss://` URL, password included. */
export interface TcpCredentials {
  readonly mode: 'tcp';
  /** Never logged, never put in an error: it may carry the password. */
  readonly url: string;
}

/** Credentials of one database. */
export type Credentials = RestCredentials | TcpCredentials;

/** Where a database's credentials come from, for messages: the secret ARN/name, or the env. */
export const credentialsSource = (database: RuntimeDatabase): string =>
  database.secretArn !== undefined
    ? `secret "${database.secretArn}"`
    : `environment of database "${database.name}"`;

// The spellings a secret may use, first match wins. `url`/`token` is ours; the others are
// what Upstash's console and its Vercel/Terraform integrations name them.
const REST_FIELDS = [
  ['url', 'token'],
  ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'],
  ['rest_url', 'rest_token'],
] as const;
const TCP_FIELDS = ['redisUrl', 'url'] as const;
const ACCEPTED_REST = REST_FIELDS.map(([u, t]) => `{"${u}","${t}"}`).join(', ');

const isHttpUrl = (value: string): boolean => {
  try {
    const { protocol } = new URL(value);
    return protocol === 'https:' || protocol === 'http:';
  } catch {
    return false;
  }
};

const isRedisUrl = (value: string): boolean => {
  try {
    const { protocol } = new URL(value);
    return protocol === 'redis:' || protocol === 'rediss:';
  } catch {
    return false;
  }
};

const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

/**
 * Validates a secret's text and extracts the credentials. Errors name the secret and the field,
 * never a value: not even the JSON parser's message, which quotes the text it choked on.
 *
 * @param secretId - ARN or name, for messages
 * @param mode - which credentials the database needs
 * @param secretString - `SecretString` as Secrets Manager returned it
 */
export function parseSecret(
  secretId: string,
  mode: DatabaseMode,
  secretString: string | undefined,
): Credentials {
  const what = `secret "${secretId}"`;
  if (secretString === undefined || secretString.trim() === '') {
    throw new CredentialsError(`${what} has no SecretString (binary or empty secrets are not supported)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString);
  } catch {
    throw new CredentialsError(`${what} is not valid JSON; expected an object like {"url","token"}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CredentialsError(`${what} must hold a JSON object; expected an object like {"url","token"}`);
  }
  const fields = parsed as Record<string, unknown>;

  if (mode === 'tcp') {
    const field = TCP_FIELDS.find((name) => name in fields);
    if (field === undefined) {
      throw new CredentialsError(`${what} is missing field "redisUrl" (or "url") for a tcp database`);
    }
    const url = fields[field];
    if (!nonEmpty(url) || !isRedisUrl(url)) {
      throw new CredentialsError(`${what}: field "${field}" must be a redis:// or rediss:// URL`);
    }
    return { mode: 'tcp', url };
  }

  // Pick the spelling by whichever of its fields is present, so a half-filled secret reports
  // the field it actually lacks.
  const pair = REST_FIELDS.find(([u, t]) => u in fields || t in fields);
  if (pair === undefined) {
    throw new CredentialsError(`${what} is missing fields "url" and "token" (accepted: ${ACCEPTED_REST})`);
  }
  const [urlField, tokenField] = pair;
  if (!(urlField in fields)) throw new CredentialsError(`${what} is missing field "${urlField}"`);
  if (!(tokenField in fields)) throw new CredentialsError(`${what} is missing field "${tokenField}"`);
  const url = fields[urlField];
  const token = fields[tokenField];
  if (!nonEmpty(url) || !isHttpUrl(url)) {
    throw new CredentialsError(`${what}: field "${urlField}" must be an https:// URL`);
  }
  if (!nonEmpty(token))
    throw new CredentialsError(`${what}: field "${tokenField}" must be a non-empty string`);
  return { mode: 'rest', url: url.trim(), token: token.trim() };
}

/**
 * Credentials of a database without `secretArn` (local use): `UPSTASH_REDIS_REST_URL_<DB>` /
 * `UPSTASH_REDIS_REST_TOKEN_<DB>` (DB upper-cased), else the standard `UPSTASH_REDIS_REST_URL` /
 * `UPSTASH_REDIS_REST_TOKEN`; for tcp, `REDIS_URL_<DB>` else `REDIS_URL`.
 *
 * @default env - `process.env`
 */
export function credentialsFromEnv(
  database: RuntimeDatabase,
  env: NodeJS.ProcessEnv = process.env,
): Credentials {
  const suffix = envSuffix(database.name);
  const pick = (base: string): { name: string; value: string | undefined } => {
    const specific = `${base}_${suffix}`;
    if (nonEmpty(env[specific])) return { name: specific, value: env[specific] };
    return { name: base, value: nonEmpty(env[base]) ? env[base] : undefined };
  };
  const missing = (base: string) =>
    new ConfigurationError(
      `database "${database.name}" has no secretArn in UPSTASH_DATABASES, so it needs ${base}_${suffix} or ${base}`,
    );

  if (database.mode === 'tcp') {
    const url = pick('REDIS_URL');
    if (url.value === undefined) throw missing('REDIS_URL');
    if (!isRedisUrl(url.value))
      throw new ConfigurationError(`${url.name} must be a redis:// or rediss:// URL`);
    return { mode: 'tcp', url: url.value };
  }
  const url = pick('UPSTASH_REDIS_REST_URL');
  const token = pick('UPSTASH_REDIS_REST_TOKEN');
  if (url.value === undefined) throw missing('UPSTASH_REDIS_REST_URL');
  if (token.value === undefined) throw missing('UPSTASH_REDIS_REST_TOKEN');
  if (!isHttpUrl(url.value)) {
    throw new ConfigurationError(`${url.name} must be an http(s) URL, got ${JSON.stringify(url.value)}`);
  }
  return { mode: 'rest', url: url.value.trim(), token: token.value.trim() };
}

/** Tuning of the credentials cache. */
export interface CredentialsOptions {
  /**
   * Least time between two forced re-fetches of one secret ({@link refreshCredentials}), in ms.
   * Bounds what a storm of Unauthorized replies can cost in Secrets Manager calls.
   * @default 30_000
   */
  readonly refreshIntervalMs?: number;
}

// Module scope on purpose: one Lambda execution environment = one module instance, so every
// invocation (and every concurrent one) of a warm container shares these. The credentials callers
// get: the first load, or the latest successful refresh.
const loaded = new MemoMap<string, Credentials>();
/**
 * When the last forced re-fetch of each secret started, for the throttle. The cold-start load
 * does not count: a container that started just before a rotation must still be able to refresh.
 */
const refreshedAt = new Map<string, number>();
let refreshIntervalMs = 30_000;

/** Changes the refresh throttle (tests use a short one). */
export function configureCredentials(options: CredentialsOptions): void {
  if (options.refreshIntervalMs !== undefined) {
    if (!Number.isFinite(options.refreshIntervalMs) || options.refreshIntervalMs < 0) {
      throw new ConfigurationError(`refreshIntervalMs must be >= 0, got ${options.refreshIntervalMs}`);
    }
    refreshIntervalMs = options.refreshIntervalMs;
  }
}

async function fetchSecret(database: RuntimeDatabase & { secretArn: string }): Promise<Credentials> {
  let secretString: string | undefined;
  try {
    secretString = await readSecret(database.secretArn);
  } catch (error) {
    const name = error instanceof Error ? error.name : 'UnknownError';
    // SDK errors carry no secret value (there is none to carry when the call failed).
    const reason =
      name === 'ResourceNotFoundException'
        ? "was not found (ResourceNotFoundException: Secrets Manager can't find the specified secret)"
        : `could not be read (${name})`;
    throw new CredentialsError(`secret "${database.secretArn}" ${reason}`, { cause: error });
  }
  return parseSecret(database.secretArn, database.mode, secretString);
}

const load = (database: RuntimeDatabase): Promise<Credentials> =>
  database.secretArn !== undefined
    ? fetchSecret({ ...database, secretArn: database.secretArn })
    : // Async so a bad environment rejects like a bad secret instead of throwing synchronously.
      Promise.resolve().then(() => credentialsFromEnv(database));

const cacheKey = (database: RuntimeDatabase): string =>
  database.secretArn !== undefined
    ? `secret:${database.mode}:${database.secretArn}`
    : `env:${database.mode}:${database.name}`;

/**
 * The credentials of `database`, fetched once per container: concurrent and later calls share
 * one promise (one `GetSecretValue`). A failed fetch is forgotten, so the next call retries.
 */
export function loadCredentials(database: RuntimeDatabase): Promise<Credentials> {
  return loaded.get(cacheKey(database), () => load(database));
}

/**
 * Re-fetches the credentials of `database` after Upstash rejected them (a rotated token), at
 * most once per `refreshIntervalMs` per secret: inside that interval after a re-fetch it returns
 * the current credentials (or the re-fetch in flight) without calling Secrets Manager. A failed re-fetch
 * keeps the previous credentials for later callers and rejects for the ones waiting on it.
 */
export function refreshCredentials(database: RuntimeDatabase): Promise<Credentials> {
  const key = cacheKey(database);
  const current = loaded.peek(key);
  if (!current) return loadCredentials(database);
  const now = Date.now();
  const last = refreshedAt.get(key);
  if (last !== undefined && now - last < refreshIntervalMs) return current;
  refreshedAt.set(key, now);
  const next = load(database);
  loaded.set(key, next, current);
  return next;
}

/**
 * Test-only: forgets every cached credential and the Secrets Manager client (which read the
 * endpoint from the environment when it was built), as a cold start would.
 */
export function resetCredentialsForTests(): void {
  loaded.forget();
  refreshedAt.clear();
  resetSecretsManagerForTests();
  refreshIntervalMs = 30_000;
}
