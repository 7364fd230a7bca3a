import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { listen, serverUrl } from '../listen';
import { BadRequestError, MAX_REQUEST_BYTES, parseCommand, parseCommandList, readBody } from './body';
import { emptyCost, type RequestCost } from './cost';
import { Database, type EndpointStats, emptyStats, TransactionDiscarded } from './database';
import { PubSubHub, type Stream } from './pubsub';
import { errorBody, itemBody, resultBody } from './reply';
import { parseRedisUrl, RedisUnavailableError, type Reply, RespError, type RespTarget } from './resp';

export type { RequestCost } from './cost';
export type { EndpointStats } from './database';

/**
 * The header a client of the local stack sends to say which request of its own a call belongs to
 * (`local/request-tags.ts` adds it): the endpoint reports each request's cost under that tag.
 */
export const TAG_HEADER = 'x-local-request-tag';

/** One HTTP request the endpoint served, with what it cost: what {@link UpstashEndpoint.observe} gets. */
export interface ServedRequest extends RequestCost {
  /** The token's database, in the order the endpoint was given them (0, 1, ...). */
  readonly database: number;
  /** The client's {@link TAG_HEADER}, if it sent one. */
  readonly tag?: string;
  /** The HTTP status answered. */
  readonly status: number;
  /** From the request's arrival to its answer, in ms. */
  readonly ms: number;
}

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
  /**
   * Where 5xx answers are reported (one line each, never a token or password; a run of 503s
   * while Redis is away is reported once a second at most).
   * @default console.error
   */
  readonly log?: (line: string) => void;
}

const JSON_HEADERS = {
  'content-type': 'application/json',
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'upstash-sync-token',
};

const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'access-control-allow-origin': '*',
};

const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers':
    'authorization, content-type, upstash-encoding, upstash-sync-token, upstash-telemetry-runtime, upstash-telemetry-platform, upstash-telemetry-sdk',
  'access-control-expose-headers': 'upstash-sync-token',
};

/** Items of a long answer serialized between two yields to the event loop. */
const SERIALIZE_SLICE = 5000;

/**
 * A local stand-in for the Upstash Redis REST API over a real Redis, complete enough that the
 * unchanged `@upstash/redis` and `@upstash/ratelimit` clients run against it: `POST /`,
 * `/pipeline` and `/multi-exec`, SSE pub/sub on `/subscribe/*` and `/psubscribe/*`, Bearer
 * tokens each mapped to one logical database (what reaches another database or the server is
 * refused, in scripts too), `Upstash-Encoding: base64`, Redis errors as 400 JSON, Upstash's
 * script flags and `SCAN ... WITHTYPE`, and an `upstash-sync-token` header. docs/local.md lists
 * what it emulates, what it refuses and every known difference from Upstash.
 *
 * @example
 * const endpoint = await UpstashEndpoint.start({ databases: [{ token: 't', redisUrl: 'redis://127.0.0.1:6379' }] });
 * process.env.UPSTASH_REDIS_REST_URL = endpoint.url;
 */
export class UpstashEndpoint {
  readonly #server: Server;
  readonly #databases: Database[];
  readonly #hubs: PubSubHub[];
  readonly #maxBody: number;
  readonly #log: (line: string) => void;
  readonly #lastOutageLog = new Map<Database, number>();
  readonly #observers = new Set<(served: ServedRequest) => void>();

  private constructor(
    server: Server,
    databases: Database[],
    hubs: PubSubHub[],
    options: UpstashEndpointOptions,
  ) {
    this.#server = server;
    this.#databases = databases;
    this.#hubs = hubs;
    this.#maxBody = options.maxBodyBytes ?? MAX_REQUEST_BYTES;
    this.#log = options.log ?? ((line) => console.error(line));
  }

