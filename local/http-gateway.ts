import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyResultV2,
  APIGatewayRequestAuthorizerEventV2,
} from 'aws-lambda';
import { DEFAULT_ROUTE_KEY, matchRoute, type RouteMatch, type RouteShape } from '../lambda/shared/routes';
import { invoke, type LocalHandler } from './lambda-runtime';
import { listen, serverUrl } from './listen';
import { withTag } from './request-tags';

/**
 * A local API Gateway HTTP API (payload format 2.0) on node:http: the routes of the route table,
 * a Lambda authorizer with API Gateway's result cache, a `$default` route, the same limits, and
 * responses mapped back as API Gateway maps them. See docs/local.md for what differs from AWS.
 */

/** A simple-response Lambda authorizer's answer. */
export interface AuthorizerDecision {
  readonly isAuthorized: boolean;
  readonly context?: Record<string, unknown>;
}

/** The Lambda authorizer of the authorized routes. */
export interface GatewayAuthorizer {
  readonly handler: LocalHandler<APIGatewayRequestAuthorizerEventV2, AuthorizerDecision>;
  /** Header whose value is the identity source (API Gateway: `$request.header.<name>`). */
  readonly identityHeader: string;
  /**
   * How long a decision is cached per identity value, in ms; 0 disables the cache.
   * @default 300_000 (API Gateway's default)
   */
  readonly cacheTtlMs?: number;
  /** @default 5_000 */
  readonly timeoutMs?: number;
}

/** Options of {@link HttpGateway.start}. */
export interface HttpGatewayOptions {
  readonly routes: readonly RouteShape[];
  /** The integration of every route and of `$default`. */
  readonly handler: LocalHandler<APIGatewayProxyEventV2, APIGatewayProxyResultV2>;
  /** @default 'api' */
  readonly functionName?: string;
  /**
   * The function's timeout, in ms: past it Lambda reports a function error ("Task timed out"),
   * which API Gateway answers with 500. @default 10_000
   */
  readonly timeoutMs?: number;
  /**
   * How long API Gateway waits for the integration, in ms (HTTP API: 30 s at most); past it the
   * answer is 503 `{"message":"Service Unavailable"}`, whatever the function's timeout.
   * @default 30_000
   */
  readonly integrationTimeoutMs?: number;
  /** @default - routes with `auth: true` are refused with 401 */
  readonly authorizer?: GatewayAuthorizer;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. @default 0 */
  readonly port?: number;
  /** Called after each integration call with the exact event and result, for recording. */
  readonly onInvoke?: (event: APIGatewayProxyEventV2, result: APIGatewayProxyResultV2 | Error) => void;
  /**
   * Called once each request has been answered, whoever answered it (the function, or the gateway
   * itself: 401, 403, 413, ...). Every Upstash call the request caused carried its `id` as its tag.
   */
  readonly onRequest?: (request: GatewayRequest) => void;
}

/** One request the gateway answered. */
export interface GatewayRequest {
  /** The request id: `apigw-requestid` of the answer, `requestContext.requestId` of the event. */
  readonly id: string;
  readonly method: string;
  /** The path, without the query string (which may carry secrets). */
  readonly path: string;
  /** The route key that matched, `$default` when none did. */
  readonly routeKey: string;
  readonly status: number;
  /** When it arrived (epoch ms). */
  readonly startedAt: number;
  /** From its arrival to the end of its answer, in ms. */
  readonly ms: number;
}

/** API Gateway HTTP API quotas the gateway enforces. */
export const LIMITS = {
  /** Request payload. */
  maxBodyBytes: 10 * 1024 * 1024,
  /** Request line plus headers. */
  maxHeaderBytes: 10_240,
  /** Integration timeout: the most API Gateway waits for the function. */
  integrationTimeoutMs: 30_000,
} as const;

/**
 * Which request bodies API Gateway (HTTP API, payload 2.0) hands over as text: AWS documents only
 * that binary bodies are base64-encoded. Observed on AWS (ministackorg/ministack#766, checked
 * against a real HTTP API; denoland/deno_registry2#33 for forms): text/*, application/json,
 * application/xml and application/javascript are passed as UTF-8 strings; everything else,
 * including application/x-www-form-urlencoded and a request with no Content-Type, is base64.
 */
const TEXT_TYPES = /^\s*(text\/[^;\s]+|application\/(json|xml|javascript))\s*(;|$)/i;

