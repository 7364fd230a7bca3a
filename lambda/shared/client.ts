import { Redis } from '@upstash/redis';
import { type Credentials, credentialsSource, type RestCredentials } from './credentials';
import type { DatabaseConfig } from './env';
import { CredentialsError, UpstashUnavailableError } from './errors';
import { type RedisLike, type ServerKind, type SetOptions, UpstashRedisClient } from './redis';
import { MeteredRedis, meterUpstashClient, type RoundTripRecorder } from './usage';

/** Per-request timeout when none is configured: well under any sane Lambda timeout. */
export const DEFAULT_TIMEOUT_MS = 1_000;

/** Transport tuning of {@link createRedisClient}. Durations in milliseconds. */
export interface ClientOptions {
  /**
   * Longest wait for one HTTP request (or TCP command), whatever the server does.
   * @default 1_000
   */
  readonly timeoutMs?: number;
  /**
   * Receives every round trip to the database, for usage and cost metrics (`usage.ts`).
   * @default - not metered
   */
  readonly onRoundTrip?: RoundTripRecorder;
}

/**
 * The `@upstash/redis` client exactly as the runtime configures it:
 * - `automaticDeserialization: false`: values are the strings that were stored;
 * - auto-pipelining on: commands issued in the same tick share one HTTP round trip;
 * - `signal: () => AbortSignal.timeout(ms)`: the SDK calls the function once per HTTP request
 *   and, for the function form, rethrows the abort (the plain-signal form would turn it into a
 *   fake 200 reply);
 * - `retry: { retries: 0 }`: one attempt. The SDK retries every network error, including a
 *   reset after the request was sent, so a script could apply twice; {@link ManagedRedisClient}
 *   retries only what is safe instead.
 */
export function createUpstashRedis(credentials: RestCredentials, options: ClientOptions = {}): Redis {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const redis = new Redis({
    url: credentials.url,
    token: credentials.token,
    automaticDeserialization: false,
    enableAutoPipelining: true,
    enableTelemetry: false,
    keepAlive: true,
    retry: { retries: 0 },
    signal: () => AbortSignal.timeout(timeoutMs),
  });
  if (options.onRoundTrip) meterUpstashClient(redis, options.onRoundTrip);
  return redis;
}

/** A {@link RedisLike} plus how to release it. */
interface Connection {
  readonly redis: RedisLike;
  readonly credentials: Credentials;
  close(): Promise<void>;
}

async function connect(
  database: DatabaseConfig,
  credentials: Credentials,
  options: ClientOptions,
): Promise<Connection> {
  if (credentials.mode === 'tcp') {
    // Loaded on first use: ioredis is almost half the bundle, and REST-only functions never
    // need it, so they do not pay for evaluating it at cold start.
    const { TcpRedisClient } = await import('./redis-tcp');
    const tcp = new TcpRedisClient(credentials.url, {
      database: database.name,
      timeoutMs: options.timeoutMs,
    });
    const redis = options.onRoundTrip ? new MeteredRedis(tcp, options.onRoundTrip) : tcp;
    return { redis, credentials, close: () => redis.close() };
  }
  const redis = new UpstashRedisClient(createUpstashRedis(credentials, options));
  // REST holds no connection of its own beyond keep-alive sockets the runtime reuses.
  return { redis, credentials, close: async () => {} };
}

/** What went wrong with a command, as far as retrying is concerned. */
export type Failure =
  | { readonly type: 'auth' }
  | { readonly type: 'unavailable'; readonly reason: string; readonly sent: boolean }
  | { readonly type: 'other' };

// A rotated or wrong token: REST 401 (`Unauthorized` / `WRONGPASS ...`), TCP `WRONGPASS`/`NOAUTH`.
const AUTH = /unauthorized|wrongpass|noauth/i;
// @upstash/redis 1.39 drops the HTTP status of a non-2xx reply and keeps only its `error` text
// with `, command was: <body>` appended, so a 5xx is recognised by that suffix plus wording.
const SERVER_FAILURE =
  /unavailable|internal server error|bad gateway|gateway time-?out|timed? ?out|overloaded|try again/i;
// Connect-phase errors: nothing reached the server, so even a script may be re-sent.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

