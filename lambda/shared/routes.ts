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

/** Every route of DESIGN.md §6. The order matters only for readability. */
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
