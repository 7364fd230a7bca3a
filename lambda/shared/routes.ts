import type { ApiScope } from './api-keys';

/**
 * The one route table of the HTTP API. The CDK api stack creates its API Gateway routes from it,
 * the local gateway serves from it, and the api function takes from it what each route needs (its
 * scope) and accepts (its query parameters, whether it reads a body), so none of them can
 * disagree, and the scope matrix test and the docs are generated from one place.
 */

/** Longest TTL or delay a request may ask for: one year, in ms. */
export const MAX_TTL_MS = 365 * 86_400_000;

/** A query parameter a route reads. API Gateway joins a repeated parameter with commas. */
export type QueryParam =
  | {
      readonly type: 'integer';
      readonly min: number;
      readonly max: number;
      readonly description: string;
    }
  | { readonly type: 'enum'; readonly values: readonly string[]; readonly description: string };

export interface RouteDefinition {
  /** HTTP method as API Gateway spells it. */
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path in API Gateway syntax, e.g. `/cache/{key}`. */
  readonly path: string;
  /** Whether the authorizer runs for this route. Only `/health` is public. */
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
  /**
   * Whether the route reads a JSON body; a body sent to a route without one is refused with 400.
   * @default - no body
   */
  readonly body?: 'required' | 'optional';
}

const TTL_MS: QueryParam = {
  type: 'integer',
  min: 1,
  max: MAX_TTL_MS,
  description: 'time to live in ms (also the x-ttl-ms header)',
};

/** Every route of the HTTP API (docs/api.md). The order matters only for readability. */
export const ROUTES: readonly RouteDefinition[] = [
  { method: 'GET', path: '/health', auth: false },
  { method: 'GET', path: '/cache/{key}', auth: true, scope: 'cache:read' },
  {
    method: 'PUT',
    path: '/cache/{key}',
    auth: true,
    scope: 'cache:write',
    body: 'required',
    query: {
      ttlMs: TTL_MS,
      mode: { type: 'enum', values: ['nx', 'xx'], description: 'nx: only if absent, xx: only if present' },
    },
  },
  { method: 'DELETE', path: '/cache/{key}', auth: true, scope: 'cache:write' },
  // Reads need cache:read; a `set` batch needs cache:write as well (checked by the route).
  {
    method: 'POST',
    path: '/cache/batch',
    auth: true,
    scope: 'cache:read',
    body: 'required',
    query: { ttlMs: TTL_MS },
  },
  // The scope of the job type it enqueues (cache.invalidate-prefix).
  { method: 'POST', path: '/cache/invalidate', auth: true, scope: 'cache:write', body: 'required' },
  { method: 'POST', path: '/sessions', auth: true, scope: 'sessions:write', body: 'required' },
  { method: 'GET', path: '/sessions/{id}', auth: true, scope: 'sessions:read' },
  { method: 'PATCH', path: '/sessions/{id}', auth: true, scope: 'sessions:write', body: 'required' },
  { method: 'DELETE', path: '/sessions/{id}', auth: true, scope: 'sessions:write' },
  { method: 'GET', path: '/users/{userId}/sessions', auth: true, scope: 'sessions:read' },
  { method: 'DELETE', path: '/users/{userId}/sessions', auth: true, scope: 'sessions:write' },
  { method: 'POST', path: '/rate-limits/{name}/check', auth: true, scope: 'rate-limits', body: 'required' },
  // Each job type needs its own scope as well (lambda/services/queue/job-types.ts).
  { method: 'POST', path: '/jobs', auth: true, scope: 'jobs', body: 'required' },
  { method: 'GET', path: '/jobs/{id}', auth: true, scope: 'jobs' },
  { method: 'GET', path: '/stats', auth: true, scope: 'stats' },
];

/** The API Gateway route key of a route, e.g. `GET /cache/{key}`. */
export const routeKey = (route: RouteDefinition): string => `${route.method} ${route.path}`;

/**
 * API Gateway's catch-all route. The api stack sends it to the api function without an authorizer
 * and the local gateway does the same, so unmatched requests get 404/405 in the API's error format.
 */
export const DEFAULT_ROUTE_KEY = '$default';

/** A route a request matched, with its path parameters as they stand in the path (still encoded). */
export interface RouteMatch {
  readonly route: RouteDefinition;
  /** The route key, e.g. `GET /cache/{key}`. */
  readonly key: string;
  /** Present only when the route has parameters, as API Gateway passes them. */
  readonly pathParameters?: Readonly<Record<string, string>>;
}

interface CompiledRoute {
  readonly route: RouteDefinition;
  readonly names: readonly string[];
  readonly pattern: RegExp;
}

const compiledTables = new WeakMap<readonly RouteDefinition[], readonly CompiledRoute[]>();

function compiled(routes: readonly RouteDefinition[]): readonly CompiledRoute[] {
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
export function matchRoute(
  method: string,
  path: string,
  routes: readonly RouteDefinition[] = ROUTES,
): RouteMatch | null {
  for (const { route, names, pattern } of compiled(routes)) {
    if (route.method !== method) continue;
    const match = pattern.exec(path);
    if (!match) continue;
    if (names.length === 0) return { route, key: routeKey(route) };
    return {
      route,
      key: routeKey(route),
      pathParameters: Object.fromEntries(names.map((name, i) => [name, match[i + 1] ?? ''])),
    };
  }
  return null;
}

/** The methods the route table serves on `path` (for a 405's `Allow`), empty for an unknown path. */
export function methodsFor(path: string, routes: readonly RouteDefinition[] = ROUTES): string[] {
  return [
    ...new Set(
      compiled(routes)
        .filter(({ pattern }) => pattern.test(path))
        .map(({ route }) => route.method),
    ),
  ];
}
