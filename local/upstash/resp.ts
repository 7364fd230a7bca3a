import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/**
 * A lean RESP2 connection for the endpoint's command path.
 *
 * Why not ioredis here: the endpoint turns JSON into Redis commands and replies back into JSON,
 * nothing more. A general client costs a Command object, a promise and a socket write per
 * command (a pipeline of 100 was 100 writes), and transforms replies the endpoint must undo. This
 * connection writes each request's commands as one pre-encoded buffer, reads replies as raw
 * bytes, and resolves one promise per request. Pub/sub (a different protocol state) stays on
 * ioredis in pubsub.ts.
 */

/** An integer reply too large for a double: kept as its exact decimal digits. */
export class RespBigInt {
  constructor(readonly digits: string) {}
}

/** An error reply from Redis (`-ERR ...`), kept as a value so a pipeline can carry it in place. */
export class RespError {
  constructor(readonly message: string) {}
}

/**
 * A parsed reply: bulk and status strings as bytes, integers as numbers (or exact digits), nil as
 * `null`, arrays as arrays, errors as {@link RespError}.
 */
export type Reply = Buffer | number | RespBigInt | null | RespError | Reply[];

/** Redis could not be reached, or stopped answering: the request's outcome is unknown. */
export class RedisUnavailableError extends Error {}

const CRLF = '\r\n';

/** Appends one command to a RESP payload under construction. */
export function encodeCommand(args: readonly string[]): string {
  let out = `*${args.length}${CRLF}`;
  for (const arg of args) out += `$${Buffer.byteLength(arg)}${CRLF}${arg}${CRLF}`;
  return out;
}

interface Frame {
  readonly items: Reply[];
  remaining: number;
}

/**
 * An incremental RESP2 parser. Feed it chunks as they arrive; it emits each complete top-level
 * reply. It keeps its place inside nested arrays, and collects a large bulk string's chunks until
 * the string is whole, so neither a huge array nor a huge value costs more than one pass.
 */
export class RespParser {
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;
  #stack: Frame[] = [];
  /** While a bulk string is incomplete: its length and the chunks gathered so far. */
  #bulk: { length: number; chunks: Buffer[]; have: number } | undefined;

  constructor(private readonly emit: (reply: Reply) => void) {}

  /** Drops any partial reply (after the connection it came from closed). */
  reset(): void {
    this.#buf = Buffer.alloc(0);
    this.#pos = 0;
    this.#stack = [];
    this.#bulk = undefined;
  }