  /** Connects to every Redis, then listens. Rejects when a Redis cannot be reached. */
  static async start(options: UpstashEndpointOptions): Promise<UpstashEndpoint> {
    if (options.databases.length === 0) throw new Error('UpstashEndpoint needs at least one database');
    // One pub/sub hub (one subscriber connection at most) per Redis server.
    const hubs = new Map<string, PubSubHub>();
    const databases = options.databases.map((db) => {
      const target = parseRedisUrl(db.redisUrl);
      const key = serverKey(target);
      let hub = hubs.get(key);
      if (!hub) {
        hub = new PubSubHub(target);
        hubs.set(key, hub);
      }
      return new Database(db.token, target, hub);
    });
    try {
      await Promise.all(databases.map((db) => db.connection.connect()));
    } catch (error) {
      for (const db of databases) db.connection.close();
      throw new Error(`cannot reach Redis for the Upstash endpoint: ${(error as Error).message}`);
    }
    const server = createServer({ keepAlive: true });
    const endpoint = new UpstashEndpoint(server, databases, [...hubs.values()], options);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      endpoint.#handle(req, res).catch((error: unknown) => {
        endpoint.#log(
          `[upstash endpoint] 500 ${req.method} ${safePath(req.url)}: ${(error as Error).message}`,
        );
        send(res, 500, errorBody(`ERR internal error: ${(error as Error).message}`));
      });
    });
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    await listen(server, options);
    return endpoint;
  }

  /** Base URL for `UPSTASH_REDIS_REST_URL`. */
  get url(): string {
    return serverUrl(this.#server);
  }

  /** Round trips and commands served for the database of `token` (the first one by default). */
  stats(token?: string): EndpointStats {
    const db = token ? this.#databases.find((d) => d.token === token) : this.#databases[0];
    if (!db) throw new Error('no database has that token');
    return structuredClone(db.stats);
  }

  /**
   * Calls `observer` after each request a database served (a command, a pipeline or a
   * transaction; not a subscription) with its cost. Returns the function that stops it.
   */
  observe(observer: (served: ServedRequest) => void): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /** Zeroes every database's counters. */
  resetStats(): void {
    for (const db of this.#databases) db.stats = emptyStats();
  }

  /** Replaces a database's token, as rotating an Upstash token does: the old one stops working. */
  rotateToken(oldToken: string, newToken: string): void {
    const db = this.#databases.find((d) => d.token === oldToken);
    if (!db) throw new Error('no database has that token');
    db.token = newToken;
  }

  /** SSE streams open now, across databases. */
  get streams(): number {
    return this.#hubs.reduce((n, hub) => n + hub.streams, 0);
  }

  /** Ends the SSE streams, stops listening, drops keep-alive connections and leaves Redis. */
  async close(): Promise<void> {
    await Promise.all(this.#hubs.map((hub) => hub.close()));
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    for (const db of this.#databases) db.connection.close();
  }

  #authenticate(req: IncomingMessage, query: string): Database | undefined {
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ')
      ? header.slice(7).trim()
      : query
        ? new URLSearchParams(query).get('_token')
        : null;
    if (!token) return undefined;
    const given = Buffer.from(token);
    return this.#databases.find((db) => {
      const expected = Buffer.from(db.token);
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = parseTarget(req.url);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS_HEADERS).end();
      return;
    }
    const body = await readBody(req, this.#maxBody);
    if (!target) {
      send(res, 400, errorBody('ERR malformed request target'));
      return;
    }
    const db = this.#authenticate(req, target.query);
    if (!db) {
      send(res, 401, errorBody('WRONGPASS invalid or missing auth token'));
      return;
    }
    let route: Route | undefined;
    try {
      route = routeOf(target.path);
    } catch (error) {
      send(res, 400, errorBody((error as Error).message));
      return;
    }
    if (!route) {
      send(res, 404, errorBody(`ERR unknown endpoint: ${req.method} ${target.path}`));
      return;
    }
    const streaming = route.kind === 'subscribe' || route.kind === 'psubscribe';
    if (req.method !== 'POST' && !(streaming && req.method === 'GET')) {
      send(res, 405, errorBody(`ERR method not allowed: ${req.method} ${target.path} (use POST)`));
      return;
    }
    if (body === 'too-large') {
      send(res, 413, errorBody(`ERR max request size exceeded (${this.#maxBody} bytes)`));
      return;
    }
    const base64 = req.headers['upstash-encoding'] === 'base64';
    if (route.kind === 'subscribe' || route.kind === 'psubscribe') {
      try {
        await this.#subscribe(db, route.kind === 'psubscribe', route.name, res);
      } catch (error) {
        this.#fail(res, db, error);
      }
      return;
    }
    const started = performance.now();
    const cost = emptyCost();
    try {
      if (route.kind === 'command') {
        const command = parseCommand(body);
        await db.count([command], cost);
        const [reply] = await db.pipeline([command], cost);
        if (reply instanceof RespError) send(res, 400, errorBody(reply.message));
        else send(res, 200, resultBody(reply ?? null, base64), db.nextSyncToken());
      } else {
        const commands = await parseCommandList(body);
        await db.count(commands, cost);
        const replies =
          route.kind === 'pipeline'
            ? await db.pipeline(commands, cost)
            : await db.transaction(commands, cost);
        await sendParts(res, await serialize(replies, base64), db.nextSyncToken());
      }
    } catch (error) {
      this.#fail(res, db, error);
    }
    if (this.#observers.size > 0 && cost.commands > 0) {
      const tag = req.headers[TAG_HEADER];
      const served: ServedRequest = {
        ...cost,
        database: this.#databases.indexOf(db),
        ...(typeof tag === 'string' ? { tag } : {}),
        status: res.statusCode,
        ms: performance.now() - started,
      };
      for (const observer of this.#observers) observer(served);
    }
  }

  /** Answers a failed request: 4xx for the client's mistakes, 503 while Redis is away. */
  #fail(res: ServerResponse, db: Database, error: unknown): void {
    if (error instanceof BadRequestError) send(res, error.status, errorBody(error.message));
    else if (error instanceof TransactionDiscarded) send(res, 400, errorBody(error.message));
    else if (error instanceof RedisUnavailableError) {
      this.#logOutage(db, error.message);
      send(res, 503, errorBody(error.message));
    } else throw error;
  }

  async #subscribe(db: Database, pattern: boolean, name: string, res: ServerResponse): Promise<void> {
    await db.count([[pattern ? 'PSUBSCRIBE' : 'SUBSCRIBE']]);
    const stream: Stream = {
      db: db.index,
      pattern,
      name,
      redisName: db.scope.channels.redisName(name),
      res,
      live: false,
    };
    let gone = false;
    res.on('close', () => {
      gone = true;
      db.hub.remove(stream);
    });
    try {
      await db.hub.add(stream);
    } catch (error) {
      throw new RedisUnavailableError(`ERR Redis is unavailable: ${(error as Error).message}`);
    }
    if (gone) {
      db.hub.remove(stream);
      return;
    }
    res.writeHead(200, SSE_HEADERS);
    res.write(`data: ${pattern ? 'psubscribe' : 'subscribe'},${name},1\n\n`);
    stream.live = true;
  }

  #logOutage(db: Database, message: string): void {
    const now = Date.now();
    if (now - (this.#lastOutageLog.get(db) ?? 0) < 1000) return;
    this.#lastOutageLog.set(db, now);
    this.#log(`[upstash endpoint] 503 for database ${db.index}: ${message}`);
  }
}

type Route =
  | { kind: 'command' | 'pipeline' | 'transaction' }
  | { kind: 'subscribe' | 'psubscribe'; name: string };

function routeOf(path: string): Route | undefined {
  for (const kind of ['subscribe', 'psubscribe'] as const) {
    const prefix = `/${kind}/`;
    if (path.startsWith(prefix) && path.length > prefix.length) {
      let name: string;
      try {
        name = decodeURIComponent(path.slice(prefix.length));
      } catch {
        throw new BadRequestError(`ERR malformed ${kind} path: bad percent-encoding`);
      }
      return { kind, name };
    }
  }
  const trimmed = path.replace(/\/+$/, '') || '/';
  if (trimmed === '/') return { kind: 'command' };
  if (trimmed === '/pipeline') return { kind: 'pipeline' };
  if (trimmed === '/multi-exec') return { kind: 'transaction' };
  return undefined;
}

/**
 * The path and query of a request target, or undefined for one that is not a plain path: not
 * starting with `/`, or starting with `//` (which URL parsing reads as a host, so `//[` is not a
 * path at all), or holding a space or a control character.
 */
export function parseTarget(raw: string | undefined): { path: string; query: string } | undefined {
  if (raw?.[0] !== '/' || raw[1] === '/') return undefined;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return undefined;
  }
  const q = raw.indexOf('?');
  return q === -1 ? { path: raw, query: '' } : { path: raw.slice(0, q), query: raw.slice(q + 1) };
}

