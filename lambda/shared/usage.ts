import type { Redis } from '@upstash/redis';
import { invocationStore } from './invocation-store';
import type { RedisLike, SetOptions } from './redis';
import { innerCallsOf, scriptBySha, scriptByText } from './scripts';

/**
 * Upstash usage, counted where it happens: in the client of each database. Every round trip is
 * recorded with its top-level commands, its billed commands (each command, plus the calls a
 * script of ours reports having made), its request and response bytes and its latency, into the
 * {@link InvocationUsage} of the invocation that issued it. The handlers publish the counts as
 * EMF with the request's other metrics and put them on the request's log line: no extra
 * command, no extra AWS call.
 */

/** One round trip to a database, as the client saw it. */
export interface RoundTrip {
  /** Top-level commands in it (a pipeline carries several). */
  readonly commands: number;
  /**
   * What Upstash bills for them: one per command, plus the inner calls our scripts report. A
   * round trip that failed without an answer (network error, timeout, 401, 5xx) counts every
   * command it carried: Upstash may have run them, so the estimate errs high, never low.
   */
  readonly billed: number;
  /** Bytes of the request body (REST: the JSON the SDK sends; TCP: the RESP encoding). */
  readonly requestBytes: number;
  /** Bytes of the response body (0 when none arrived). */
  readonly responseBytes: number;
  /** From sending the request to having the reply, in ms. */
  readonly latencyMs: number;
}

/** Receives every round trip of one database's client. */
export type RoundTripRecorder = (roundTrip: RoundTrip) => void;

/** What one invocation sent to one database. */
export interface DatabaseUsage {
  commands: number;
  billed: number;
  requestBytes: number;
  responseBytes: number;
  roundTrips: number;
  /** One value per round trip, in ms. */
  readonly latenciesMs: number[];
}

/** The usage of the invocation running now (invocation-store.ts: async context or a slot). */
const current = invocationStore<InvocationUsage>();

/**
 * The usage of one invocation, per database. Commands are recorded into the usage whose
 * {@link run} they were sent in, so two requests served concurrently in one process (the local
 * stack) keep their own counts (through async context there; in Lambda, which serves one at a
 * time, a plain slot). A round trip auto-pipelining shares between two of them is counted to the
 * one that sent it; one still under way when its invocation ends counts to no other.
 */
export class InvocationUsage {
  readonly #databases = new Map<string, DatabaseUsage>();

  /** Runs `fn` with this usage collecting every round trip it causes, background ones included. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return current.run(this, fn);
  }

  record(database: string, roundTrip: RoundTrip): void {
    let usage = this.#databases.get(database);
    if (!usage) {
      usage = { commands: 0, billed: 0, requestBytes: 0, responseBytes: 0, roundTrips: 0, latenciesMs: [] };
      this.#databases.set(database, usage);
    }
    usage.commands += roundTrip.commands;
    usage.billed += roundTrip.billed;
    usage.requestBytes += roundTrip.requestBytes;
    usage.responseBytes += roundTrip.responseBytes;
    usage.roundTrips += 1;
    usage.latenciesMs.push(Math.round(roundTrip.latencyMs * 100) / 100);
  }

  /** Per database, in the order first used. */
  byDatabase(): ReadonlyMap<string, Readonly<DatabaseUsage>> {
    return this.#databases;
  }

  /**
   * The fields a log line carries: totals, and billed commands per database (each database has
   * its own price).
   */
  logFields(): {
    commands: number;
    billedCommands: number;
    roundTrips: number;
    billedByDatabase: Record<string, number>;
  } {
    let commands = 0;
    let billedCommands = 0;
    let roundTrips = 0;
    const billedByDatabase: Record<string, number> = {};
    for (const [database, usage] of this.#databases) {
      commands += usage.commands;
      billedCommands += usage.billed;
      roundTrips += usage.roundTrips;
      billedByDatabase[database] = usage.billed;
    }
    return { commands, billedCommands, roundTrips, billedByDatabase };
  }
}

/** The recorder of the invocation running when a round trip is sent (see {@link usageRecorder}). */
const AT_SEND = Symbol('recorder of the sending invocation');
type UsageRecorder = RoundTripRecorder & { readonly [AT_SEND]?: () => RoundTripRecorder };

/**
 * A recorder that adds each round trip of `database` to the usage of the invocation that sent it,
 * if any. The meters below bind it when the round trip is sent: its answer may arrive when that
 * invocation's slot holds another (a container thawed for the next one).
 */
