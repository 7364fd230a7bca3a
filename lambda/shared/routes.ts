import type { ApiScope } from './api-keys';
import * as S from './api-schemas';
import { MAX_TTL_MS } from './api-schemas';
import type { Schema } from './validation';

/**
 * The one route table of the HTTP API. The CDK api stack creates its API Gateway routes from it,
 * the local gateway serves from it, the api function takes from it what each route needs (its
 * scope) and accepts (its query parameters and the valibot schema of its body, checked before
 * any command), and the OpenAPI document (`GET /openapi.json`) is generated from it with those
 * same schemas, so none of them can disagree; the scope matrix test and the docs follow it too.
 */

export { MAX_TTL_MS } from './api-schemas';

/** A query parameter (or header) a route reads. API Gateway joins a repeated parameter with commas. */
export type QueryParam =
  | {
      readonly type: 'integer';
      readonly min: number;
      readonly max: number;
      readonly description: string;
    }
  | { readonly type: 'enum'; readonly values: readonly string[]; readonly description: string }
  | { readonly type: 'string'; readonly pattern: RegExp; readonly description: string };

/** One answer a route gives. */
export interface ResponseSpec {
  readonly description: string;
  /** @default - an empty body */
  readonly schema?: Schema;
}

export interface RouteDefinition {
  /** HTTP method as API Gateway spells it. */
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path in API Gateway syntax, e.g. `/cache/{key}`. */
  readonly path: string;
  /** What the route does, in a line (the OpenAPI summary). */
  readonly summary: string;
  /** Whether the authorizer runs for this route. Only `/health` and `/openapi.json` are public. */
  readonly auth: boolean;
  /**
   * The scope a key needs for this route (403 without). Every authenticated route of the api
   * function has one; some routes check more inside (a batch write needs `cache:write`, a job
   * its type's scope).
   * @default - none: a public route
   */
  readonly scope?: ApiScope;
  /**
   * The query parameters the route reads; any other is refused with 400, like an unknown body field.
   * @default - none
   */
  readonly query?: Readonly<Record<string, QueryParam>>;
  /** Request headers the route reads besides the API's own (`x-api-key`, `Idempotency-Key`). @default - none */
  readonly headers?: Readonly<Record<string, QueryParam>>;
  /**
   * The valibot schema of the route's JSON body: checked before any command (400 with the issue's
   * message), and the request body of the OpenAPI document. A body sent to a route without one is
   * refused with 400.
   * @default - no body
   */
  readonly body?: Schema;
  /** The answers of the route that are not errors, by status. */
  readonly responses: Readonly<Record<number, ResponseSpec>>;
  /**
   * Errors this route answers besides those every route may (400, 401, 403, 429, 500, 503, and
   * 409/422 of `Idempotency-Key`; 413/415 for a body), by status: what they mean here.
   * @default - none
   */
  readonly errors?: Readonly<Record<number, string>>;
}

const TTL_MS: QueryParam = {
  type: 'integer',
  min: 1,
  max: MAX_TTL_MS,
  description: 'time to live in ms (also the x-ttl-ms header)',
};

const X_TTL_MS: QueryParam = { type: 'integer', min: 1, max: MAX_TTL_MS, description: 'time to live in ms' };

/** A job type's name: the registry's rule. */
const JOB_TYPE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const ok = (description: string, schema?: Schema): ResponseSpec => ({
  description,
  ...(schema ? { schema } : {}),
});

