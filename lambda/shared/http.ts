import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  AppError,
  errorCode,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  UpstashUnavailableError,
  ValidationError,
} from './errors';
import { httpStatus } from './http-status';
import { parseJson } from './json';
import { methodsFor, type QueryParam } from './routes';

/**
 * HTTP mapping of the api function, in one place: request parsing, JSON responses, the one error
 * mapper, rate-limit headers and CORS. Payload format 2.0 of API Gateway HTTP APIs.
 */

export { HTTP_STATUS, httpStatus } from './http-status';

/** A response as API Gateway wants it back. */
export type HttpResponse = APIGatewayProxyStructuredResultV2 & {
  statusCode: number;
  headers: Record<string, string>;
};

/** A JSON response. `body` is serialised; `undefined` gives an empty body. */
export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? '' : JSON.stringify(body),
  };
}

/** The `{"error": {"code", "message"}}` body. */
export const errorBody = (code: string, message: string) => ({ error: { code, message } });

/** The error behind each error response, for the one log line of a 5xx (see {@link causeOf}). */
const causes = new WeakMap<HttpResponse, unknown>();

/**
 * Maps any thrown value to a response, through {@link HTTP_STATUS}. Typed errors keep their code
 * and, below 500, their message; a 5xx body says nothing about the cause (it may name a secret's
 * field or a host). The error stays attached to the response ({@link causeOf}), so a route that
 * answers with it never hides the cause from the handler's log line.
 */
export function errorResponse(error: unknown): HttpResponse {
  const code = errorCode(error);
  const status = httpStatus(code);
  const headers: Record<string, string> = {};
  if (error instanceof MethodNotAllowedError) headers.allow = error.allow.join(', ');
  // An outage is short, and so is a request still running under the same Idempotency-Key: tell
  // clients when to come back instead of letting them hammer.
  if (status === 503 || code === 'IDEMPOTENCY_KEY_IN_USE') headers['retry-after'] = '1';
  const message = status >= 500 || !(error instanceof AppError) ? publicMessage(status) : error.message;
  const body = errorBody(code, message);
  // A 503 says what became of the request: `not-applied`, or `unknown` (see docs/api.md).
  const response =
    error instanceof UpstashUnavailableError
      ? json(status, { error: { ...body.error, outcome: error.outcome } }, headers)
      : json(status, body, headers);
  causes.set(response, error);
  return response;
}

/** The error a response was made from by {@link errorResponse}; `undefined` for other responses. */
export const causeOf = (response: HttpResponse): unknown => causes.get(response);

function publicMessage(status: number): string {
  if (status === 503) return 'the data store is unavailable, retry shortly';
  return 'internal error';
}

/** The parts of an event the routes use. */
export interface ApiRequest {
  readonly method: string;
  readonly routeKey: string;
  readonly path: string;
  readonly pathParameters: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  /** Lower-case header names, as API Gateway passes them. */
  readonly headers: Readonly<Record<string, string>>;
  /** The raw body, base64-decoded when API Gateway encoded it; `undefined` when none. */
  readonly body: string | undefined;
  readonly requestId: string;
}

/** Reads an event into an {@link ApiRequest}. */
export function readRequest(event: APIGatewayProxyEventV2): ApiRequest {
  const raw = event.body;
  const body =
    raw === undefined || raw === null || raw === ''
      ? undefined
      : event.isBase64Encoded
        ? Buffer.from(raw, 'base64').toString('utf8')
        : raw;
  return {
    method: event.requestContext.http.method.toUpperCase(),
    routeKey: event.routeKey,
    path: event.rawPath,
    pathParameters: (event.pathParameters ?? {}) as Record<string, string>,
    query: (event.queryStringParameters ?? {}) as Record<string, string>,
    headers: (event.headers ?? {}) as Record<string, string>,
    body,
    requestId: event.requestContext.requestId,
  };
}

/**
 * The JSON body, checked for size and media type. A missing body is a 400 unless `optional`.
 *
 * @throws PayloadTooLargeError above `maxBytes`; UnsupportedMediaTypeError for a non-JSON
 *   content type; ValidationError for a missing or malformed body
 */
export function jsonBody(request: ApiRequest, maxBytes: number, optional = false): unknown {
  if (request.body === undefined) {
    if (optional) return undefined;
    throw new ValidationError('this route needs a JSON body');
  }
  const bytes = Buffer.byteLength(request.body, 'utf8');
  if (bytes > maxBytes) {
    throw new PayloadTooLargeError(`the body is ${bytes} bytes, above the limit of ${maxBytes}`);
  }
  const type = request.headers['content-type'];
  if (type !== undefined && !/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type.trim())) {
    throw new UnsupportedMediaTypeError(`send the body as application/json, got ${JSON.stringify(type)}`);
  }
  return parseJson(request.body, 'the body');
}

/** A query parameter's value, as its declaration types it. */
export type QueryValue = string | number;

