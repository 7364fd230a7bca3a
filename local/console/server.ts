import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { parseApiKeySet } from '../../lambda/shared/api-keys';
import { ValidationError } from '../../lambda/shared/errors';
import { API_KEYS_SECRET, type LocalApp } from '../app';
import { listen, serverUrl } from '../listen';
import { loadAssets } from './assets';
import { BrowseError } from './data';
import type { ConsoleState } from './state';

/**
 * The console's HTTP server: the page, its JSON API under `/api/` and its event stream at
 * `/events` (Server-Sent Events: each request as it completes, the databases' figures every
 * second). Bound to 127.0.0.1. It answers only requests whose Host is its own address (no DNS
 * rebinding) and changes nothing unless the request is JSON from its own origin (no cross-site
 * form can post to it); the page may load nothing but its own files (Content-Security-Policy).
 */

/** Options of the console's server. */
export interface ConsoleServerOptions {
  /** 0 picks a free port. @default 0 */
  readonly port?: number;
}

/** What the server tells its owner. */
interface ServerHooks {
  /** A page opened its event stream. */
  readonly onStream?: () => void;
}

/** A thrown answer: status and message. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const TYPES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
};

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new HttpError(413, 'the body is too large');
    chunks.push(chunk as Buffer);
  }
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error();
    return body as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'the body must be a JSON object');
  }
}

/** A required text parameter. */
function text(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') throw new HttpError(400, `${name} is required`);
  return value;
}

/** A request's route and parameters. */
interface Call {
  readonly method: string;
  readonly parts: readonly string[];
  readonly query: URLSearchParams;
  readonly body: () => Promise<Record<string, unknown>>;
}

/** The console's server; {@link startConsoleServer} starts it. */
export class ConsoleServer {
  readonly #server: Server;
  readonly #streams = new Set<ServerResponse>();

  readonly #onStream: (() => void) | undefined;

  private constructor(server: Server, onStream: (() => void) | undefined) {
    this.#server = server;
    this.#onStream = onStream;
  }

  get url(): string {
    return serverUrl(this.#server);
  }

  /** Event streams open now. */
  get streams(): number {
    return this.#streams.size;
  }

  /** Sends an event to every open stream. */
  broadcast(event: string, data: unknown): void {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of this.#streams) res.write(frame);
  }

  async close(): Promise<void> {
    for (const res of this.#streams) res.end();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  static async start(
    app: LocalApp,
    state: ConsoleState,
    options: ConsoleServerOptions & ServerHooks,
  ): Promise<ConsoleServer> {
    const assets = await loadAssets();
    const server = createServer({ keepAlive: true });
    const console_ = new ConsoleServer(server, options.onStream);
    server.on('request', (req, res) => {
      console_.#handle(app, state, assets, req, res).catch((error: unknown) => {
        const status =
          error instanceof HttpError
            ? error.status
            : error instanceof BrowseError || error instanceof ValidationError
              ? 400
              : 500;
        if (status === 500)
          process.stderr.write(
            `[console] ${req.method} ${(req.url ?? '').split('?')[0]}: ${(error as Error).message}\n`,
          );
        if (!res.headersSent) sendJson(res, status, { error: (error as Error).message });
        else res.end();
      });
    });
    await listen(server, { port: options.port ?? 0 });
    return console_;
  }

  async #handle(
    app: LocalApp,
    state: ConsoleState,
    assets: Awaited<ReturnType<typeof loadAssets>>,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const port = (this.#server.address() as { port: number }).port;
    const own = [`127.0.0.1:${port}`, `localhost:${port}`];
    if (!own.includes(req.headers.host ?? ''))
      throw new HttpError(421, 'the console answers on 127.0.0.1 only');
    const method = req.method ?? 'GET';
    if (method !== 'GET') {
      const origin = req.headers.origin;
      if (origin !== undefined && !own.some((host) => origin === `http://${host}`)) {
        throw new HttpError(403, 'changes come from the console page only');
      }
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
        throw new HttpError(415, 'changes are JSON requests');
      }
    }
    const url = new URL(req.url ?? '/', 'http://console');
    const file = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
    if (method === 'GET' && file in TYPES) {
      const body = assets[file as keyof typeof assets];
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': TYPES[file] as string });
      res.end(body);
      return;
    }
    if (method === 'GET' && url.pathname === '/events') {
      this.#stream(state, res);
      return;
    }
    if (!url.pathname.startsWith('/api/')) throw new HttpError(404, 'not found');
    const call: Call = {
      method,
      parts: url.pathname.slice(5).split('/').map(decodeURIComponent),
      query: url.searchParams,
      body: () => readJson(req),
    };
    sendJson(res, 200, await route(app, state, call));
  }

  #stream(state: ConsoleState, res: ServerResponse): void {
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream',
      connection: 'keep-alive',
    });
    res.write(
      `event: hello\ndata: ${JSON.stringify({ records: state.feed.records().slice(-200), databases: state.metrics.snapshot() })}\n\n`,
    );
    this.#streams.add(res);
    res.on('close', () => this.#streams.delete(res));
    this.#onStream?.();
  }
}