  feed(chunk: Buffer): void {
    if (this.#bulk) {
      this.#bulk.chunks.push(chunk);
      this.#bulk.have += chunk.length;
      if (this.#bulk.have < this.#bulk.length + 2) return;
      const whole = Buffer.concat(this.#bulk.chunks, this.#bulk.have);
      const { length } = this.#bulk;
      this.#bulk = undefined;
      this.#buf = whole;
      this.#pos = length + 2;
      this.#push(whole.subarray(0, length));
    } else if (this.#pos < this.#buf.length) {
      this.#buf = Buffer.concat([this.#buf.subarray(this.#pos), chunk]);
      this.#pos = 0;
    } else {
      this.#buf = chunk;
      this.#pos = 0;
    }
    this.#parse();
  }

  #parse(): void {
    const buf = this.#buf;
    while (this.#pos < buf.length) {
      const start = this.#pos;
      const eol = buf.indexOf(13, start + 1);
      if (eol === -1 || eol + 1 >= buf.length) return;
      const type = buf[start];
      this.#pos = eol + 2;
      switch (type) {
        case 43: // + status
          this.#push(buf.subarray(start + 1, eol));
          break;
        case 45: // - error
          this.#push(new RespError(buf.toString('utf8', start + 1, eol)));
          break;
        case 58: // : integer
          this.#push(parseInteger(buf, start + 1, eol));
          break;
        case 36: {
          // $ bulk
          const length = parseLength(buf, start + 1, eol);
          if (length < 0) {
            this.#push(null);
            break;
          }
          const end = this.#pos + length;
          if (end + 2 <= buf.length) {
            this.#push(buf.subarray(this.#pos, end));
            this.#pos = end + 2;
            break;
          }
          const rest = buf.subarray(this.#pos);
          this.#bulk = { length, chunks: [rest], have: rest.length };
          this.#buf = Buffer.alloc(0);
          this.#pos = 0;
          return;
        }
        case 42: {
          // * array
          const length = parseLength(buf, start + 1, eol);
          if (length < 0) this.#push(null);
          else if (length === 0) this.#push([]);
          else this.#stack.push({ items: [], remaining: length });
          break;
        }
        default:
          throw new Error(`unexpected RESP type byte ${type} from Redis`);
      }
    }
  }

  #push(value: Reply): void {
    let reply = value;
    for (;;) {
      const frame = this.#stack[this.#stack.length - 1];
      if (!frame) {
        this.emit(reply);
        return;
      }
      frame.items.push(reply);
      frame.remaining -= 1;
      if (frame.remaining > 0) return;
      this.#stack.pop();
      reply = frame.items;
    }
  }
}

function parseLength(buf: Buffer, from: number, to: number): number {
  if (buf[from] === 45) return -1;
  let n = 0;
  for (let i = from; i < to; i++) n = n * 10 + ((buf[i] as number) - 48);
  return n;
}

function parseInteger(buf: Buffer, from: number, to: number): number | RespBigInt {
  // 15 digits always fit a double exactly; longer ones may not.
  if (to - from > 15) return new RespBigInt(buf.toString('latin1', from, to));
  const negative = buf[from] === 45;
  let n = 0;
  for (let i = negative ? from + 1 : from; i < to; i++) n = n * 10 + ((buf[i] as number) - 48);
  return negative ? -n : n;
}

/** Where and how to reach one Redis database. */
export interface RespTarget {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly username?: string;
  readonly password?: string;
  readonly db: number;
}

/** Reads `redis://[user:pass@]host:port[/db]` (or `rediss://` for TLS). */
export function parseRedisUrl(url: string): RespTarget {
  const parsed = new URL(url);
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`not a Redis URL (redis:// or rediss://): ${parsed.protocol}`);
  }
  const dbPart = parsed.pathname.replace(/^\//, '');
  const db = dbPart === '' ? 0 : Number(dbPart);
  if (!Number.isInteger(db) || db < 0) throw new Error(`bad database number in a Redis URL: "${dbPart}"`);
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    tls: parsed.protocol === 'rediss:',
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    db,
  };
}

interface Pending {
  readonly count: number;
  readonly replies: Reply[];
  readonly resolve: (replies: Reply[]) => void;
  readonly reject: (error: Error) => void;
  /** `Date.now()` when written. */
  readonly sentAt: number;
}

/** Options of {@link RespConnection}. */
export interface RespConnectionOptions {
  /**
   * Give up on a connection whose oldest request Redis has not answered after this long (ms):
   * the connection is dropped (every request on it fails with 503) and made again.
   * @default 15000
   */
  readonly timeoutMs?: number;
  /** @default 2000 */
  readonly connectTimeoutMs?: number;
}

/**
 * One connection to one Redis database. Requests are written whole, one buffer each, and
 * answered in order. While Redis is away a request fails at once (no offline queue: the client
 * gets a clear 503) and the connection retries in the background.
 */
export class RespConnection {
  readonly #target: RespTarget;
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #queue: Pending[] = [];
  readonly #parser = new RespParser((reply) => this.#onReply(reply));
  #socket: Socket | undefined;
  #ready = false;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;
  #attempt = 0;
  #lastError = 'not connected';
  /** One timer per connection (not one per request) watches for a Redis that stopped answering. */
  #watchdog: NodeJS.Timeout | undefined;

