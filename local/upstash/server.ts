import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis, ReplyError } from 'ioredis';
import { errorBody, type RawReply, replyToJson, resultBody } from './reply';
import { ScriptTranslator } from './scripts';

/** One emulated Upstash database: the token that reaches it and the Redis behind it. */
export interface UpstashDatabase {
  /** Bearer token clients send. */
  readonly token: string;
  /** Redis URL, database index included (`redis://127.0.0.1:6379/2`). */
  readonly redisUrl: string;
}

/** Options of {@link UpstashEndpoint.start}. */
export interface UpstashEndpointOptions {
  /** The databases to serve, one per token. */
  readonly databases: readonly UpstashDatabase[];
  /**
   * Port to listen on.
   * @default 0 - a free port chosen by the OS
   */
  readonly port?: number;
  /**
   * Interface to bind.
   * @default '127.0.0.1'
   */
  readonly host?: string;
  /**
   * Largest request body accepted, in bytes; Upstash's limit on free and pay-as-you-go plans.
   * @default 10 MiB
   */
  readonly maxBodyBytes?: number;
}

/** What one database has served: HTTP round trips and top-level commands. */
export interface EndpointStats {
  requests: number;
  commands: number;
  byCommand: Record<string, number>;
}

const DEFAULT_MAX_BODY = 10 * 1024 * 1024;

/**
 * Commands that would change the state of the shared connection, block it, or reach beyond one
 * database. Upstash's REST API refuses the same families (no blocking commands, no
 * SELECT/MULTI/WATCH over REST, pub/sub only through its SSE paths).
 */
const UNAVAILABLE = new Set([
  'AUTH',
  'BLMOVE',
  'BLMPOP',
  'BLPOP',
  'BRPOP',
  'BRPOPLPUSH',
  'BZMPOP',
  'BZPOPMAX',
  'BZPOPMIN',
  'CLIENT',
  'DEBUG',
  'DISCARD',
  'EXEC',
  'FAILOVER',
  'HELLO',
  'MIGRATE',
  'MONITOR',
  'MOVE',
  'MULTI',
  'PSUBSCRIBE',
  'PSYNC',
  'PUNSUBSCRIBE',
  'QUIT',
  'REPLICAOF',
  'RESET',
  'SELECT',
  'SHUTDOWN',
  'SLAVEOF',
  'SSUBSCRIBE',
  'SUBSCRIBE',
  'SUNSUBSCRIBE',
  'SWAPDB',
  'SYNC',
  'UNSUBSCRIBE',
  'UNWATCH',
  'WAIT',
  'WAITAOF',
  'WATCH',
]);

/** A request that cannot reach Redis: mapped to 503, never to a Redis error. */
class RedisUnavailableError extends Error {}

/** A request the endpoint refuses before Redis sees it. */
class BadRequestError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

type Command = string[];

class Database {
  readonly redis: Redis;
  readonly scripts = new ScriptTranslator();
  stats: EndpointStats = { requests: 0, commands: 0, byCommand: {} };
  #sync = 0;

  constructor(
    public token: string,
    redisUrl: string,
  ) {
    this.redis = new Redis(redisUrl, {
      lazyConnect: true,
      // Fail fast while Redis is away instead of queueing: the client gets a clear 503.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      stringNumbers: true,
      connectTimeout: 2000,
      commandTimeout: 15_000,
      retryStrategy: (attempt) => Math.min(attempt * 50, 500),
    });
    // Connection errors surface per request; the listener keeps them from crashing the process.
    this.redis.on('error', () => {});
  }

