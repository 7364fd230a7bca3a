import { Redis } from '@upstash/redis';
import { tcpLeftOut } from './bundle-labels';
import {
  type Credentials,
  credentialsSource,
  loadCredentials,
  type RestCredentials,
  refreshCredentials,
} from './credentials';
import type { DatabaseMode, RuntimeDatabase } from './env';
import { ConfigurationError, CredentialsError } from './errors';
import { classifyFailure, unavailableError } from './failures';
import { invocationStore } from './invocation-store';
import { type RedisLike, type ServerKind, type SetOptions, UpstashRedisClient } from './redis';
import { useNodeTransportFor } from './upstash-fetch';
import { MeteredRedis, meterUpstashClient, type RoundTripRecorder } from './usage';

/** Per-request timeout when none is configured: well under any sane Lambda timeout. */
export const DEFAULT_TIMEOUT_MS = 1_000;

/** Transport tuning of {@link createRedisClient}. Durations in milliseconds. */
export interface ClientOptions {
  /**
   * How long the server may stay silent on one HTTP request (or TCP command) before the request
   * counts as failed. Over REST it is measured in time this process spent idle, waiting (see
   * {@link answerTimeout}).
   * @default 1_000
   */
  readonly timeoutMs?: number;
  /**
   * Receives every round trip to the database, for usage and cost metrics (`usage.ts`).
   * @default - not metered
   */
  readonly onRoundTrip?: RoundTripRecorder;
  /**
   * Longest wall-clock wait for one HTTP request, however busy this process is (REST).
   * @default 5 * timeoutMs
   */
  readonly maxTimeoutMs?: number;
}

// A check while the loop was mostly idle fires at the timeout; 10 % of busy time is normal work.
const IDLE_SHARE = 0.9;
// Re-checks of a busy process are at least this far apart, so a saturated loop is not loaded more.
const MIN_RECHECK_MS = 50;

/**
 * An `AbortSignal` for one request that fires once the server has been silent for `timeoutMs`
 * of this process's **idle** time, or after `maxTimeoutMs` of wall time, whichever comes first.
 *
 * Why not `AbortSignal.timeout(timeoutMs)`: its timer runs in wall time, and timers run before
 * the I/O callbacks of the same loop turn. When this process is busy (a burst of requests in one
 * container, the local stack serving 600 requests and the Upstash endpoint in one process, a
 * CPU-starved small Lambda), an answer that arrived in time waits behind other work and the timer
 * aborts it: a slow client mistaken for a silent server. Event-loop idle time is time spent
 * waiting for I/O: it grows at wall-clock speed when we are only waiting for the server, and
 * hardly at all while our own backlog is the reason the answer is not read yet.
 */
export function answerTimeout(timeoutMs: number, maxTimeoutMs = timeoutMs * 5): AbortSignal {
  const controller = new AbortController();
  const started = performance.now();
  const idleAtStart = performance.eventLoopUtilization().idle;
  const check = () => {
    const waited = performance.now() - started;
    const idle = performance.eventLoopUtilization().idle - idleAtStart;
    if (waited >= maxTimeoutMs || idle >= timeoutMs * IDLE_SHARE) {
      controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
      return;
    }
    const next = Math.min(Math.max(MIN_RECHECK_MS, timeoutMs - idle), maxTimeoutMs - waited);
    setTimeout(check, next).unref();
  };
  setTimeout(check, Math.min(timeoutMs, maxTimeoutMs)).unref();
  return controller.signal;
}

/** The deadline of the invocation running now (invocation-store.ts: async context or a slot). */
const deadlines = invocationStore<number>();

/**
 * Runs `fn` so that no Upstash request it makes (REST) outlives `deadline` (epoch ms): however
 * the timeout is counted, a request still waiting then is aborted. A handler passes the end of its
 * invocation, so it always answers itself instead of being cut off by Lambda's timeout.
 */
export function withRequestDeadline<T>(deadline: number, fn: () => T): T {
  return deadlines.run(deadline, fn);
}

/** The ceiling of one request made now: `maxTimeoutMs`, or less near the caller's deadline. */
function ceilingMs(maxTimeoutMs: number): number {
  const deadline = deadlines.get();
  return deadline === undefined ? maxTimeoutMs : Math.max(1, Math.min(maxTimeoutMs, deadline - Date.now()));
}

/**
 * The `@upstash/redis` client exactly as the runtime configures it:
 * - `automaticDeserialization: false`: values are the strings that were stored;
 * - auto-pipelining on: commands issued in the same tick share one HTTP round trip;
 * - `signal: () => answerTimeout(ms)`: the SDK calls the function once per HTTP request and,
 *   for the function form, rethrows the abort (the plain-signal form would turn it into a fake
 *   200 reply); the timeout counts the server's silence, not this process's own busy time, and
 *   never runs past the caller's deadline ({@link withRequestDeadline});
 * - `retry: { retries: 0 }`: one attempt. The SDK retries every network error, including a
 *   reset after the request was sent, so a script could apply twice; {@link ManagedRedisClient}
 *   retries only what is safe instead.
 */
export function createUpstashRedis(credentials: RestCredentials, options: ClientOptions = {}): Redis {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxTimeoutMs = options.maxTimeoutMs ?? timeoutMs * 5;
  // In a bundle built by UpstashFunction, this URL's requests go over node:https (upstash-fetch.ts).
  useNodeTransportFor(credentials.url);
  const redis = new Redis({
    url: credentials.url,
    token: credentials.token,
    automaticDeserialization: false,
    enableAutoPipelining: true,
    enableTelemetry: false,
    keepAlive: true,
    retry: { retries: 0 },
    signal: () => answerTimeout(timeoutMs, ceilingMs(maxTimeoutMs)),
  });
  if (options.onRoundTrip) meterUpstashClient(redis, options.onRoundTrip);
  return redis;
}