  constructor(target: RespTarget, options: RespConnectionOptions = {}) {
    this.#target = target;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  }

  get target(): RespTarget {
    return this.#target;
  }

  /** Connects (authenticating and selecting the database); rejects if Redis cannot be reached. */
  connect(): Promise<void> {
    return this.#open();
  }

  /**
   * Sends pre-encoded commands and resolves with their `count` replies, in order. Error replies
   * are values ({@link RespError}); only a lost or silent Redis rejects (with
   * {@link RedisUnavailableError}).
   */
  send(payload: Buffer | string, count: number): Promise<Reply[]> {
    if (!this.#ready || !this.#socket) {
      return Promise.reject(new RedisUnavailableError(`ERR Redis is unavailable: ${this.#lastError}`));
    }
    return new Promise<Reply[]>((resolve, reject) => {
      this.#queue.push({ count, replies: [], resolve, reject, sentAt: Date.now() });
      (this.#socket as Socket).write(payload);
    });
  }

  /** Closes the connection for good; requests in flight fail. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#watchdog);
    this.#socket?.destroy();
    this.#fail('ERR Redis is unavailable: the endpoint is closing');
  }

  #open(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const { host, port, tls } = this.#target;
      const socket = tls
        ? tlsConnect({ host, port, servername: host })
        : netConnect({ host, port, noDelay: true });
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 30_000);
      const timer = setTimeout(
        () => socket.destroy(new Error(`connect timed out after ${this.#connectTimeoutMs} ms`)),
        this.#connectTimeoutMs,
      );
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      socket.on('data', (chunk: Buffer) => {
        try {
          this.#parser.feed(chunk);
        } catch (error) {
          socket.destroy(error as Error);
        }
      });
      socket.on('error', (error) => {
        this.#lastError = error.message;
        settle(error);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        if (this.#socket === socket) {
          this.#socket = undefined;
          this.#ready = false;
          this.#parser.reset();
          this.#fail(`ERR Redis is unavailable: ${this.#lastError}`);
          this.#scheduleRetry();
        }
        settle(new Error(this.#lastError));
      });
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        this.#socket = socket;
        this.#lastError = 'connection closed';
        this.#handshake()
          .then(() => {
            this.#ready = true;
            this.#attempt = 0;
            this.#watch();
            settle();
          })
          .catch((error: Error) => {
            this.#lastError = error.message;
            socket.destroy();
            settle(error);
          });
      });
    });
  }

  /** AUTH and SELECT, before anything else is sent. */
  async #handshake(): Promise<void> {
    const { username, password, db } = this.#target;
    const commands: string[][] = [];
    if (password !== undefined) commands.push(username ? ['AUTH', username, password] : ['AUTH', password]);
    if (db !== 0) commands.push(['SELECT', String(db)]);
    if (commands.length === 0) return;
    const replies = await new Promise<Reply[]>((resolve, reject) => {
      this.#queue.push({ count: commands.length, replies: [], resolve, reject, sentAt: Date.now() });
      (this.#socket as Socket).write(commands.map(encodeCommand).join(''));
    });
    for (const reply of replies) {
      // Never echo AUTH's arguments: only Redis's own error text.
      if (reply instanceof RespError) throw new Error(reply.message);
    }
  }

  #scheduleRetry(): void {
    if (this.#closed || this.#retry) return;
    this.#attempt += 1;
    this.#retry = setTimeout(
      () => {
        this.#retry = undefined;
        this.#open().catch(() => this.#scheduleRetry());
      },
      Math.min(this.#attempt * 50, 500),
    );
  }

  #watch(): void {
    if (this.#watchdog) return;
    this.#watchdog = setInterval(
      () => {
        const oldest = this.#queue[0];
        if (oldest && Date.now() - oldest.sentAt > this.#timeoutMs) {
          this.#lastError = `no answer in ${this.#timeoutMs} ms`;
          this.#socket?.destroy();
        }
      },
      Math.min(1000, this.#timeoutMs),
    );
    this.#watchdog.unref();
  }

  #onReply(reply: Reply): void {
    const pending = this.#queue[0];
    if (!pending) return;
    pending.replies.push(reply);
    if (pending.replies.length < pending.count) return;
    this.#queue.shift();
    pending.resolve(pending.replies);
  }

  #fail(message: string): void {
    for (const pending of this.#queue.splice(0)) pending.reject(new RedisUnavailableError(message));
  }
}
