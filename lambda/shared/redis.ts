import type { Redis } from '@upstash/redis';
import { ConfigurationError, CredentialsError } from './errors';
import { classifyFailure, unavailableError } from './failures';

/** Options of {@link RedisLike.set}. Durations in milliseconds. */
export interface SetOptions {
  /** Time to live in milliseconds (`PX`). */
  readonly px?: number;
  /** Only set when the key does not exist (`NX`). */
  readonly nx?: boolean;
  /** Only set when the key exists (`XX`). */
  readonly xx?: boolean;
}

/** What kind of server a database is. Upstash wants script flags that a plain Redis rejects. */
export type ServerKind = 'upstash' | 'redis';

/**
 * The narrow Redis interface every service depends on. Each method is one Redis command (one
 * billed command on Upstash); replies are raw RESP2 values: strings stay strings (no JSON
 * parsing), integers are numbers, nil is `null`.
 *
 * Two implementations exist: {@link UpstashRedisClient} over `@upstash/redis` (REST,
 * auto-pipelined) and the TCP one over ioredis (`lambda/shared/redis-tcp.ts`). Tests and other
 * apps may inject their own.
 */
export interface RedisLike {
  /** The server behind this client; decides the script shebang (see `lambda/shared/scripts.ts`). */
  readonly kind: ServerKind;
  get(key: string): Promise<string | null>;
  mget(keys: readonly string[]): Promise<Array<string | null>>;
  /** Resolves `true` when the value was written (`false` when NX/XX prevented it). */
  set(key: string, value: string, options?: SetOptions): Promise<boolean>;
  del(keys: readonly string[]): Promise<number>;
  unlink(keys: readonly string[]): Promise<number>;
  exists(keys: readonly string[]): Promise<number>;
  /** Remaining time to live in ms; -1 without expiry, -2 when the key does not exist. */
  pttl(key: string): Promise<number>;
  /** One SCAN step: the next cursor (`'0'` when done) and the keys found. */
  scan(cursor: string, match: string, count: number): Promise<[string, string[]]>;
  evalsha(sha: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  eval(script: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  ping(): Promise<string>;
  /** Keys in the database (`DBSIZE`); for the usage probe, services never need it. */
  dbsize?(): Promise<number>;
  /** One `INFO` section as the server prints it; for the usage probe, services never need it. */
  info?(section: string): Promise<string>;
}

/**
 * {@link RedisLike} over an `@upstash/redis` client built with `automaticDeserialization: false`
 * (values come back as the strings that were stored; {@link toRedisLike} refuses a client that
 * parses them). Commands issued in the same tick share one HTTP round trip through
 * auto-pipelining. Failures are the SDK's own: {@link toRedisLike} and `createClient` add the ones
 * the services understand.
 */
export class UpstashRedisClient implements RedisLike {
  readonly kind = 'upstash' as const;

  constructor(readonly client: Redis) {}

  get(key: string): Promise<string | null> {
    // GETEX without options replies exactly as GET does. @upstash/redis auto-pipelines reads and
    // writes in separate batches, and the commands a request pairs with a read (a rate-limit or
    // session script) are writes: as GETEX the read joins their batch, one round trip, not two.
    return this.client.getex<string>(key);
  }

  mget(keys: readonly string[]): Promise<Array<string | null>> {
    return this.client.mget<Array<string | null>>(...keys);
  }

  async set(key: string, value: string, options: SetOptions = {}): Promise<boolean> {
    const { px, nx, xx } = options;
    const condition = nx ? { nx: true as const } : xx ? { xx: true as const } : {};
    const expiry = px !== undefined ? { px } : {};
    const reply = await this.client.set(key, value, { ...condition, ...expiry } as never);
    return reply === 'OK';
  }

  del(keys: readonly string[]): Promise<number> {
    return this.client.del(...keys);
  }

  unlink(keys: readonly string[]): Promise<number> {
    return this.client.unlink(...keys);
  }

  exists(keys: readonly string[]): Promise<number> {
    return this.client.exists(...keys);
  }

  pttl(key: string): Promise<number> {
    return this.client.pttl(key);
  }

  async scan(cursor: string, match: string, count: number): Promise<[string, string[]]> {
    const [next, keys] = await this.client.scan(cursor, { match, count });
    return [String(next), keys];
  }

  evalsha(sha: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.client.evalsha(sha, [...keys], [...args]);
  }

  eval(script: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.client.eval(script, [...keys], [...args]);
  }

  ping(): Promise<string> {
    return this.client.ping();
  }

  dbsize(): Promise<number> {
    return this.client.dbsize();
  }

  info(section: string): Promise<string> {
    // The SDK has no INFO command; `exec` sends one raw command (never auto-pipelined).
    return this.client.exec<string>(['INFO', section]);
  }
}

/** The methods of {@link RedisLike} that send a command. */
type Command = Exclude<keyof RedisLike, 'kind'>;

/**
 * A {@link RedisLike} whose failures are classified: an outage (network error, timeout, 5xx)
 * becomes `UpstashUnavailableError` (with `outcome` and the round trip it belongs to) and a
 * rejected token `CredentialsError`; Redis error replies pass through. No retries and no
 * credential refresh: the wrapped client's own settings stand (the managed client of
 * `createClient` adds both).
 */
class ClassifiedRedis implements RedisLike {
  readonly kind: ServerKind;
  readonly #inner: RedisLike;

  constructor(inner: RedisLike) {
    this.#inner = inner;
    this.kind = inner.kind;
  }

  async #run<T>(command: Command, call: (redis: RedisLike) => Promise<T>): Promise<T> {
    try {
      return await call(this.#inner);
    } catch (error) {
      const failure = classifyFailure(error);
      if (failure.type === 'unavailable') throw unavailableError('Upstash', failure, error);
      if (failure.type === 'auth') {
        throw new CredentialsError(`Upstash rejected the client's token (${command})`);
      }
      throw error;
    }
  }

  get(key: string) {
    return this.#run('get', (r) => r.get(key));
  }
  mget(keys: readonly string[]) {
    return this.#run('mget', (r) => r.mget(keys));
  }
  set(key: string, value: string, options?: SetOptions) {
    return this.#run('set', (r) => r.set(key, value, options));
  }
  del(keys: readonly string[]) {
    return this.#run('del', (r) => r.del(keys));
  }
  unlink(keys: readonly string[]) {
    return this.#run('unlink', (r) => r.unlink(keys));
  }
  exists(keys: readonly string[]) {
    return this.#run('exists', (r) => r.exists(keys));
  }
  pttl(key: string) {
    return this.#run('pttl', (r) => r.pttl(key));
  }
  scan(cursor: string, match: string, count: number) {
    return this.#run('scan', (r) => r.scan(cursor, match, count));
  }
  evalsha(sha: string, keys: readonly string[], args: readonly string[]) {
    return this.#run('evalsha', (r) => r.evalsha(sha, keys, args));
  }
  eval(script: string, keys: readonly string[], args: readonly string[]) {
    return this.#run('eval', (r) => r.eval(script, keys, args));
  }
  ping() {
    return this.#run('ping', (r) => r.ping());
  }
  dbsize() {
    return this.#run('dbsize', (r) => (r.dbsize ? r.dbsize() : Promise.reject(new Error('no DBSIZE'))));
  }
  info(section: string) {
    return this.#run('info', (r) => (r.info ? r.info(section) : Promise.reject(new Error('no INFO'))));
  }
}

/** What the services take as `redis`: a {@link RedisLike}, or a plain `@upstash/redis` client. */
export type RedisClient = RedisLike | Redis;

const adapted = new WeakMap<Redis, RedisLike>();

/**
 * The {@link RedisLike} of what a service was given. A `RedisLike` is used as is (the clients of
 * `createClient` and the runtime classify their own failures). A plain `@upstash/redis` client is
 * adapted once (every service given the same client shares the adapter, and so its circuit
 * breaker), its failures classified, so the cache fallback and the rate limiters' outage policies
 * work as documented.
 *
 * @throws ConfigurationError when the client parses replies (`automaticDeserialization`, on by
 * default in `@upstash/redis`): it would turn a stored `"null"` or `"123"` into another value.
 */
export function toRedisLike(redis: RedisClient): RedisLike {
  if ('kind' in redis) return redis;
  let like = adapted.get(redis);
  if (!like) {
    // `opts` is a protected field of @upstash/redis's `Redis`: the options it was built with.
    const opts = (redis as unknown as { opts?: { automaticDeserialization?: boolean } }).opts;
    if (opts?.automaticDeserialization !== false) {
      throw new ConfigurationError(
        'the @upstash/redis client given to a service parses replies as JSON (automaticDeserialization is on by default), which turns stored text such as "null" or "123" into other values: build it with `automaticDeserialization: false`, or use createClient()',
      );
    }
    like = new ClassifiedRedis(new UpstashRedisClient(redis));
    adapted.set(redis, like);
  }
  return like;
}
