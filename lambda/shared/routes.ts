/**
 * The one route table of the HTTP API. The CDK api stack creates its API Gateway routes from it
 * and the local gateway serves from it, so the two can never disagree.
 */
export interface RouteDefinition {
  /** HTTP method as API Gateway spells it. */
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path in API Gateway syntax, e.g. `/cache/{key}`. */
  readonly path: string;
  /** Whether the authorizer runs for this route. Only `/health` is public. */
  readonly auth: boolean;
}

/** Every route of the HTTP API (docs/api.md). The order matters only for readability. */
export const ROUTES: readonly RouteDefinition[] = [
  { method: 'GET', path: '/health', auth: false },
  { method: 'GET', path: '/cache/{key}', auth: true },
  { method: 'PUT', path: '/cache/{key}', auth: true },
  { method: 'DELETE', path: '/cache/{key}', auth: true },
  { method: 'POST', path: '/cache/batch', auth: true },
  { method: 'POST', path: '/cache/invalidate', auth: true },
  { method: 'POST', path: '/sessions', auth: true },
  { method: 'GET', path: '/sessions/{id}', auth: true },
  { method: 'PATCH', path: '/sessions/{id}', auth: true },
  { method: 'DELETE', path: '/sessions/{id}', auth: true },
  { method: 'GET', path: '/users/{userId}/sessions', auth: true },
  { method: 'DELETE', path: '/users/{userId}/sessions', auth: true },
  { method: 'POST', path: '/rate-limits/{name}/check', auth: true },
  { method: 'POST', path: '/jobs', auth: true },
  { method: 'GET', path: '/jobs/{id}', auth: true },
  { method: 'GET', path: '/stats', auth: true },
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