const errnoOf = (error: unknown): string | undefined => {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
  }
  return undefined;
};

/**
 * Sorts an error thrown by a transport. Exported for the unit tests; the messages it looks at
 * are those of `@upstash/redis` 1.39, undici's fetch and ioredis 5.
 */
export function classifyFailure(error: unknown): Failure {
  if (!(error instanceof Error)) return { type: 'other' };
  if (error instanceof UpstashUnavailableError) {
    const code = errnoOf(error);
    return {
      type: 'unavailable',
      reason: code ?? 'unavailable',
      sent: code === undefined || !NOT_SENT.has(code),
    };
  }
  if (error.name === 'TimeoutError' || error.name === 'AbortError') {
    return { type: 'unavailable', reason: 'timeout', sent: true };
  }
  if (error.name === 'UpstashJSONParseError') {
    // A body that is not JSON comes from a proxy or load balancer in front of Upstash.
    return { type: 'unavailable', reason: 'invalid response', sent: true };
  }
  if (error instanceof TypeError && error.message === 'fetch failed') {
    const code = errnoOf(error) ?? 'network error';
    return { type: 'unavailable', reason: code, sent: !NOT_SENT.has(code) };
  }
  // Only the server's own text counts: the `, command was:` part quotes keys, which may say anything.
  const suffix = error.message.indexOf(', command was: ');
  const text = suffix >= 0 ? error.message.slice(0, suffix) : error.message;
  if (AUTH.test(text) && (suffix >= 0 || /^(WRONGPASS|NOAUTH)\b/.test(text))) return { type: 'auth' };
  if (suffix >= 0 && SERVER_FAILURE.test(text))
    return { type: 'unavailable', reason: 'server error', sent: true };
  return { type: 'other' };
}

/** Where a {@link ManagedRedisClient} gets and re-gets its credentials. */
export interface CredentialsProvider {
  /** The current credentials (cached). */
  load(): Promise<Credentials>;
  /** Fresh credentials after a rejection; may return the current ones when throttled. */
  refresh(): Promise<Credentials>;
}

const sameCredentials = (a: Credentials, b: Credentials): boolean =>
  a.mode === b.mode && a.url === b.url && (a.mode === 'tcp' || (b.mode === 'rest' && a.token === b.token));

/**
 * A {@link RedisLike} for one database that survives token rotation and reports outages as
 * typed errors:
 * - Unauthorized (401 / `WRONGPASS`): re-fetch the credentials (the provider throttles to once
 *   per 30 s), rebuild the client, retry the command once. A 401 means the server executed
 *   nothing, so this retry is safe for every command, scripts included. When the re-fetched
 *   credentials are the same, a {@link CredentialsError} naming the secret is thrown.
 * - Network errors, timeouts and 5xx: {@link UpstashUnavailableError} (no URL, no token, no
 *   command text in the message). One retry only where it cannot apply a write twice: a
 *   connect-phase failure (nothing was sent), or a read-only command after any network error
 *   (never after a timeout: a stalled server would double the wait).
 * - Redis error replies (`NOSCRIPT`, `WRONGTYPE`, ...) pass through unchanged.
 */
export class ManagedRedisClient implements RedisLike {
  readonly kind: ServerKind;
  readonly database: DatabaseConfig;
  #connection: Connection;
  #rebuilding: Promise<Connection> | undefined;
  readonly #provider: CredentialsProvider;
  readonly #options: ClientOptions;

  private constructor(
    database: DatabaseConfig,
    connection: Connection,
    provider: CredentialsProvider,
    options: ClientOptions,
  ) {
    this.database = database;
    this.#connection = connection;
    this.kind = connection.redis.kind;
    this.#provider = provider;
    this.#options = options;
  }

  /** Loads the credentials (once, through the provider) and builds the client. */
  static async create(
    database: DatabaseConfig,
    provider: CredentialsProvider,
    options: ClientOptions = {},
  ): Promise<ManagedRedisClient> {
    const credentials = await provider.load();
    return new ManagedRedisClient(database, await connect(database, credentials, options), provider, options);
  }

