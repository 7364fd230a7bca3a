import type { ServerResponse } from 'node:http';
import { Redis as IORedis } from 'ioredis';
import { MemoMap } from '../../lambda/shared/memo';
import type { ChannelScope } from './commands';
import { GlobCache } from './glob';
import { channelPrefix } from './policy';
import type { RespTarget } from './resp';

/**
 * Pub/sub over Server-Sent Events, as `@upstash/redis`'s `subscribe()` / `psubscribe()` read it:
 * `POST /subscribe/<channel>` or `/psubscribe/<pattern>` opens a stream of
 * `data: subscribe,<channel>,1`, then `data: message,<channel>,<payload>` (or
 * `data: pmessage,<pattern>,<channel>,<payload>`) lines, until the client goes away.
 *
 * One Redis connection per Redis server carries every stream of the endpoint process: a channel
 * is subscribed in Redis once, however many HTTP clients listen to it, and messages fan out here.
 * It is opened with the first stream and closed with the last, so an idle endpoint holds none.
 *
 * Channels are per database, as a token's channels are its own on Upstash: a database's channel
 * `c` is `__upstash_db<n>__:c` in Redis (policy.ts), and keyspace notifications
 * (`__keyspace@0__:<key>`, `__keyevent@0__:<event>`) map to the database's own index.
 */

/** One SSE client. */
export interface Stream {
  readonly db: number;
  readonly pattern: boolean;
  /** The channel or pattern as the client named it. */
  readonly name: string;
  /** The channel or pattern in Redis. */
  readonly redisName: string;
  readonly res: ServerResponse;
  /** Set once Redis confirmed the subscription and the stream's headers went out. */
  live: boolean;
}

/**
 * Most bytes a stream may have waiting for a slow client before it is closed: Redis's own default
 * limit for a pub/sub client (`client-output-buffer-limit pubsub 32mb`).
 */
export const MAX_STREAM_BACKLOG = 32 * 1024 * 1024;

/** How long a new stream waits for Redis to confirm its subscription before a 503. */
const SUBSCRIBE_TIMEOUT_MS = 5000;

const KEYSPACE = /^__key(space|event)@(\d+)__:/;

/** A database's Redis name for a client's channel or pattern. */
export function redisChannelName(db: number, name: string): string {
  const keyspace = KEYSPACE.exec(name);
  if (keyspace?.[2] === '0') return `__key${keyspace[1]}@${db}__:${name.slice(keyspace[0].length)}`;
  return channelPrefix(db) + name;
}

/** The client's name for a Redis channel of database `db`, or undefined when it is not one. */
export function clientChannelName(db: number, redisName: string): string | undefined {
  const prefix = channelPrefix(db);
  if (redisName.startsWith(prefix)) return redisName.slice(prefix.length);
  const keyspace = KEYSPACE.exec(redisName);
  if (keyspace && Number(keyspace[2]) === db)
    return `__key${keyspace[1]}@0__:${redisName.slice(keyspace[0].length)}`;
  return undefined;
}

/**
 * A payload as one SSE line. The client splits the stream on line breaks, so a payload holding
 * one is sent as JSON on one line: the client's default deserialization (JSON.parse) gives back
 * the same value, an object for JSON text and the string itself otherwise.
 */
export function ssePayload(message: string): string {
  if (!/[\r\n]/.test(message)) return message;
  try {
    return JSON.stringify(JSON.parse(message));
  } catch {
    return JSON.stringify(message);
  }
}

/** The SSE streams and the one subscriber connection of one Redis server. */
export class PubSubHub {
  readonly #target: RespTarget;
  readonly #channels = new Map<string, Set<Stream>>();
  readonly #patterns = new Map<string, Set<Stream>>();
  /** Per Redis channel or pattern (`c:` / `p:` + name): its SUBSCRIBE, in flight or done. */
  /** One SUBSCRIBE per channel; a failed one is forgotten, so the next stream tries again. */
  readonly #subscribed = new MemoMap<string, void>();
  readonly #globs = new GlobCache();
  #subscriber: { redis: IORedis; ready: Promise<IORedis> } | undefined;

  constructor(target: RespTarget) {
    this.#target = target;
  }