export function usageRecorder(database: string): RoundTripRecorder {
  const record: UsageRecorder = (roundTrip) => current.get()?.record(database, roundTrip);
  return Object.assign(record, {
    [AT_SEND]: (): RoundTripRecorder => {
      const usage = current.get();
      return (roundTrip) => usage?.record(database, roundTrip);
    },
  });
}

/** `record`, bound to the invocation sending now when it is a {@link usageRecorder}. */
const boundAtSend = (record: RoundTripRecorder): RoundTripRecorder =>
  (record as UsageRecorder)[AT_SEND]?.() ?? record;

/** Inner calls of a declared script in `reply` to `command`; 0 for anything else. */
function innerCalls(command: readonly unknown[], reply: unknown): number {
  const name = String(command[0]).toUpperCase();
  const script =
    name === 'EVALSHA'
      ? scriptBySha(String(command[1]))
      : name === 'EVAL'
        ? scriptByText(String(command[1]))
        : undefined;
  return script ? (innerCallsOf(reply) ?? 0) : 0;
}

/** Length of a JSON string literal of `text`'s UTF-8 bytes in base64. */
const base64Length = (text: string): number => 2 + 4 * Math.ceil(Buffer.byteLength(text, 'utf8') / 3);

/**
 * Bytes of the JSON value the server sent for a decoded `Upstash-Encoding: base64` reply: every
 * string in base64 at every depth, integers as digits, nil as `null`, compact arrays. (Upstash
 * sends a top-level `OK` unencoded, 2 bytes less; invalid UTF-8 the SDK replaced cannot be
 * measured back.)
 */
export function encodedReplyLength(value: unknown): number {
  if (value === null || value === undefined) return 4;
  if (typeof value === 'string') return base64Length(value);
  if (typeof value === 'number') return String(value).length;
  if (Array.isArray(value)) {
    let length = 2 + Math.max(0, value.length - 1);
    for (const item of value) length += encodedReplyLength(item);
    return length;
  }
  return Buffer.byteLength(JSON.stringify(value) ?? 'null');
}

interface UpstashItem {
  readonly result?: unknown;
  readonly error?: string;
}

const itemLength = (item: UpstashItem): number =>
  item.error !== undefined
    ? Buffer.byteLength(JSON.stringify({ error: item.error }))
    : '{"result":}'.length + encodedReplyLength(item.result);

interface UpstashRequester {
  request(req: { path?: string[]; body?: unknown }): Promise<unknown>;
}

/**
 * Meters every HTTP request of an `@upstash/redis` client (single commands, pipelines and the
 * auto-pipeline's batches alike) by wrapping the request method of its HTTP client, the one place
 * every command passes. Request bytes are those of the JSON body the SDK sends; response bytes
 * are measured back from the decoded reply (the SDK keeps the raw body to itself).
 *
 * @throws Error when the client has no HTTP client to wrap (an `@upstash/redis` other than 1.3x)
 */
export function meterUpstashClient(redis: Redis, record: RoundTripRecorder): void {
  // `client` is the SDK's HttpClient; it is protected in the typings, and the pinned 1.39 keeps
  // it there. Both single commands and pipelines call its request() at send time.
  const http = (redis as unknown as { client?: UpstashRequester }).client;
  if (!http || typeof http.request !== 'function') {
    throw new Error('cannot meter this @upstash/redis client: it has no HTTP client with request()');
  }
  const send = http.request.bind(http);
  http.request = async (req) => {
    const recordTrip = boundAtSend(record);
    const pipelined = req.path?.[0] === 'pipeline' || req.path?.[0] === 'multi-exec';
    const commands = (pipelined ? req.body : [req.body]) as unknown[][];
    const requestBytes = Buffer.byteLength(JSON.stringify(req.body));
    const started = performance.now();
    let response: unknown;
    try {
      response = await send(req);
    } catch (error) {
      recordTrip({
        commands: commands.length,
        billed: commands.length,
        requestBytes,
        responseBytes: 0,
        latencyMs: performance.now() - started,
      });
      throw error;
    }
    const latencyMs = performance.now() - started;
    const items = (pipelined ? response : [response]) as UpstashItem[];
    let billed = 0;
    for (const [i, command] of commands.entries()) {
      const item = items[i];
      billed += 1 + (item && item.error === undefined ? innerCalls(command, item.result) : 0);
    }
    const responseBytes = pipelined
      ? 2 + Math.max(0, items.length - 1) + items.reduce((n, item) => n + itemLength(item), 0)
      : itemLength(items[0] ?? {});
    recordTrip({ commands: commands.length, billed, requestBytes, responseBytes, latencyMs });
    return response;
  };
}