/** The tenants that hold API keys, the development key's first. */
function tenants(app: LocalApp): string[] {
  const set = parseApiKeySet(app.secrets.value(API_KEYS_SECRET));
  return [...new Set([app.tenant, ...set.keys.map((k) => k.tenant)])];
}

/** The JSON API. */
async function route(app: LocalApp, state: ConsoleState, call: Call): Promise<unknown> {
  const { method, parts, query } = call;
  const [area, a, b] = parts;
  const key = `${method} ${area}${a === undefined ? '' : '/:a'}${b === undefined ? '' : `/${b}`}`;
  const { operations, data } = state;
  switch (key) {
    case 'GET stack':
      return {
        api: app.url,
        tenant: app.tenant,
        tenants: tenants(app),
        keyPrefix: app.keyPrefix,
        databases: Object.keys(app.tokens),
        spaces: state.spaces,
        limiters: operations.limiterNames(),
        watch: app.watcher !== undefined,
      };
    case 'GET requests/:a/lines': {
      const lines = state.feed.lines(text(a, 'request id'));
      if (!lines) throw new HttpError(404, 'that request is no longer kept');
      return { lines };
    }
    case 'GET keys':
      return data.list(
        text(query.get('tenant'), 'tenant'),
        text(query.get('space'), 'space'),
        query.get('prefix') ?? '',
        query.get('cursor') ?? '0',
      );
    case 'GET value':
      return data.value(
        text(query.get('tenant'), 'tenant'),
        text(query.get('space'), 'space'),
        text(query.get('key'), 'key'),
      );
    case 'GET limits/:a':
      return operations.peekLimit(
        text(query.get('tenant'), 'tenant'),
        text(a, 'limit'),
        text(query.get('identifier'), 'identifier'),
      );
    case 'POST limits/:a/reset': {
      const body = await call.body();
      await operations.resetLimit(
        text(body.tenant, 'tenant'),
        text(a, 'limit'),
        text(body.identifier, 'identifier'),
      );
      return { reset: true };
    }
    case 'GET queue':
      return { ...(await operations.queue()), schedules: operations.schedules() };
    case 'GET dead-letters':
      return { jobs: await operations.deadLetters(text(query.get('tenant'), 'tenant')) };
    case 'POST dead-letters/:a/redrive':
    case 'POST dead-letters/:a/drop': {
      const body = await call.body();
      const tenant = text(body.tenant, 'tenant');
      const result =
        b === 'redrive'
          ? await operations.redrive(tenant, text(a, 'job id'))
          : await operations.drop(tenant, text(a, 'job id'));
      if (!result.ok) {
        throw new HttpError(
          409,
          result.reason === 'state'
            ? `the job is ${result.state}, not a dead letter`
            : 'no such dead letter of that tenant',
        );
      }
      return result.job;
    }
    case 'POST schedules/:a/run':
      return operations.runNow(text(a, 'job'));
    case 'GET sessions':
      return {
        sessions: await operations.sessions(
          text(query.get('tenant'), 'tenant'),
          text(query.get('user'), 'user'),
        ),
      };
    case 'POST sessions/revoke': {
      const body = await call.body();
      const ref = body.ref === undefined ? undefined : text(body.ref, 'ref');
      return { revoked: await operations.revoke(text(body.tenant, 'tenant'), text(body.user, 'user'), ref) };
    }
    default:
      throw new HttpError(404, `no ${method} /api/${parts.join('/')}`);
  }
}
