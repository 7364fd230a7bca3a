import type { Redis as IORedis } from 'ioredis';
import { UpstashUnavailableError } from './errors';
import type { RedisLike, ServerKind, SetOptions } from './redis';

/** Options of {@link TcpRedisClient}. Durations in milliseconds. */
export interface TcpRedisOptions {
  /**
   * Longest wait for one command's reply (and for the TCP/TLS connect).
   * @default 1_000
   */
  readonly timeoutMs?: number;
  /**
   * What kind of server is behind the URL; decides the script shebang.
   * @default - 'upstash' for `*.upstash.io` hosts, else 'redis'
   */
  readonly kind?: ServerKind;
  /**
   * Database name for error messages.
   * @default 'default'
   */
  readonly database?: string;
}

/** Upstash speaks the Redis protocol too; its TCP endpoints want the same script flags as REST. */
export const serverKindOf = (url: string): ServerKind => {
  try {
    return new URL(url).hostname.endsWith('.upstash.io') ? 'upstash' : 'redis';
  } catch {
    return 'redis';
  }
};

/**
 * {@link RedisLike} over a Redis TCP connection (ioredis), for `mode: "tcp"` databases: a
 * self-hosted Redis, or Upstash over `rediss://`. Same replies as the REST client (raw strings,
 * integers as numbers, nil as `null`), so services cannot tell them apart.
 *
 * Tuned to fail fast like the REST client: the connection is lazy; a command waits at most
 * `timeoutMs`; a command that was sent but not answered when the connection dropped is failed,
 * never silently re-sent (a re-sent script could apply twice). Errors other than Redis replies
 * become {@link UpstashUnavailableError}; Redis error replies (`NOSCRIPT`, `WRONGTYPE`, ...)
 * pass through unchanged.
 */
export class TcpRedisClient implements RedisLike {
  readonly kind: ServerKind;
  readonly #client: IORedis;
  readonly #database: string;

  /**
   * Loads ioredis and builds the client. ioredis is imported here, on first use, not at module
   * load: it is an optional peer that only TCP databases need, and a bundle that leaves it out
   * (every REST-only function's) must still load.
   */
  static async connect(url: string, options: TcpRedisOptions = {}): Promise<TcpRedisClient> {
    const { Redis } = await import('ioredis');
    const timeoutMs = options.timeoutMs ?? 1_000;
    const client = new Redis(url, {
      lazyConnect: true,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      // One reconnect attempt per command, then fail: the caller (or its fallback) decides.
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
      enableAutoPipelining: true,
      // Replies stay as Redis sent them; no client name/info round trip on connect.
      enableReadyCheck: false,
    });
    // Errors surface per command; without a listener ioredis would print them (URL included).
    client.on('error', () => {});
    return new TcpRedisClient(client, options.kind ?? serverKindOf(url), options.database ?? 'default');
  }

  private constructor(client: IORedis, kind: ServerKind, database: string) {
    this.#client = client;
    this.kind = kind;
    this.#database = database;
  }

  async #call<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      // A Redis error reply (ioredis's ReplyError): an answer, passed through.
      if (error instanceof Error && error.name === 'ReplyError') throw error;
      // ioredis messages can name host and port but never the password; still keep them out of
      // the public message and only hand over the error code.
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new UpstashUnavailableError(`database "${this.#database}" is unavailable over TCP (${code})`, {
        cause: error,
      });
    }
  }

  get(key: string): Promise<string | null> {
    return this.#call(() => this.#client.get(key));
  }

  mget(keys: readonly string[]): Promise<Array<string | null>> {
    return this.#call(() => this.#client.mget(...keys));
  }

  set(key: string, value: string, options: SetOptions = {}): Promise<boolean> {
    const args: Array<string | number> = [];
    if (options.px !== undefined) args.push('PX', options.px);
    if (options.nx) args.push('NX');
    else if (options.xx) args.push('XX');
    return this.#call(async () => (await this.#client.call('SET', key, value, ...args)) === 'OK');
  }

  del(keys: readonly string[]): Promise<number> {
    return this.#call(() => this.#client.del(...keys));
  }

  unlink(keys: readonly string[]): Promise<number> {
    return this.#call(() => this.#client.unlink(...keys));
  }

  exists(keys: readonly string[]): Promise<number> {
    return this.#call(() => this.#client.exists(...keys));
  }

  pttl(key: string): Promise<number> {
    return this.#call(() => this.#client.pttl(key));
  }

  scan(cursor: string, match: string, count: number): Promise<[string, string[]]> {
    return this.#call(() => this.#client.scan(cursor, 'MATCH', match, 'COUNT', count));
  }

  evalsha(sha: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#call(() => this.#client.evalsha(sha, keys.length, ...keys, ...args));
  }

  eval(script: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#call(() => this.#client.eval(script, keys.length, ...keys, ...args));
  }

  ping(): Promise<string> {
    return this.#call(() => this.#client.ping());
  }

  dbsize(): Promise<number> {
    return this.#call(() => this.#client.dbsize());
  }

  info(section: string): Promise<string> {
    return this.#call(() => this.#client.info(section));
  }

  /** Closes the connection after the pending replies arrived. */
  async close(): Promise<void> {
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }
}