// Loaded on first use of a TCP database; left out of REST-only bundles (bundle-labels.ts).
let loadTcpClient: (() => Promise<typeof import('./redis-tcp')>) | undefined;
UPSTASH_TCP: loadTcpClient = () => import('./redis-tcp');

/** A {@link RedisLike} plus how to release it. */
interface Connection {
  readonly redis: RedisLike;
  readonly credentials: Credentials;
  close(): Promise<void>;
}

async function connect(
  database: RuntimeDatabase,
  credentials: Credentials,
  options: ClientOptions,
): Promise<Connection> {
  if (credentials.mode === 'tcp') {
    if (!loadTcpClient) throw tcpLeftOut(`database "${database.name}"`);
    const { TcpRedisClient } = await loadTcpClient();
    const tcp = await TcpRedisClient.connect(credentials.url, {
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
  readonly database: RuntimeDatabase;
  #connection: Connection;
  #rebuilding: Promise<Connection> | undefined;
  readonly #provider: CredentialsProvider;
  readonly #options: ClientOptions;

  private constructor(
    database: RuntimeDatabase,
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
    database: RuntimeDatabase,
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

  async #run<T>(readOnly: boolean, command: (redis: RedisLike) => Promise<T>): Promise<T> {
    let connection = this.#connection;
    let authRetried = false;
    let networkRetried = false;
    let sentBefore = false;
    let firstFailure: unknown;
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
            sentBefore = failure.sent;
            firstFailure = error;
            continue;
          }
          // A retry that fails after a first attempt that may have run keeps the outcome unknown.
          throw unavailableError(
            `database "${this.database.name}"`,
            { ...failure, sent: failure.sent || sentBefore },
            error,
            firstFailure ?? error,
          );
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
  database: RuntimeDatabase,
  provider: CredentialsProvider,
  options: ClientOptions = {},
): Promise<ManagedRedisClient> {
  return ManagedRedisClient.create(database, provider, options);
}

/** Where {@link createClient} finds the database: a URL (and token), or a secret. */
export type ClientSource =
  | {
      /** `https://<db>.upstash.io` (REST, with `token`), or a `redis://` / `rediss://` URL (TCP). */
      readonly url: string;
      /** The REST token; never logged, never put in an error. Required for an http(s) URL. */
      readonly token?: string;
    }
  | {
      /**
       * ARN or name of a Secrets Manager secret holding `{"url","token"}` (or a `rediss://` URL
       * for `mode: 'tcp'`): fetched once, and again when Upstash rejects the token (rotation).
       */
      readonly secretId: string;
      /** @default 'rest' */
      readonly mode?: DatabaseMode;
    };

/** Options of {@link createClient}. */
export type CreateClientOptions = ClientSource &
  ClientOptions & {
    /**
     * Name of the database, for messages and usage metrics.
     * @default 'default'
     */
    readonly name?: string;
  };

const restOrTcp = (url: string): DatabaseMode | undefined => {
  try {
    const { protocol } = new URL(url);
    if (protocol === 'https:' || protocol === 'http:') return 'rest';
    if (protocol === 'redis:' || protocol === 'rediss:') return 'tcp';
  } catch {}
  return undefined;
};

/**
 * A client for the services, built the way the runtime builds its own: over REST,
 * `@upstash/redis` with deserialization off (values are the stored text), auto-pipelining, a
 * request timeout and no SDK retries; over TCP, ioredis. Whichever transport, its failures are
 * the ones the services understand (`UpstashUnavailableError` with its `outcome`, and
 * `CredentialsError`), it retries only what cannot apply twice, and from a secret it re-reads the
 * secret when Upstash rejects the token.
 *
 * @example
 * const redis = await createClient({ url: process.env.UPSTASH_REDIS_REST_URL!, token: process.env.UPSTASH_REDIS_REST_TOKEN! });
 * const limiter = new RateLimiter({ redis, keys: new KeyBuilder('app'), name: 'api', algorithm: 'sliding-window', limit: 100, windowMs: 60_000 });
 *
 * @throws ConfigurationError for a URL that is neither http(s) nor redis(s), or REST without a token
 */
export async function createClient(options: CreateClientOptions): Promise<ManagedRedisClient> {
  const name = options.name ?? 'default';
  if ('secretId' in options) {
    const database: RuntimeDatabase = { name, mode: options.mode ?? 'rest', secretArn: options.secretId };
    return ManagedRedisClient.create(
      database,
      { load: () => loadCredentials(database), refresh: () => refreshCredentials(database) },
      options,
    );
  }
  const mode = restOrTcp(options.url);
  // The URL may carry a password (redis://:pw@host): never quote it.
  if (!mode) throw new ConfigurationError('url must be an http(s) URL (Upstash REST) or a redis(s):// URL');
  if (mode === 'rest' && !options.token) throw new ConfigurationError('an Upstash REST url needs its token');
  const credentials: Credentials =
    mode === 'rest' ? { mode, url: options.url, token: options.token as string } : { mode, url: options.url };
  const given = async () => credentials;
  return ManagedRedisClient.create({ name, mode }, { load: given, refresh: given }, options);
}
