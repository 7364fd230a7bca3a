import { ROUTES, routeKey } from '../lambda/shared/routes';

/**
 * One representative request per route of the HTTP API, with the data it needs put in place first:
 * what `npm run bench` prices per 1,000 requests, and what the usage test
 * (test/integration/shared/usage-counts.test.ts) replays to check that the counts the api function
 * publishes equal what the endpoint and its Redis saw.
 */

/** The stack configuration both run on: one database, an api limit nothing reaches. */
export const SCENARIO_CONFIG: Record<string, unknown> = {
  databases: { main: { secretName: 'upstash/main' } },
  features: { cache: 'main', sessions: 'main', rateLimit: 'main', locks: 'main', queue: 'main' },
  rateLimits: { api: { algorithm: 'sliding-window', limit: 1_000_000, window: '60 s' } },
  cache: { namespaces: ['ns'] },
};

/** One HTTP request of the scenario. */
export interface ScenarioCall {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** How the scenario reaches the API: one authenticated request, its status and JSON body. */
export type ScenarioClient = (call: ScenarioCall) => Promise<{ status: number; json: unknown }>;

/**
 * The {@link ScenarioClient} of the bench and of the tests that replay its requests: HTTP to a
 * local API at `baseUrl` with `apiKey`, JSON bodies; `onHeaders` sees each answer's headers.
 */
export function httpScenarioClient(
  baseUrl: string,
  apiKey: string,
  onHeaders?: (headers: Headers) => void,
): ScenarioClient {
  return async (call) => {
    const response = await fetch(`${baseUrl}${call.path}`, {
      method: call.method,
      headers: { 'x-api-key': apiKey, 'content-type': 'application/json', ...call.headers },
      ...(call.body !== undefined ? { body: JSON.stringify(call.body) } : {}),
    });
    onHeaders?.(response.headers);
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  };
}

/** One measured request and what it needs. */
export interface RouteStep {
  /** The route key it exercises, as in ROUTES. */
  readonly route: string;
  /** What the request does, when the route has several cases. */
  readonly note?: string;
  /** The expected status: a step that fails its set-up measures nothing useful. */
  readonly status: number;
  /**
   * Requests that put the data in place, not measured; returns the values the request uses.
   * Runs before every measured request, so each measures the same thing.
   */
  readonly setup?: (api: ScenarioClient, n: number) => Promise<Record<string, string>>;
  readonly request: (vars: Record<string, string>, n: number) => ScenarioCall;
}

const TEN = Array.from({ length: 10 }, (_, i) => `b${i}`);

async function enqueue(api: ScenarioClient, delayMs = 0): Promise<string> {
  const job = await api({
    method: 'POST',
    path: '/jobs',
    body: {
      type: 'sessions.revoke-user',
      payload: { userId: 'bench-user' },
      ...(delayMs ? { delayMs } : {}),
    },
  });
  if (job.status !== 202) throw new Error(`job set-up answered ${job.status}`);
  return (job.json as { id: string }).id;
}

async function createSession(api: ScenarioClient, userId: string): Promise<string> {
  const created = await api({ method: 'POST', path: '/sessions', body: { userId, data: { a: 1 } } });
  if (created.status !== 201) throw new Error(`session set-up answered ${created.status}`);
  return (created.json as { id: string }).id;
}

/** The scenario, one step per route (two for the batch route: read and write). */
export const API_SCENARIO: readonly RouteStep[] = [
  { route: 'GET /health', status: 200, request: () => ({ method: 'GET', path: '/health' }) },
  { route: 'GET /openapi.json', status: 200, request: () => ({ method: 'GET', path: '/openapi.json' }) },
  {
    route: 'PUT /cache/{key}',
    status: 200,
    request: () => ({ method: 'PUT', path: '/cache/hot', body: { v: 1 } }),
  },
  {
    route: 'GET /cache/{key}',
    note: 'hit',
    status: 200,
    setup: async (api) => {
      await api({ method: 'PUT', path: '/cache/hot', body: { v: 1 } });
      return {};
    },
    request: () => ({ method: 'GET', path: '/cache/hot' }),
  },
  {
    route: 'DELETE /cache/{key}',
    status: 200,
    setup: async (api) => {
      await api({ method: 'PUT', path: '/cache/doomed', body: { v: 1 } });
      return {};
    },
    request: () => ({ method: 'DELETE', path: '/cache/doomed' }),
  },
  {
    route: 'POST /cache/batch',
    note: 'get of 10',
    status: 200,
    setup: async (api) => {
      await api({
        method: 'POST',
        path: '/cache/batch',
        body: { set: TEN.map((key) => ({ key, value: 1 })) },
      });
      return {};
    },
    request: () => ({ method: 'POST', path: '/cache/batch', body: { get: TEN } }),
  },
  {
    route: 'POST /cache/batch',
    note: 'set of 10',
    status: 200,
    request: () => ({
      method: 'POST',
      path: '/cache/batch',
      body: { set: TEN.map((key) => ({ key, value: { n: 1 } })) },
    }),
  },
  {
    route: 'POST /cache/invalidate',
    status: 202,
    request: () => ({ method: 'POST', path: '/cache/invalidate', body: { prefix: 'b' } }),
  },
  {
    route: 'POST /cache/namespaces/{namespace}/invalidate',
    status: 200,
    request: () => ({ method: 'POST', path: '/cache/namespaces/ns/invalidate' }),
  },
  {
    route: 'POST /sessions',
    status: 201,
    request: (_, n) => ({ method: 'POST', path: '/sessions', body: { userId: `new-${n}`, data: { a: 1 } } }),
  },
  {
    route: 'POST /sessions',
    note: 'Idempotency-Key, first',
    status: 201,
    request: (_, n) => ({
      method: 'POST',
      path: '/sessions',
      body: { userId: `idem-${n}`, data: { a: 1 } },
      headers: { 'idempotency-key': `create-${n}` },
    }),
  },
  {
    route: 'POST /sessions',
    note: 'Idempotency-Key, replayed',
    status: 201,
    setup: async (api, n) => {
      const call = {
        method: 'POST',
        path: '/sessions',
        body: { userId: `replay-${n}`, data: { a: 1 } },
        headers: { 'idempotency-key': `replay-${n}` },
      };
      const first = await api(call);
      if (first.status !== 201) throw new Error(`idempotent set-up answered ${first.status}`);
      return {};
    },
    request: (_, n) => ({
      method: 'POST',
      path: '/sessions',
      body: { userId: `replay-${n}`, data: { a: 1 } },
      headers: { 'idempotency-key': `replay-${n}` },
    }),
  },
  {
    route: 'PUT /cache/{key}',
    note: 'Idempotency-Key, first',
    status: 200,
    request: (_, n) => ({
      method: 'PUT',
      path: '/cache/idem',
      body: { v: n },
      headers: { 'idempotency-key': `put-${n}` },
    }),
  },
  {
    route: 'POST /sessions/{id}/regenerate',
    status: 200,
    setup: async (api, n) => ({ id: await createSession(api, `regen-${n}`) }),
    request: ({ id }) => ({ method: 'POST', path: `/sessions/${id}/regenerate` }),
  },
  {
    route: 'GET /sessions/{id}',
    status: 200,
    setup: async (api, n) => ({ id: await createSession(api, `get-${n}`) }),
    request: ({ id }) => ({ method: 'GET', path: `/sessions/${id}` }),
  },
  {
    route: 'PATCH /sessions/{id}',
    status: 200,
    setup: async (api, n) => ({ id: await createSession(api, `patch-${n}`) }),
    request: ({ id }) => ({ method: 'PATCH', path: `/sessions/${id}`, body: { data: { b: 2 } } }),
  },
  {
    route: 'DELETE /sessions/{id}',
    status: 200,
    setup: async (api, n) => ({ id: await createSession(api, `delete-${n}`) }),
    request: ({ id }) => ({ method: 'DELETE', path: `/sessions/${id}` }),
  },
  {
    route: 'GET /users/{userId}/sessions',
    note: 'one session',
    status: 200,
    setup: async (api, n) => {
      await createSession(api, `list-${n}`);
      return { userId: `list-${n}` };
    },
    request: ({ userId }) => ({ method: 'GET', path: `/users/${userId}/sessions` }),
  },
  {
    route: 'DELETE /users/{userId}/sessions',
    note: 'one session',
    status: 200,
    setup: async (api, n) => {
      await createSession(api, `revoke-${n}`);
      return { userId: `revoke-${n}` };
    },
    request: ({ userId }) => ({ method: 'DELETE', path: `/users/${userId}/sessions` }),
  },
  {
    route: 'POST /rate-limits/{name}/check',
    status: 200,
    request: () => ({ method: 'POST', path: '/rate-limits/api/check', body: { identifier: 'u1' } }),
  },
  {
    route: 'POST /rate-limits/{name}/refund',
    status: 200,
    setup: async (api) => {
      await api({ method: 'POST', path: '/rate-limits/api/check', body: { identifier: 'u2', cost: 2 } });
      return {};
    },
    request: () => ({ method: 'POST', path: '/rate-limits/api/refund', body: { identifier: 'u2' } }),
  },
  {
    route: 'GET /rate-limits/{name}/{identifier}',
    status: 200,
    request: () => ({ method: 'GET', path: '/rate-limits/api/u1' }),
  },
  {
    route: 'DELETE /rate-limits/{name}/{identifier}',
    status: 200,
    request: () => ({ method: 'DELETE', path: '/rate-limits/api/u3' }),
  },
  {
    route: 'GET /jobs',
    note: 'page of 20, by state',
    status: 200,
    request: () => ({ method: 'GET', path: '/jobs?state=ready&limit=20' }),
  },
  {
    route: 'POST /jobs/{id}/cancel',
    status: 200,
    setup: async (api) => ({ id: await enqueue(api, 3_600_000) }),
    request: ({ id }) => ({ method: 'POST', path: `/jobs/${id}/cancel` }),
  },
  {
    route: 'POST /jobs/{id}/redrive',
    note: 'a ready job: refused',
    status: 409,
    setup: async (api) => ({ id: await enqueue(api) }),
    request: ({ id }) => ({ method: 'POST', path: `/jobs/${id}/redrive` }),
  },
  {
    route: 'POST /jobs/redrive',
    note: 'no dead letters',
    status: 200,
    request: () => ({ method: 'POST', path: '/jobs/redrive', body: { type: 'sessions.revoke-user' } }),
  },
  {
    route: 'POST /jobs',
    status: 202,
    request: () => ({
      method: 'POST',
      path: '/jobs',
      body: { type: 'sessions.revoke-user', payload: { userId: 'bench-user' } },
    }),
  },
  {
    route: 'GET /jobs/{id}',
    status: 200,
    setup: async (api) => {
      const job = await api({
        method: 'POST',
        path: '/jobs',
        body: { type: 'sessions.revoke-user', payload: { userId: 'bench-user' } },
      });
      return { id: (job.json as { id: string }).id };
    },
    request: ({ id }) => ({ method: 'GET', path: `/jobs/${id}` }),
  },
  { route: 'GET /stats', status: 200, request: () => ({ method: 'GET', path: '/stats' }) },
];

/** The name of a step in tables: its route, and its case when it has one. */
export const stepName = (step: RouteStep): string =>
  step.note ? `${step.route} (${step.note})` : step.route;

/** Every route of the table has a step (checked when the module loads: a new route needs one). */
const missing = ROUTES.map(routeKey).filter((key) => !API_SCENARIO.some((step) => step.route === key));
if (missing.length > 0) throw new Error(`bench/api-scenario.ts has no step for ${missing.join(', ')}`);

/**
 * Runs one step: its set-up, then the request, through `api`; `measure` wraps only the request.
 *
 * @throws Error when the request answers another status than the step expects
 */
export async function runStep<T>(
  api: ScenarioClient,
  step: RouteStep,
  n: number,
  measure: (request: () => Promise<unknown>) => Promise<T>,
): Promise<T> {
  const vars = (await step.setup?.(api, n)) ?? {};
  let status = 0;
  const result = await measure(async () => {
    status = (await api(step.request(vars, n))).status;
  });
  if (status !== step.status)
    throw new Error(`${stepName(step)} answered ${status}, expected ${step.status}`);
  return result;
}