  /** Streams open now (for tests and the banner). */
  get streams(): number {
    let n = 0;
    for (const set of this.#channels.values()) n += set.size;
    for (const set of this.#patterns.values()) n += set.size;
    return n;
  }

  /** Subscribes a stream; resolves once Redis has confirmed, rejects if Redis cannot be reached. */
  async add(stream: Stream): Promise<void> {
    const map = stream.pattern ? this.#patterns : this.#channels;
    let set = map.get(stream.redisName);
    if (!set) {
      set = new Set();
      map.set(stream.redisName, set);
    }
    set.add(stream);
    const key = `${stream.pattern ? 'p' : 'c'}:${stream.redisName}`;
    const subscribed = this.#subscribed.get(key, () =>
      this.#connection().then(async (redis) => {
        // While it reconnects, a new stream fails at once (503), as a command does.
        if (redis.status !== 'ready') throw new Error('the subscriber connection to Redis is down');
        if (stream.pattern) await redis.psubscribe(stream.redisName);
        else await redis.subscribe(stream.redisName);
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        subscribed,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error('Redis did not confirm the subscription')),
            SUBSCRIBE_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (error) {
      this.remove(stream);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Drops a stream; the last one of a channel unsubscribes it, the last of all closes the connection. */
  remove(stream: Stream): void {
    stream.live = false;
    const map = stream.pattern ? this.#patterns : this.#channels;
    const set = map.get(stream.redisName);
    if (!set?.delete(stream) || set.size > 0) return;
    map.delete(stream.redisName);
    this.#subscribed.forget(`${stream.pattern ? 'p' : 'c'}:${stream.redisName}`);
    const subscriber = this.#subscriber;
    if (!subscriber) return;
    if (this.#channels.size === 0 && this.#patterns.size === 0) {
      this.#subscriber = undefined;
      subscriber.redis.quit().catch(() => subscriber.redis.disconnect());
    } else if (stream.pattern) subscriber.redis.punsubscribe(stream.redisName).catch(() => {});
    else subscriber.redis.unsubscribe(stream.redisName).catch(() => {});
  }

  /** Ends every stream and closes the connection. */
  async close(): Promise<void> {
    for (const map of [this.#channels, this.#patterns]) {
      for (const set of map.values()) for (const stream of set) stream.res.end();
      map.clear();
    }
    this.#subscribed.forget();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber) await subscriber.redis.quit().catch(() => subscriber.redis.disconnect());
  }

  /** The database's view of its channels, for PUBLISH and PUBSUB. */
  scope(db: number): ChannelScope {
    return {
      redisName: (name) => redisChannelName(db, name),
      clientName: (redisName) => clientChannelName(db, redisName),
      receivers: (channel, redisCount) => {
        let ours = 0;
        let local = 0;
        const direct = this.#live(this.#channels.get(channel));
        if (direct > 0) {
          ours += 1;
          local += direct;
        }
        for (const [pattern, set] of this.#patterns) {
          const live = this.#live(set);
          if (live > 0 && this.#globs.matches(pattern, channel)) {
            ours += 1;
            local += live;
          }
        }
        // Fewer than ours: Redis does not hold this connection's subscriptions right now (it is
        // re-subscribing after a reconnect), so none of the streams heard it.
        return redisCount < ours ? redisCount : redisCount - ours + local;
      },
      subscribers: (channel, redisCount) => {
        const live = this.#live(this.#channels.get(channel));
        return live > 0 && redisCount >= 1 ? redisCount - 1 + live : redisCount;
      },
      patterns: () => {
        let n = 0;
        for (const [pattern, set] of this.#patterns) {
          if (this.#live(set) > 0 && clientChannelName(db, pattern) !== undefined) n += 1;
        }
        return n;
      },
    };
  }

  #live(set: Set<Stream> | undefined): number {
    if (!set) return 0;
    let n = 0;
    for (const stream of set) if (stream.live) n += 1;
    return n;
  }

  #connection(): Promise<IORedis> {
    if (this.#subscriber) return this.#subscriber.ready;
    const { host, port, username, password, tls } = this.#target;
    const redis = new IORedis({
      host,
      port,
      username,
      password,
      tls: tls ? { servername: host } : undefined,
      lazyConnect: true,
      connectTimeout: 2000,
      // Re-subscribes by itself after a reconnect; streams stay open meanwhile.
      autoResubscribe: true,
      maxRetriesPerRequest: null,
      retryStrategy: (attempt) => Math.min(attempt * 50, 500),
    });
    redis.on('error', () => {});
    redis.on('message', (channel: string, message: string) => {
      const set = this.#channels.get(channel);
      if (!set) return;
      const line = `,${ssePayload(message)}\n\n`;
      for (const stream of set) if (stream.live) write(stream, `data: message,${stream.name}${line}`);
    });
    redis.on('pmessage', (pattern: string, channel: string, message: string) => {
      const set = this.#patterns.get(pattern);
      if (!set) return;
      const payload = ssePayload(message);
      for (const stream of set) {
        if (!stream.live) continue;
        const name = clientChannelName(stream.db, channel) ?? channel;
        write(stream, `data: pmessage,${stream.name},${name},${payload}\n\n`);
      }
    });
    const subscriber = {
      redis,
      ready: redis.connect().then(
        () => redis,
        (error: unknown) => {
          if (this.#subscriber === subscriber) this.#subscriber = undefined;
          redis.disconnect();
          throw error;
        },
      ),
    };
    this.#subscriber = subscriber;
    return subscriber.ready;
  }
}

function write(stream: Stream, line: string): void {
  if (stream.res.writableLength > MAX_STREAM_BACKLOG) {
    // A client this far behind is not reading: close it, as Redis closes a slow subscriber.
    stream.res.destroy();
    return;
  }
  stream.res.write(line);
}