/** The path alone, for logs: a query may carry `_token`. */
const safePath = (raw: string | undefined): string => (raw ?? '').split('?')[0] ?? '';

const serverKey = (t: RespTarget): string =>
  JSON.stringify([t.host, t.port, t.tls, t.username ?? '', t.password ?? '']);

/**
 * A pipeline or transaction answer as JSON, in flat pieces of {@link SERIALIZE_SLICE} items with
 * the event loop let go between pieces: one string of 500,000 items would be flattened (and the
 * process held) at once.
 */
async function serialize(replies: readonly Reply[], base64: boolean): Promise<string[]> {
  const parts: string[] = [];
  for (let start = 0; start < replies.length; start += SERIALIZE_SLICE) {
    const end = Math.min(start + SERIALIZE_SLICE, replies.length);
    const items = new Array<string>(end - start);
    for (let i = start; i < end; i++) items[i - start] = itemBody(replies[i] ?? null, base64);
    parts.push(items.join(','));
    if (end < replies.length) await yieldToLoop();
  }
  return parts;
}

async function sendParts(res: ServerResponse, parts: readonly string[], syncToken: string): Promise<void> {
  if (parts.length === 1) {
    send(res, 200, `[${parts[0]}]`, syncToken);
    return;
  }
  let length = 2 + parts.length - 1;
  for (const part of parts) length += Buffer.byteLength(part);
  res.writeHead(200, { ...JSON_HEADERS, 'content-length': length, 'upstash-sync-token': syncToken });
  res.write('[');
  for (let i = 0; i < parts.length; i++) {
    res.write(i === 0 ? (parts[i] as string) : `,${parts[i]}`);
    // Several MB go out a few hundred KB at a time, letting other requests in between.
    if (i % 8 === 7) await yieldToLoop();
  }
  res.end(']');
}

function send(res: ServerResponse, status: number, body: string, syncToken?: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const headers: Record<string, string | number> = {
    ...JSON_HEADERS,
    'content-length': Buffer.byteLength(body),
  };
  if (syncToken) headers['upstash-sync-token'] = syncToken;
  res.writeHead(status, headers).end(body);
}