/**
 * The query string, checked against the route's declared parameters: an unknown parameter is a
 * 400 (a typo such as `ttl` for `ttlMs` silently ignored would be worse), and each declared one
 * is typed and bounded.
 *
 * @throws ValidationError naming the parameter and what is allowed
 */
export function readQuery(
  query: Readonly<Record<string, string>>,
  declared: Readonly<Record<string, QueryParam>> = {},
): Record<string, QueryValue> {
  const values: Record<string, QueryValue> = {};
  const allowed = Object.keys(declared);
  // Unknown names first: a typo is the likelier mistake, and its message says what is allowed.
  const unknown = Object.keys(query).find((name) => !Object.hasOwn(declared, name));
  if (unknown !== undefined) {
    throw new ValidationError(
      allowed.length === 0
        ? `unknown query parameter ${JSON.stringify(unknown)}: this route takes no query parameters`
        : `unknown query parameter ${JSON.stringify(unknown)}; allowed: ${allowed.join(', ')}`,
    );
  }
  for (const [name, raw] of Object.entries(query)) {
    const param = declared[name] as QueryParam;
    if (param.type === 'enum') {
      if (!param.values.includes(raw)) {
        throw new ValidationError(`${name} must be ${param.values.map((v) => `"${v}"`).join(' or ')}`);
      }
      values[name] = raw;
    } else if (param.type === 'string') {
      if (!param.pattern.test(raw)) throw new ValidationError(`${name} is not valid: ${param.description}`);
      values[name] = raw;
    } else {
      values[name] = intParam(raw, name, param.min, param.max) as number;
    }
  }
  return values;
}

/** A whole number from a query string or header, within `[min, max]`. */
export function intParam(
  raw: string | undefined,
  name: string,
  min: number,
  max: number,
): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,16}$/.test(raw))
    throw new ValidationError(`${name} must be a whole number from ${min} to ${max}`);
  const value = Number(raw);
  if (value < min || value > max)
    throw new ValidationError(`${name} must be a whole number from ${min} to ${max}`);
  return value;
}

/** What the rate-limit headers describe. */
export interface LimitState {
  readonly limit: number;
  readonly remaining: number;
  /** Epoch ms when the limit replenishes (admitted) or a request can next pass (refused). */
  readonly reset: number;
}

/**
 * `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds from now, as the IETF
 * RateLimit header fields draft defines it) and, when refused, `Retry-After` in seconds.
 */
export function rateLimitHeaders(
  state: LimitState,
  refused: boolean,
  now = Date.now(),
): Record<string, string> {
  const seconds = String(Math.max(0, Math.ceil((state.reset - now) / 1000)));
  const headers: Record<string, string> = {
    'ratelimit-limit': String(state.limit),
    'ratelimit-remaining': String(Math.max(0, state.remaining)),
    'ratelimit-reset': seconds,
  };
  if (refused) headers['retry-after'] = seconds === '0' ? '1' : seconds;
  return headers;
}

/**
 * The error for a request that matched no route (API Gateway's `$default`): 405 with `Allow`
 * when the path exists under other methods, 404 otherwise.
 */
export function unmatched(method: string, path: string): AppError {
  const allow = methodsFor(path);
  if (allow.length > 0) return new MethodNotAllowedError(`${method} is not allowed on ${path}`, allow);
  return new NotFoundError(`no route for ${method} ${path}`);
}

/** CORS settings, from `APP_CONFIG.api.corsAllowOrigins`. */
export interface CorsOptions {
  /** Allowed origins; `*` allows any. Empty: no CORS headers at all. */
  readonly allowOrigins: readonly string[];
}

const EXPOSED =
  'ratelimit-limit, ratelimit-remaining, ratelimit-reset, retry-after, idempotent-replayed, location';

/** The CORS headers for a request's `Origin`, or none when it is not allowed. */
export function corsHeaders(cors: CorsOptions, origin: string | undefined): Record<string, string> {
  if (origin === undefined || cors.allowOrigins.length === 0) return {};
  const any = cors.allowOrigins.includes('*');
  if (!any && !cors.allowOrigins.includes(origin)) return {};
  return {
    'access-control-allow-origin': any ? '*' : origin,
    'access-control-expose-headers': EXPOSED,
    ...(any ? {} : { vary: 'origin' }),
  };
}

/** The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`). */
export function preflight(cors: CorsOptions, request: ApiRequest): HttpResponse | null {
  if (request.method !== 'OPTIONS' || request.headers['access-control-request-method'] === undefined)
    return null;
  const headers = corsHeaders(cors, request.headers.origin);
  if (Object.keys(headers).length === 0) return null;
  return {
    statusCode: 204,
    headers: {
      ...headers,
      'access-control-allow-methods': 'GET, PUT, POST, PATCH, DELETE',
      'access-control-allow-headers': 'content-type, x-api-key, authorization, x-ttl-ms, idempotency-key',
      'access-control-max-age': '600',
    },
    body: '',
  };
}