/** API Gateway stopped waiting for the integration. */
class IntegrationTimeoutError extends Error {
  constructor() {
    super('integration timeout');
    this.name = 'IntegrationTimeoutError';
  }
}

/** `{"message": ...}`: the body of API Gateway's own errors. */
function gatewayError(res: ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ message });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Adds `value` under `name`, joined by a comma to an earlier one, as an own property whatever the
 * name: a header or parameter called `__proto__` or `constructor` is data, as in the JSON event
 * API Gateway sends (never the prototype, never an inherited function).
 */
export function addJoined(target: Record<string, string>, name: string, value: string): void {
  const prior = Object.hasOwn(target, name) ? target[name] : undefined;
  Object.defineProperty(target, name, {
    value: prior === undefined ? value : `${prior},${value}`,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** Lower-cased headers with duplicates joined by commas, as in payload 2.0. */
function eventHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2)
    addJoined(headers, (raw[i] as string).toLowerCase(), raw[i + 1] as string);
  return headers;
}

/** The cookies of every Cookie header, in order. */
function cookieList(req: IncomingMessage): string[] {
  const cookies: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== 'cookie') continue;
    for (const cookie of (raw[i + 1] as string).split(';'))
      if (cookie.trim() !== '') cookies.push(cookie.trim());
  }
  return cookies;
}

function queryParameters(rawQueryString: string): Record<string, string> | undefined {
  if (rawQueryString === '') return undefined;
  const params: Record<string, string> = {};
  for (const part of rawQueryString.split('&')) {
    if (part === '') continue;
    const [rawName = '', rawValue = ''] = part.split(/=(.*)/s, 2);
    const name = safeDecode(rawName.replace(/\+/g, ' '));
    const value = safeDecode(rawValue.replace(/\+/g, ' '));
    addJoined(params, name, value);
  }
  return Object.keys(params).length > 0 ? params : undefined;
}