/** Bytes of `args` as a RESP array of bulk strings. */
export function respCommandLength(args: readonly (string | number)[]): number {
  let length = `*${args.length}\r\n`.length;
  for (const arg of args) {
    const bytes = Buffer.byteLength(String(arg));
    length += `$${bytes}\r\n`.length + bytes + 2;
  }
  return length;
}

/** Bytes of a RESP2 reply as ioredis hands it back (strings counted as bulk strings). */
export function respReplyLength(reply: unknown): number {
  if (reply === null || reply === undefined) return 5; // $-1\r\n
  if (typeof reply === 'number') return `:${reply}\r\n`.length;
  if (Array.isArray(reply)) {
    return reply.reduce((n: number, item) => n + respReplyLength(item), `*${reply.length}\r\n`.length);
  }
  const bytes = Buffer.byteLength(String(reply));
  return `$${bytes}\r\n`.length + bytes + 2;
}

/**
 * A {@link RedisLike} over TCP (ioredis) that meters each command as one round trip: ioredis
 * writes commands issued in the same tick together, but each waits for its own reply. Bytes are
 * those of the RESP encoding of the command and of its reply.
 */
export class MeteredRedis implements RedisLike {
  readonly kind: RedisLike['kind'];

  constructor(
    private readonly inner: RedisLike & { close(): Promise<void> },
    private readonly record: RoundTripRecorder,
  ) {
    this.kind = inner.kind;
  }

  async #metered<T>(args: readonly (string | number)[], run: () => Promise<T>): Promise<T> {
    const record = boundAtSend(this.record);
    const requestBytes = respCommandLength(args);
    const started = performance.now();
    let reply: T;
    try {
      reply = await run();
    } catch (error) {
      const answered = error instanceof Error && error.name === 'ReplyError';
      record({
        commands: 1,
        billed: 1,
        requestBytes,
        responseBytes: answered ? Buffer.byteLength(error.message) + 3 : 0,
        latencyMs: performance.now() - started,
      });
      throw error;
    }
    record({
      commands: 1,
      billed: 1 + innerCalls(args, reply),
      requestBytes,
      responseBytes: respReplyLength(reply),
      latencyMs: performance.now() - started,
    });
    return reply;
  }

  get(key: string): Promise<string | null> {
    return this.#metered(['GET', key], () => this.inner.get(key));
  }

  mget(keys: readonly string[]): Promise<Array<string | null>> {
    return this.#metered(['MGET', ...keys], () => this.inner.mget(keys));
  }

  async set(key: string, value: string, options: SetOptions = {}): Promise<boolean> {
    const args: Array<string | number> = ['SET', key, value];
    if (options.px !== undefined) args.push('PX', options.px);
    if (options.nx) args.push('NX');
    else if (options.xx) args.push('XX');
    return this.#metered(args, () => this.inner.set(key, value, options));
  }

  del(keys: readonly string[]): Promise<number> {
    return this.#metered(['DEL', ...keys], () => this.inner.del(keys));
  }

  unlink(keys: readonly string[]): Promise<number> {
    return this.#metered(['UNLINK', ...keys], () => this.inner.unlink(keys));
  }

  exists(keys: readonly string[]): Promise<number> {
    return this.#metered(['EXISTS', ...keys], () => this.inner.exists(keys));
  }

  pttl(key: string): Promise<number> {
    return this.#metered(['PTTL', key], () => this.inner.pttl(key));
  }

  scan(cursor: string, match: string, count: number): Promise<[string, string[]]> {
    return this.#metered(['SCAN', cursor, 'MATCH', match, 'COUNT', count], () =>
      this.inner.scan(cursor, match, count),
    );
  }

  evalsha(sha: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#metered(['EVALSHA', sha, keys.length, ...keys, ...args], () =>
      this.inner.evalsha(sha, keys, args),
    );
  }

  eval(script: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#metered(['EVAL', script, keys.length, ...keys, ...args], () =>
      this.inner.eval(script, keys, args),
    );
  }

  ping(): Promise<string> {
    return this.#metered(['PING'], () => this.inner.ping());
  }

  dbsize(): Promise<number> {
    const inner = this.inner;
    if (!inner.dbsize) return Promise.reject(new Error('this client cannot run DBSIZE'));
    return this.#metered(['DBSIZE'], () => (inner.dbsize as () => Promise<number>)());
  }

  info(section: string): Promise<string> {
    const inner = this.inner;
    if (!inner.info) return Promise.reject(new Error('this client cannot run INFO'));
    return this.#metered(['INFO', section], () => (inner.info as (s: string) => Promise<string>)(section));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
