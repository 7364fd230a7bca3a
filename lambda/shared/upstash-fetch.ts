import type { Agent, IncomingMessage } from 'node:http';
import { nodeBuiltin } from './builtin';

/**
 * The `fetch` of the Upstash REST clients inside the Lambda bundles: HTTP/1.1 over `node:http`
 * and `node:https`, keep-alive, for the few shapes of request `@upstash/redis` makes.
 *
 * Why not the global `fetch`: it is undici, which Node loads on its first call. In a fresh
 * process that first call costs about 30 ms of CPU more than the same request over `node:https`
 * (more than an empty handler's whole cold start; `npm run bench` measures it), and every
 * function's first event makes one. Why not a fetch library: `node-fetch` 3 weighs 93 KB bundled
 * (streams polyfill included) and costs about 15 ms more than this module (measured the same
 * way); none is made for one JSON POST.
 *
 * How it is used: `@upstash/redis` calls the global `fetch`, so `UpstashFunction` bundles each
 * function with esbuild `inject` pointing here, which binds that identifier in the bundle, and
 * only there, to {@link fetch} below. Only requests to an origin {@link useNodeTransportFor}
 * registered (the runtime registers each Upstash URL it builds a client for) take this path;
 * any other request, and any request it does not model (a `Request` object, a stream or form
 * body, an event stream), goes to the global `fetch` unchanged. Outside a bundle (tests, the
 * local stack, a package user's own bundling) nothing changes: the clients use the global fetch.
 *
 * Failures look like undici's where the runtime reads them (`lambda/shared/failures.ts`): a
 * network error rejects with `TypeError('fetch failed')` whose `cause` carries the errno code
 * (`ECONNREFUSED`: nothing was sent); an aborted request rejects with the signal's reason (the
 * runtime's timeout is a `TimeoutError`).
 */

/** Base URLs (no trailing slash) whose requests go over `node:http(s)`. */
const bases = new Set<string>();

/**
 * Sends requests to `url` (an Upstash REST URL, and anything under it) over `node:http(s)` in
 * bundles that inject this module's {@link fetch}. A no-op anywhere else.
 */
export function useNodeTransportFor(url: string): void {
  bases.add(url.replace(/\/+$/, ''));
}

const handled = (url: string): boolean => {
  for (const base of bases) if (url === base || url.startsWith(`${base}/`)) return true;
  return false;
};

// Idle keep-alive sockets are closed after 4 s, as undici does, so a request after a pause (a
// frozen and thawed container) rarely lands on a socket the server already closed.
const IDLE_SOCKET_MS = 4_000;

/** `node:http` or `node:https`, with the keep-alive agent of this module. */
interface Transport {
  readonly request: typeof import('node:http').request;
  readonly agent: Agent;
}
const transports = new Map<'node:http' | 'node:https', Transport>();

/**
 * The module for a scheme, loaded on the first request that needs it, as a CommonJS built-in
 * ({@link nodeBuiltin}): imported as an ES module, `node:http` would load undici on Node 22 and
 * later, the very cost this module avoids.
 */
function transport(id: 'node:http' | 'node:https'): Transport {
  let found = transports.get(id);
  if (!found) {
    const module = nodeBuiltin<typeof import('node:https')>(id);
    found = {
      request: module.request,
      agent: new module.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
    };
    transports.set(id, found);
  }
  return found;
}

/** The part of the Fetch API's `Response` that `@upstash/redis` reads. */
export interface NodeResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly headers: { get(name: string): string | null };
  /** Always `null`: event streams are left to the global fetch. */
  readonly body: null;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

type HeadersRecord = Record<string, string>;

/** The request options this module models; anything else goes to the global fetch. */
interface ModelledInit {
  readonly method?: string;
  readonly headers?: HeadersRecord;
  readonly body?: string;
  readonly signal?: AbortSignal | null;
}

const isPlainHeaders = (headers: unknown): headers is HeadersRecord | undefined =>
  headers === undefined ||
  (typeof headers === 'object' && headers !== null && Object.getPrototypeOf(headers) === Object.prototype);

function modelled(input: unknown, init: unknown): init is ModelledInit | undefined {
  if (typeof input !== 'string' || !handled(input)) return false;
  if (init === undefined) return true;
  const { body, headers } = init as { body?: unknown; headers?: unknown };
  if (body !== undefined && body !== null && typeof body !== 'string') return false;
  if (!isPlainHeaders(headers)) return false;
  return !Object.entries(headers ?? {}).some(
    ([name, value]) => name.toLowerCase() === 'accept' && String(value).includes('text/event-stream'),
  );
}

/**
 * `fetch`, as the bundles see it: requests to a registered Upstash URL over `node:http(s)`, every
 * other one through the global `fetch`.
 */
export function fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  if (modelled(input, init)) return send(input as string, init ?? {}) as unknown as Promise<Response>;
  return globalFetch(input, init);
}

// The global one, looked up at call time (a test or an instrumentation may replace it), never
// this module's own (a test that installs it globally).
const platformFetch = globalThis.fetch;
const globalFetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> =>
  (globalThis.fetch === fetch ? platformFetch : globalThis.fetch)(input, init);

function send(url: string, init: ModelledInit): Promise<NodeResponse> {
  return new Promise((resolve, reject) => {
    const signal = init.signal ?? undefined;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const { request: send, agent } = transport(url.startsWith('https:') ? 'node:https' : 'node:http');
    const options = { method: init.method ?? 'GET', headers: init.headers ?? {}, agent };
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      // An abort makes the socket fail too: the caller sees the reason, as with undici.
      reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: error }));
    };
    const onAbort = () => {
      request.destroy();
      fail(signal?.reason);
    };
    const request = send(url, options, (response: IncomingMessage) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('error', fail);
      // The connection closed before the whole body arrived (after 'end' this is a no-op).
      response.on('close', () => {
        if (!response.complete) fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      });
      response.on('end', () => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        resolve(nodeResponse(response, text));
      });
    });
    request.on('error', fail);
    signal?.addEventListener('abort', onAbort, { once: true });
    request.end(init.body ?? undefined);
  });
}

function nodeResponse(response: IncomingMessage, text: string): NodeResponse {
  const status = response.statusCode ?? 0;
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: response.statusMessage ?? '',
    headers: {
      get(name) {
        const value = response.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
    },
    body: null,
    text: async () => text,
    json: async () => JSON.parse(text),
  };
}