  /** Replaces the connection once per rejection wave: concurrent failures share one rebuild. */
  async #rebuild(failed: Connection): Promise<Connection> {
    if (this.#connection !== failed) return this.#connection;
    this.#rebuilding ??= (async () => {
      try {
        const credentials = await this.#provider.refresh();
        if (sameCredentials(credentials, failed.credentials)) {
          throw new CredentialsError(
            `Upstash rejected the credentials of database "${this.database.name}" from ${credentialsSource(this.database)}, and re-fetching gave the same ones (rotated without updating the secret?)`,
          );
        }
        this.#connection = await connect(this.database, credentials, this.#options);
        // In-flight commands on the old client finish or fail on their own; nothing to close for REST.
        void failed.close().catch(() => {});
        return this.#connection;
      } finally {
        this.#rebuilding = undefined;
      }
    })();
    return this.#rebuilding;
  }

  #unavailable(reason: string, error: unknown): UpstashUnavailableError {
    // The cause is kept only when it cannot quote the command (network errors, timeouts).
    const safeCause = error instanceof Error && error.name !== 'UpstashError' ? { cause: error } : undefined;
    return new UpstashUnavailableError(
      `database "${this.database.name}" is unavailable (${reason})`,
      safeCause,
    );
  }

  async #run<T>(readOnly: boolean, command: (redis: RedisLike) => Promise<T>): Promise<T> {
    let connection = this.#connection;
    let authRetried = false;
    let networkRetried = false;
    for (;;) {
      try {
        return await command(connection.redis);
      } catch (error) {
        const failure = classifyFailure(error);
        if (failure.type === 'auth' && !authRetried) {
          authRetried = true;
          connection = await this.#rebuild(connection);
          continue;
        }
        if (failure.type === 'auth') {
          throw new CredentialsError(
            `Upstash rejected the refreshed credentials of database "${this.database.name}" from ${credentialsSource(this.database)}`,
          );
        }
        if (failure.type === 'unavailable') {
          const safe = !failure.sent || (readOnly && failure.reason !== 'timeout');
          if (safe && !networkRetried) {
            networkRetried = true;
            continue;
          }
          throw this.#unavailable(failure.reason, error);
        }
        throw error;
      }
    }
  }

  get(key: string): Promise<string | null> {
    return this.#run(true, (r) => r.get(key));
  }

  mget(keys: readonly string[]): Promise<Array<string | null>> {
    return this.#run(true, (r) => r.mget(keys));
  }

  set(key: string, value: string, options?: SetOptions): Promise<boolean> {
    return this.#run(false, (r) => r.set(key, value, options));
  }

  del(keys: readonly string[]): Promise<number> {
    return this.#run(false, (r) => r.del(keys));
  }

  unlink(keys: readonly string[]): Promise<number> {
    return this.#run(false, (r) => r.unlink(keys));
  }

  exists(keys: readonly string[]): Promise<number> {
    return this.#run(true, (r) => r.exists(keys));
  }

  pttl(key: string): Promise<number> {
    return this.#run(true, (r) => r.pttl(key));
  }

  scan(cursor: string, match: string, count: number): Promise<[string, string[]]> {
    return this.#run(true, (r) => r.scan(cursor, match, count));
  }

  evalsha(sha: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#run(false, (r) => r.evalsha(sha, keys, args));
  }

  eval(script: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#run(false, (r) => r.eval(script, keys, args));
  }

  ping(): Promise<string> {
    return this.#run(true, (r) => r.ping());
  }

  dbsize(): Promise<number> {
    return this.#run(true, (r) => (r.dbsize ? r.dbsize() : Promise.reject(new Error('no DBSIZE'))));
  }

  info(section: string): Promise<string> {
    return this.#run(true, (r) => (r.info ? r.info(section) : Promise.reject(new Error('no INFO'))));
  }

  /** Releases the connection (TCP); a no-op for REST. */
  close(): Promise<void> {
    return this.#connection.close();
  }
}

/**
 * Builds the client of one database: REST (`@upstash/redis`) or TCP (ioredis) by the
 * credentials' mode, wrapped in a {@link ManagedRedisClient}.
 */
export function createRedisClient(
  database: DatabaseConfig,
  provider: CredentialsProvider,
  options: ClientOptions = {},
): Promise<ManagedRedisClient> {
  return ManagedRedisClient.create(database, provider, options);
}