/** Every route of the HTTP API (docs/api.md). The order matters only for readability. */
export const ROUTES: readonly RouteDefinition[] = [
  {
    method: 'GET',
    path: '/health',
    summary: 'ping every database',
    auth: false,
    responses: {
      200: ok('every database answers', S.HealthResponse),
      503: ok('a database does not answer', S.HealthResponse),
    },
  },
  {
    method: 'GET',
    path: '/openapi.json',
    summary: 'this API as an OpenAPI 3.1 document',
    auth: false,
    responses: { 200: ok('the document', S.OpenApiResponse) },
  },
  {
    method: 'GET',
    path: '/cache/{key}',
    summary: 'read a cached value',
    auth: true,
    scope: 'cache:read',
    responses: { 200: ok('a hit (header x-cache-backend says which store answered)', S.CacheValueResponse) },
    errors: { 404: 'a miss' },
  },
  {
    method: 'PUT',
    path: '/cache/{key}',
    summary: 'write a value',
    auth: true,
    scope: 'cache:write',
    body: S.CacheValueBody,
    query: {
      ttlMs: TTL_MS,
      mode: { type: 'enum', values: ['nx', 'xx'], description: 'nx: only if absent, xx: only if present' },
    },
    headers: { 'x-ttl-ms': X_TTL_MS },
    responses: { 200: ok('written, or not (nx/xx)', S.CacheStoredResponse) },
  },
  {
    method: 'DELETE',
    path: '/cache/{key}',
    summary: 'delete a value',
    auth: true,
    scope: 'cache:write',
    responses: { 200: ok('deleted, or was not there', S.CacheDeletedResponse) },
  },
  // Reads need cache:read; a `set` batch needs cache:write as well (checked by the route).
  {
    method: 'POST',
    path: '/cache/batch',
    summary: 'read or write up to 100 values in one round trip',
    auth: true,
    scope: 'cache:read',
    body: S.CacheBatchBody,
    query: { ttlMs: TTL_MS },
    headers: { 'x-ttl-ms': X_TTL_MS },
    responses: {
      200: ok('the values read, in request order, or how many were written', S.CacheBatchResponse),
    },
  },
  // The scope of the job type it enqueues (cache.invalidate-prefix).
  {
    method: 'POST',
    path: '/cache/invalidate',
    summary: 'delete every value under a key prefix, in the background (SCAN)',
    auth: true,
    scope: 'cache:write',
    body: S.InvalidateBody,
    responses: {
      202: ok('enqueued (Location: /jobs/{id}; its result says how many were deleted)', S.InvalidateResponse),
    },
  },
  {
    method: 'POST',
    path: '/cache/namespaces/{namespace}/invalidate',
    summary: 'invalidate every value of a declared namespace at once: one command',
    auth: true,
    scope: 'cache:write',
    responses: {
      200: ok('invalidated: no old value of the namespace is served again', S.NamespaceInvalidatedResponse),
    },
    errors: { 404: 'no such namespace in cache.namespaces' },
  },
  {
    method: 'POST',
    path: '/sessions',
    summary: 'create a session for a user',
    auth: true,
    scope: 'sessions:write',
    body: S.CreateSessionBody,
    responses: { 201: ok('created', S.SessionResponse) },
  },
  {
    method: 'GET',
    path: '/sessions/{id}',
    summary: 'read a session (its idle expiry slides)',
    auth: true,
    scope: 'sessions:read',
    responses: { 200: ok('the session', S.SessionResponse) },
    errors: { 404: 'expired, revoked or forged' },
  },
  {
    method: 'PATCH',
    path: '/sessions/{id}',
    summary: 'merge fields into a session',
    auth: true,
    scope: 'sessions:write',
    body: S.UpdateSessionBody,
    responses: { 200: ok('the session after the merge', S.SessionResponse) },
    errors: { 404: 'expired, revoked or forged' },
  },
  {
    method: 'DELETE',
    path: '/sessions/{id}',
    summary: 'end a session',
    auth: true,
    scope: 'sessions:write',
    responses: { 200: ok('ended, or was not there', S.SessionDeletedResponse) },
  },
  {
    method: 'POST',
    path: '/sessions/{id}/regenerate',
    summary: 'give a session a new id; the old one stops at once',
    auth: true,
    scope: 'sessions:write',
    responses: { 200: ok('the session under its new id', S.SessionResponse) },
    errors: { 404: 'expired, revoked or forged' },
  },
  {
    method: 'GET',
    path: '/users/{userId}/sessions',
    summary: "list a user's sessions",
    auth: true,
    scope: 'sessions:read',
    responses: { 200: ok('the live sessions, oldest first', S.SessionListResponse) },
  },
  {
    method: 'DELETE',
    path: '/users/{userId}/sessions',
    summary: 'end every session of a user',
    auth: true,
    scope: 'sessions:write',
    responses: { 200: ok('how many ended', S.SessionsRevokedResponse) },
  },
  {
    method: 'POST',
    path: '/rate-limits/{name}/check',
    summary: 'check (and consume) a rate limit for an identifier',
    auth: true,
    scope: 'rate-limits',
    body: S.CheckLimitBody,
    responses: { 200: ok('the decision; a refusal is success: false, not an error', S.RateLimitResponse) },
    errors: { 404: 'no limit of that name is configured' },
  },
  {
    method: 'POST',
    path: '/rate-limits/{name}/refund',
    summary: 'give tokens back, never more than were used',
    auth: true,
    scope: 'rate-limits',
    body: S.RefundLimitBody,
    responses: { 200: ok('the limit after the refund', S.RateLimitResponse) },
    errors: { 404: 'no limit of that name is configured' },
  },
  {
    method: 'GET',
    path: '/rate-limits/{name}/{identifier}',
    summary: 'read a rate limit without consuming it',
    auth: true,
    scope: 'rate-limits',
    responses: {
      200: ok('what remains; success: whether a request of cost 1 would pass', S.RateLimitResponse),
    },
    errors: { 404: 'no limit of that name is configured' },
  },
  {
    method: 'DELETE',
    path: '/rate-limits/{name}/{identifier}',
    summary: 'reset a rate limit for an identifier (an admin scope)',
    auth: true,
    scope: 'rate-limits:admin',
    responses: { 200: ok('cleared: the identifier starts afresh', S.RateLimitClearedResponse) },
    errors: { 404: 'no limit of that name is configured' },
  },
  // Each job type needs its own scope as well (lambda/services/queue/job-types.ts).
  {
    method: 'POST',
    path: '/jobs',
    summary: 'enqueue a job',
    auth: true,
    scope: 'jobs',
    body: S.EnqueueBody,
    responses: {
      200: ok('a job with this idempotencyKey exists: its id', S.EnqueuedResponse),
      202: ok('enqueued (Location: /jobs/{id})', S.EnqueuedResponse),
    },
  },
  {
    method: 'GET',
    path: '/jobs',
    summary: "list the tenant's jobs, newest first, by state and type (cursor pages)",
    auth: true,
    scope: 'jobs',
    query: {
      state: {
        type: 'enum',
        values: ['ready', 'delayed', 'inflight', 'done', 'dead', 'cancelled'],
        description: 'only jobs in this state',
      },
      type: { type: 'string', pattern: JOB_TYPE, description: 'only jobs of this type' },
      cursor: {
        type: 'string',
        pattern: /^[A-Za-z0-9_-]{1,64}$/,
        description: 'the cursor of the previous page',
      },
      limit: { type: 'integer', min: 1, max: 100, description: 'most jobs on the page (default 20)' },
    },
    responses: { 200: ok('a page of jobs', S.JobPageResponse) },
  },
  {
    method: 'GET',
    path: '/jobs/{id}',
    summary: 'read a job: its state, attempts, last error and result',
    auth: true,
    scope: 'jobs',
    responses: { 200: ok('the job', S.JobResponse) },
    errors: { 404: "no such job (other tenants' jobs included)" },
  },
  {
    method: 'POST',
    path: '/jobs/{id}/cancel',
    summary: 'cancel a job that has not started (ready or delayed)',
    auth: true,
    scope: 'jobs',
    responses: { 200: ok('cancelled: it will never run', S.JobResponse) },
    errors: { 404: 'no such job', 409: 'the job is running or finished' },
  },
  {
    method: 'POST',
    path: '/jobs/{id}/redrive',
    summary: 'run a dead letter again (attempts reset)',
    auth: true,
    scope: 'jobs',
    responses: { 200: ok('back in the queue', S.JobResponse) },
    errors: { 404: 'no such job', 409: 'the job is not a dead letter' },
  },
  {
    method: 'POST',
    path: '/jobs/redrive',
    summary: "run every dead letter of a type again (the tenant's)",
    auth: true,
    scope: 'jobs',
    body: S.RedriveBody,
    responses: { 200: ok('how many went back to the queue', S.RedrivenResponse) },
  },
  {
    method: 'GET',
    path: '/stats',
    summary: 'cache hit rate and queue depth',
    auth: true,
    scope: 'stats',
    responses: { 200: ok('the figures', S.StatsResponse) },
  },
];