/** Decodes a URI component; a malformed escape stays as it was. */
function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Whether every `%` escape of a path decodes (API Gateway refuses the request otherwise). */
function wellEncoded(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

/** A running gateway. */
export class HttpGateway {
  readonly #server: Server;
  readonly #options: HttpGatewayOptions;
  readonly #decisions = new Map<string, { decision: AuthorizerDecision; until: number }>();
  #authorizerCalls = 0;
  #lastAuthorizerEvent: APIGatewayRequestAuthorizerEventV2 | undefined;
  #invocations = 0;

  private constructor(server: Server, options: HttpGatewayOptions) {
    this.#server = server;
    this.#options = options;
  }

  /** Starts listening. */
  static async start(options: HttpGatewayOptions): Promise<HttpGateway> {
    // Node refuses large headers itself with a bare 431; let them in so the answer is JSON.
    const server = createServer({ maxHeaderSize: 64 * 1024, keepAlive: true });
    const gateway = new HttpGateway(server, options);
    // Requests Node cannot parse get API Gateway's JSON 400, not Node's bare one.
    server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return socket.destroy();
      const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      const body = JSON.stringify({
        message: status === 431 ? 'Request Header Fields Too Large' : 'Bad Request',
      });
      socket.end(
        `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      if (process.env.DEBUG_GATEWAY) console.error(error);
    });
    server.on('request', (req, res) => {
      const requestId = randomUUID();
      const started = Date.now();
      const seen = { routeKey: DEFAULT_ROUTE_KEY };
      const report = options.onRequest;
      if (report) {
        res.once('finish', () =>
          report({
            id: requestId,
            method: (req.method ?? 'GET').toUpperCase(),
            path: (req.url ?? '/').split('?')[0] ?? '/',
            routeKey: seen.routeKey,
            status: res.statusCode,
            startedAt: started,
            ms: Date.now() - started,
          }),
        );
      }
      // Every Upstash call of the request (authorizer and function) is tagged with its id.
      withTag({ kind: 'api', id: requestId }, () =>
        gateway.#handle(req, res, requestId, started, seen),
      ).catch(() => {
        if (!res.headersSent) gatewayError(res, 500, 'Internal Server Error');
        else res.destroy();
      });
    });
    await listen(server, options);
    return gateway;
  }

  /** Base URL, without a trailing slash. */
  get url(): string {
    return serverUrl(this.#server);
  }

  /** How many times the authorizer ran (cache misses). */
  get authorizerCalls(): number {
    return this.#authorizerCalls;
  }

  /** The event of the authorizer's latest run (not of cache hits), for tests. */
  get lastAuthorizerEvent(): APIGatewayRequestAuthorizerEventV2 | undefined {
    return this.#lastAuthorizerEvent;
  }

  /** How many times the integration ran. */
  get invocations(): number {
    return this.#invocations;
  }

  /** Forgets every cached authorizer decision. */
  clearAuthorizerCache(): void {
    this.#decisions.clear();
  }

  /** Stops accepting requests and closes idle keep-alive connections. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #match(
    method: string,
    path: string,
  ): { matched?: RouteMatch<RouteShape>; params?: Record<string, string> } {
    const match = matchRoute(method, path, this.#options.routes);
    if (!match) return {};
    if (!match.pathParameters) return { matched: match };
    return {
      matched: match,
      params: Object.fromEntries(
        Object.entries(match.pathParameters).map(([name, value]) => [name, safeDecode(value)]),
      ),
    };
  }

  async #readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      // Keep reading (and dropping) so the client sees the answer instead of a reset connection.
      if (size > LIMITS.maxBodyBytes) continue;
      chunks.push(chunk as Buffer);
    }
    return size > LIMITS.maxBodyBytes ? 'too-large' : Buffer.concat(chunks);
  }

  async #handle(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    started: number,
    seen: { routeKey: string },
  ): Promise<void> {
    const headerBytes =
      `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`.length +
      req.rawHeaders.reduce((sum, part) => sum + part.length + 2, 0);
    const body = await this.#readBody(req);
    if (headerBytes > LIMITS.maxHeaderBytes) return gatewayError(res, 431, 'Request Header Fields Too Large');
    if (body === 'too-large') return gatewayError(res, 413, 'Request Entity Too Large');

    const method = (req.method ?? 'GET').toUpperCase();
    const target = req.url ?? '/';
    const queryAt = target.indexOf('?');
    const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
    const rawQueryString = queryAt === -1 ? '' : target.slice(queryAt + 1);
    if (!wellEncoded(rawPath)) return gatewayError(res, 400, 'Bad Request');
    const headers = eventHeaders(req);
    const sourceIp = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1';
    // API Gateway adds these to every request it forwards (the client's own x-forwarded-for
    // first, then the address it saw); the port and scheme are the local listener's.
    headers['x-forwarded-for'] = headers['x-forwarded-for']
      ? `${headers['x-forwarded-for']}, ${sourceIp}`
      : sourceIp;
    headers['x-forwarded-port'] = String(req.socket.localPort ?? '');
    headers['x-forwarded-proto'] = 'http';
    const { matched, params } = this.#match(method, rawPath);
    const key = matched?.key ?? DEFAULT_ROUTE_KEY;
    seen.routeKey = key;
    // Payload 2.0 moves every Cookie header into `cookies` (one entry per cookie) and leaves it
    // out of `headers`.
    const cookies = cookieList(req);
    delete headers.cookie;
    const queryStringParameters = queryParameters(rawQueryString);
    const host = headers.host ?? 'localhost';
    const requestContext = {
      accountId: '000000000000',
      apiId: 'local',
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method,
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: key,
      stage: '$default',
      time: new Date(started)
        .toUTCString()
        .replace(/^\w+, (\d+) (\w+) (\d+) ([\d:]+) GMT$/, '$1/$2/$3:$4 +0000'),
      timeEpoch: started,
    };

    let authorizer: Record<string, unknown> | undefined;
    if (matched?.route.auth) {
      const auth = this.#options.authorizer;
      const identity = auth ? headers[auth.identityHeader.toLowerCase()] : undefined;
      if (!auth || identity === undefined || identity === '') return gatewayError(res, 401, 'Unauthorized');
      let decision: AuthorizerDecision;
      try {
        decision = await this.#authorize(auth, identity, {
          version: '2.0',
          type: 'REQUEST',
          routeArn: `arn:aws:execute-api:local:000000000000:local/$default/${method}${rawPath}`,
          identitySource: [identity],
          routeKey: key,
          rawPath,
          rawQueryString,
          headers,
          requestContext,
          ...(cookies?.length ? { cookies } : {}),
          ...(queryStringParameters ? { queryStringParameters } : {}),
          ...(params ? { pathParameters: params } : {}),
        } as unknown as APIGatewayRequestAuthorizerEventV2);
      } catch {
        return gatewayError(res, 500, 'Internal Server Error');
      }
      if (!decision.isAuthorized) return gatewayError(res, 403, 'Forbidden');
      authorizer = { lambda: decision.context ?? {} };
    }

    const text = body.length === 0 ? undefined : TEXT_TYPES.test(headers['content-type'] ?? '');
    const event = {
      version: '2.0',
      routeKey: key,
      rawPath,
      rawQueryString,
      ...(cookies?.length ? { cookies } : {}),
      headers,
      ...(queryStringParameters ? { queryStringParameters } : {}),
      ...(params ? { pathParameters: params } : {}),
      requestContext: { ...requestContext, ...(authorizer ? { authorizer } : {}) },
      ...(text === undefined ? {} : { body: text ? body.toString('utf8') : body.toString('base64') }),
      isBase64Encoded: text === false,
    } as APIGatewayProxyEventV2;

    this.#invocations += 1;
    const functionName = this.#options.functionName ?? 'api';
    const timeoutMs = this.#options.timeoutMs ?? 10_000;
    const integrationTimeoutMs = this.#options.integrationTimeoutMs ?? LIMITS.integrationTimeoutMs;
    let result: APIGatewayProxyResultV2;
    let integrationTimer: NodeJS.Timeout | undefined;
    try {
      const integrationTimeout = new Promise<never>((_, reject) => {
        integrationTimer = setTimeout(() => reject(new IntegrationTimeoutError()), integrationTimeoutMs);
      });
      result = await Promise.race([
        invoke(functionName, this.#options.handler, event, timeoutMs),
        integrationTimeout,
      ]);
    } catch (error) {
      this.#options.onInvoke?.(event, error as Error);
      // API Gateway gave up waiting: 503. The function failed or ran past its own timeout
      // (Lambda's "Task timed out" is a function error): 500.
      if (error instanceof IntegrationTimeoutError) return gatewayError(res, 503, 'Service Unavailable');
      return gatewayError(res, 500, 'Internal Server Error');
    } finally {
      clearTimeout(integrationTimer);
    }
    this.#options.onInvoke?.(event, result);
    this.#respond(res, result, requestId);
  }

  async #authorize(
    auth: GatewayAuthorizer,
    identity: string,
    event: APIGatewayRequestAuthorizerEventV2,
  ): Promise<AuthorizerDecision> {
    const ttl = auth.cacheTtlMs ?? 300_000;
    const cached = this.#decisions.get(identity);
    if (ttl > 0 && cached && cached.until > Date.now()) return cached.decision;
    this.#authorizerCalls += 1;
    this.#lastAuthorizerEvent = event;
    const decision = await invoke('authorizer', auth.handler, event, auth.timeoutMs ?? 5_000);
    if (typeof decision !== 'object' || decision === null || typeof decision.isAuthorized !== 'boolean') {
      throw new Error('malformed authorizer response');
    }
    if (ttl > 0) this.#decisions.set(identity, { decision, until: Date.now() + ttl });
    return decision;
  }

  /**
   * Maps a payload 2.0 result back to HTTP, including the shortcut for non-structured results.
   * A structured result API Gateway cannot use (statusCode not an HTTP status, body not a string)
   * is a 500, as on AWS.
   */
  #respond(res: ServerResponse, result: APIGatewayProxyResultV2, requestId: string): void {
    const structured = typeof result === 'object' && result !== null && 'statusCode' in result;
    let status = 200;
    const headers: Record<string, string | string[]> = {};
    let body: Buffer;
    if (structured) {
      const r = result as Exclude<APIGatewayProxyResultV2, string>;
      const malformed =
        !Number.isInteger(r.statusCode) ||
        (r.statusCode as number) < 100 ||
        (r.statusCode as number) > 599 ||
        (r.body !== undefined && r.body !== null && typeof r.body !== 'string');
      if (malformed) {
        gatewayError(res, 500, 'Internal Server Error');
        return;
      }
      status = r.statusCode as number;
      for (const [name, value] of Object.entries(r.headers ?? {}))
        headers[name.toLowerCase()] = String(value);
      if (r.cookies?.length) headers['set-cookie'] = [...r.cookies];
      const raw = typeof r.body === 'string' ? r.body : '';
      body = r.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
    } else {
      // Not structured: API Gateway assumes 200, JSON, and the value itself as the body (a
      // string as it is; anything else as its JSON; nothing returned is Lambda's `null`).
      headers['content-type'] = 'application/json';
      body = Buffer.from(typeof result === 'string' ? result : (JSON.stringify(result) ?? 'null'), 'utf8');
    }
    headers['apigw-requestid'] = requestId;
    headers['content-length'] = String(body.length);
    res.writeHead(status, headers);
    res.end(body);
  }
}
