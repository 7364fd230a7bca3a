import type { Redis } from '@upstash/redis';

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
 * {@link RedisLike} over an `@upstash/redis` client. Build that client with
 * `automaticDeserialization: false` so values come back as the strings that were stored.
 * Commands issued in the same tick share one HTTP round trip through auto-pipelining.
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