  nextSyncToken(): string {
    this.#sync += 1;
    return String(this.#sync);
  }

  count(commands: readonly Command[]): void {
    this.stats.requests += 1;
    for (const [name] of commands) {
      const upper = (name ?? '').toUpperCase();
      this.stats.commands += 1;
      this.stats.byCommand[upper] = (this.stats.byCommand[upper] ?? 0) + 1;
    }
  }

  /** Checks and rewrites one command; throws BadRequestError for what Redis must not see. */
  prepare(command: Command): { name: string; args: string[]; loadedSha?: string } {
    const name = (command[0] ?? '').toUpperCase();
    if (UNAVAILABLE.has(name)) throw new CommandError(`ERR Command is not available: '${command[0]}'`);
    if ((name === 'XREAD' || name === 'XREADGROUP') && command.some((a) => a.toUpperCase() === 'BLOCK')) {
      throw new CommandError(`ERR Command is not available: '${command[0]} BLOCK'`);
    }
    // Each Upstash database is its own keyspace: FLUSHALL empties this one, not its neighbours.
    const effective = name === 'FLUSHALL' ? ['FLUSHDB', ...command.slice(1)] : command;
    const { args, loadedSha } = this.scripts.translate(effective);
    // Upper case keeps ioredis from applying its own reply transformers (HGETALL -> object).
    return { name: (args[0] ?? '').toUpperCase(), args: args.slice(1), loadedSha };
  }

  async run(command: Command): Promise<RawReply> {
    const { name, args, loadedSha } = this.prepare(command);
    try {
      const reply = (await this.redis.callBuffer(name, ...args)) as RawReply;
      return loadedSha ? Buffer.from(loadedSha) : reply;
    } catch (error) {
      throw asRedisError(error);
    }
  }

  /** MULTI ... EXEC written in one go on the shared connection, so no other request interleaves. */
  async transaction(commands: Command[]): Promise<Array<{ reply?: RawReply; error?: string }>> {
    const multi = this.redis.multi();
    const loaded: Array<string | undefined> = [];
    for (const command of commands) {
      const { name, args, loadedSha } = this.prepare(command);
      loaded.push(loadedSha);
      multi.callBuffer(name, ...args);
    }
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await multi.exec();
    } catch (error) {
      throw asRedisError(error);
    }
    if (!results) throw new CommandError('EXECABORT Transaction discarded because of previous errors.');
    return results.map(([error, reply], i) =>
      error
        ? { error: error.message }
        : { reply: loaded[i] ? Buffer.from(loaded[i] as string) : (reply as RawReply) },
    );
  }
}

/** An error Redis itself would give: answered as 400 with its text verbatim. */
class CommandError extends Error {}

const isReplyError = (error: unknown): error is Error =>
  error instanceof CommandError || (error as object) instanceof (ReplyError as unknown as typeof Error);

function asRedisError(error: unknown): Error {
  if (isReplyError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RedisUnavailableError(`ERR Redis is unavailable: ${message}`);
}

/** Converts a JSON value into a Redis argument the way JavaScript's `String(x)` does. */
function toArgument(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return String(value);
  throw new BadRequestError(
    `ERR invalid argument: expected a string, number or boolean, got ${JSON.stringify(value)}`,
  );
}

function toCommand(value: unknown): Command {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequestError('ERR invalid command: expected a non-empty JSON array such as ["GET","key"]');
  }
  return value.map(toArgument);
}

function tokenMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A local stand-in for the Upstash Redis REST API over a real Redis, complete enough that the
 * unchanged `@upstash/redis` and `@upstash/ratelimit` clients run against it: `POST /`,
 * `/pipeline` and `/multi-exec`, Bearer tokens mapped to databases, `Upstash-Encoding: base64`,
 * Redis errors as 400 JSON, Upstash script flags, and an `upstash-sync-token` header.
 *
 * @example
 * const endpoint = await UpstashEndpoint.start({ databases: [{ token: 't', redisUrl: 'redis://127.0.0.1:6379' }] });
 * process.env.UPSTASH_REDIS_REST_URL = endpoint.url;
 */
export class UpstashEndpoint {
  readonly #server: Server;
  readonly #databases: Database[];
  readonly #maxBody: number;

  private constructor(server: Server, databases: Database[], maxBody: number) {
    this.#server = server;
    this.#databases = databases;
    this.#maxBody = maxBody;
  }