/** What matching a request needs of a route: the local gateway and tests take route lists of these. */
export type RouteShape = Pick<RouteDefinition, 'method' | 'path' | 'auth'>;

/** The API Gateway route key of a route, e.g. `GET /cache/{key}`. */
export const routeKey = (route: RouteShape): string => `${route.method} ${route.path}`;

/**
 * API Gateway's catch-all route. The api stack sends it to the api function without an authorizer
 * and the local gateway does the same, so unmatched requests get 404/405 in the API's error format.
 */
export const DEFAULT_ROUTE_KEY = '$default';

/** A route a request matched, with its path parameters as they stand in the path (still encoded). */
export interface RouteMatch<R extends RouteShape = RouteDefinition> {
  readonly route: R;
  /** The route key, e.g. `GET /cache/{key}`. */
  readonly key: string;
  /** Present only when the route has parameters, as API Gateway passes them. */
  readonly pathParameters?: Readonly<Record<string, string>>;
}

interface CompiledRoute {
  readonly route: RouteShape;
  readonly names: readonly string[];
  readonly pattern: RegExp;
}

const compiledTables = new WeakMap<readonly RouteShape[], readonly CompiledRoute[]>();

function compiled(routes: readonly RouteShape[]): readonly CompiledRoute[] {
  let table = compiledTables.get(routes);
  if (!table) {
    table = routes.map((route) => {
      const names: string[] = [];
      const source = route.path
        .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
        .replace(/\\?\{([^}]+)\\?\}/g, (_m, name: string) => {
          names.push(name);
          return '([^/]+)';
        });
      return { route, names, pattern: new RegExp(`^${source}$`) };
    });
    compiledTables.set(routes, table);
  }
  return table;
}

/**
 * The route of a request, as API Gateway picks it: same method, each `{param}` one non-empty
 * path segment. `null` when none matches (the request goes to `$default`).
 */
export function matchRoute<R extends RouteShape = RouteDefinition>(
  method: string,
  path: string,
  routes: readonly R[] = ROUTES as unknown as readonly R[],
): RouteMatch<R> | null {
  for (const { route, names, pattern } of compiled(routes)) {
    if (route.method !== method) continue;
    const match = pattern.exec(path);
    if (!match) continue;
    if (names.length === 0) return { route: route as R, key: routeKey(route) };
    return {
      route: route as R,
      key: routeKey(route),
      pathParameters: Object.fromEntries(names.map((name, i) => [name, match[i + 1] ?? ''])),
    };
  }
  return null;
}

/** The methods the route table serves on `path` (for a 405's `Allow`), empty for an unknown path. */
export function methodsFor(path: string, routes: readonly RouteShape[] = ROUTES): string[] {
  return [
    ...new Set(
      compiled(routes)
        .filter(({ pattern }) => pattern.test(path))
        .map(({ route }) => route.method),
    ),
  ];
}