  /** Connects to every Redis, then listens. Rejects when a Redis cannot be reached. */
  static async start(options: UpstashEndpointOptions): Promise<UpstashEndpoint> {
    if (options.databases.length === 0) throw new Error('UpstashEndpoint needs at least one database');
    const databases = options.databases.map((db) => new Database(db.token, db.redisUrl));
    try {
      await Promise.all(databases.map((db) => db.redis.connect()));
    } catch (error) {
      for (const db of databases) db.redis.disconnect();
      throw new Error(`cannot reach Redis for the Upstash endpoint: ${(error as Error).message}`);
    }
    const server = createServer({ keepAlive: true });
    const endpoint = new UpstashEndpoint(server, databases, options.maxBodyBytes ?? DEFAULT_MAX_BODY);
    server.on('request', (req, res) => {
      endpoint.#handle(req, res).catch((error: unknown) => {
        send(res, 500, errorBody(`ERR internal error: ${(error as Error).message}`));
      });
    });
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    return endpoint;
  }

  /** Base URL for `UPSTASH_REDIS_REST_URL`. */
  get url(): string {
    const { address, port } = this.#server.address() as AddressInfo;
    return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  }

  /** Round trips and commands served for the database of `token` (the first one by default). */
  stats(token?: string): EndpointStats {
    const db = token ? this.#databases.find((d) => d.token === token) : this.#databases[0];
    if (!db) throw new Error('no database has that token');
    return structuredClone(db.stats);
  }

  /** Zeroes every database's counters. */
  resetStats(): void {
    for (const db of this.#databases) db.stats = { requests: 0, commands: 0, byCommand: {} };
  }

  /** Replaces a database's token, as rotating an Upstash token does: the old one stops working. */
  rotateToken(oldToken: string, newToken: string): void {
    const db = this.#databases.find((d) => d.token === oldToken);
    if (!db) throw new Error('no database has that token');
    db.token = newToken;
  }

  /** Stops listening, drops keep-alive connections and disconnects from Redis. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    await Promise.all(this.#databases.map((db) => db.redis.quit().catch(() => db.redis.disconnect())));
  }

  #authenticate(req: IncomingMessage, url: URL): Database | undefined {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : url.searchParams.get('_token');
    if (!token) return undefined;
    return this.#databases.find((db) => tokenMatches(token, db.token));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS_HEADERS).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://local');
    const body = await readBody(req, this.#maxBody);
    const db = this.#authenticate(req, url);
    if (!db) {
      send(res, 401, errorBody('WRONGPASS invalid or missing auth token'));
      return;
    }
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path !== '/' && path !== '/pipeline' && path !== '/multi-exec') {
      send(res, 404, errorBody(`ERR unknown endpoint: ${req.method} ${url.pathname}`));
      return;
    }
    if (req.method !== 'POST') {
      send(res, 405, errorBody(`ERR method not allowed: ${req.method} ${path} (use POST)`));
      return;
    }
    if (body === 'too-large') {
      send(res, 413, errorBody(`ERR max request size exceeded (${this.#maxBody} bytes)`));
      return;
    }
    const base64 = req.headers['upstash-encoding'] === 'base64';
    try {
      const parsed = parseJson(body);
      if (path === '/') {
        const command = toCommand(parsed);
        db.count([command]);
        const reply = await db.run(command);
        send(res, 200, resultBody(reply, base64), db.nextSyncToken());
        return;
      }
      if (!Array.isArray(parsed) || parsed.length === 0) {
        throw new BadRequestError('ERR invalid pipeline: expected a non-empty JSON array of commands');
      }
      const commands = parsed.map(toCommand);
      db.count(commands);
      const items =
        path === '/pipeline'
          ? await runPipeline(db, commands)
          : (await db.transaction(commands)).map(({ reply, error }) =>
              error === undefined ? resultBody(reply ?? null, base64) : errorBody(error),
            );
      send(
        res,
        200,
        `[${items.map((item) => (typeof item === 'string' ? item : itemBody(item, base64))).join(',')}]`,
        db.nextSyncToken(),
      );
    } catch (error) {
      if (error instanceof BadRequestError) send(res, error.status, errorBody(error.message));
      else if (isReplyError(error)) send(res, 400, errorBody(error.message));
      else if (error instanceof RedisUnavailableError) send(res, 503, errorBody(error.message));
      else throw error;
    }
  }
}

type PipelineItem = { reply: RawReply } | { error: string };

const itemBody = (item: PipelineItem, base64: boolean): string =>
  'error' in item ? errorBody(item.error) : `{"result":${replyToJson(item.reply, base64)}}`;

/** Every command is written at once on the shared connection; Redis answers in order. */
async function runPipeline(db: Database, commands: Command[]): Promise<PipelineItem[]> {
  const settled = await Promise.allSettled(commands.map((command) => db.run(command)));
  return settled.map((outcome) => {
    if (outcome.status === 'fulfilled') return { reply: outcome.value };
    if (outcome.reason instanceof RedisUnavailableError) throw outcome.reason;
    return { error: (outcome.reason as Error).message };
  });
}

const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, OPTIONS',
  'access-control-allow-headers':
    'authorization, content-type, upstash-encoding, upstash-sync-token, upstash-telemetry-runtime, upstash-telemetry-platform, upstash-telemetry-sdk',
  'access-control-expose-headers': 'upstash-sync-token',
};

function send(res: ServerResponse, status: number, body: string, syncToken?: string): void {
  if (res.headersSent) return;
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'access-control-allow-origin': '*',
    'access-control-expose-headers': 'upstash-sync-token',
  };
  if (syncToken) headers['upstash-sync-token'] = syncToken;
  res.writeHead(status, headers).end(body);
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new BadRequestError('ERR malformed JSON request body');
  }
}

/**
 * Reads the whole body even past the limit, so an oversize request still gets its 413 JSON
 * answer instead of a reset socket (which clients retry and blame on the network).
 */
function readBody(req: IncomingMessage, limit: number): Promise<string | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? 'too-large' : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
