import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { type CacheBackend, CacheService } from '../services/cache/cache-service';
import { BUILTIN_JOB_TYPES, INVALIDATE_PREFIX, type JobTypes } from '../services/queue/job-types';
import { JobQueue, type Priority } from '../services/queue/queue';
import { RateLimiter, type RateLimitResult } from '../services/rate-limit/rate-limiter';
import { type JsonValue, SessionService } from '../services/sessions/session-service';
import { StatsService } from '../services/stats/stats-service';
import { hasScope, SCOPES } from '../shared/api-keys';
import { withRequestDeadline } from '../shared/client';
import { DEFAULTS } from '../shared/config';
import {
  ForbiddenError,
  NotFoundError,
  UnauthorizedError,
  UpstashUnavailableError,
  ValidationError,
} from '../shared/errors';
import {
  type ApiRequest,
  causeOf,
  corsHeaders,
  errorBody,
  errorResponse,
  type HttpResponse,
  intParam,
  json,
  jsonBody,
  preflight,
  type QueryValue,
  rateLimitHeaders,
  readQuery,
  readRequest,
  unmatched,
} from '../shared/http';
import { intField, isObject, objectBody, stringField } from '../shared/input';
import { setField } from '../shared/json';
import { validateId } from '../shared/keys';
import { logFailure } from '../shared/log';
import { lazyProperties, memoize } from '../shared/memo';
import { METRICS, SERVICES } from '../shared/metric-definitions';
import { MetricsPublisher } from '../shared/metrics';
import { MAX_TTL_MS, ROUTES, type RouteDefinition, routeKey } from '../shared/routes';
import { appConfig, healthCheck, keyBuilder, migrationRouters, redisFor } from '../shared/runtime';
import { InvocationUsage } from '../shared/usage';

/**
 * The api function: every route of `lambda/shared/routes.ts`, thin over the services. The route
 * table says what each route needs (its scope) and accepts (query parameters, body); the
 * handlers below validate the body's fields, call one service and map the result. Errors are
 * mapped in one place (`errorResponse`) and every 5xx is logged once, by the handler, with the
 * error that caused it. Authenticated routes run under the `api` rate limit of the tenant; on
 * reads the check and the read are issued in the same tick, so auto-pipelining sends them in
 * one round trip (two when the cache and the limits live in different databases, in parallel).
 */

/** The name of the limit every authenticated request runs under, when configured. */
export const API_LIMIT = 'api';
const MAX_BATCH = 100;
/**
 * Time kept back from the function's deadline for the answer itself: no Upstash request (and no
 * attempt to settle a write whose answer was lost) runs past the rest.
 */
const ANSWER_MARGIN_MS = 1_000;
/** The function's budget when no Lambda context says it (tests, scripts): its CDK timeout. */
const DEFAULT_BUDGET_MS = 10_000;

/** What the routes need; built once per container. */
export interface ApiServices {
  readonly cache: CacheService;
  readonly sessions: SessionService;
  readonly limiters: ReadonlyMap<string, RateLimiter>;
  readonly queue: JobQueue;
  readonly stats: StatsService;
  /** The job types `POST /jobs` accepts, with the scope each needs. */
  readonly jobTypes: JobTypes;
}

/** `APP_CONFIG`, validated once per cold start (lambda/shared/config.ts), defaults applied. */
const config = appConfig;

/**
 * The clients of the function's databases (one per database, shared by its features), then each
 * service built on first use: a cold start builds what its first route needs, not every route's.
 */
async function buildServices(): Promise<ApiServices> {
  const keys = keyBuilder();
  const cfg = config();
  const [cacheRedis, sessionRedis, limitRedis, queueRedis] = await Promise.all([
    redisFor('cache'),
    redisFor('sessions'),
    redisFor('rateLimit'),
    redisFor('queue'),
  ]);
  return lazyProperties<ApiServices>({
    cache: () => new CacheService({ redis: cacheRedis, keys, ...cfg.cache }),
    sessions: () => new SessionService({ redis: sessionRedis, keys, ...cfg.sessions }),
    limiters: () => {
      const limiters = new Map<string, RateLimiter>();
      for (const [name, limit] of Object.entries(cfg.rateLimits)) {
        limiters.set(name, new RateLimiter({ redis: limitRedis, keys, name, ...limit }));
      }
      return limiters;
    },
    queue: () => new JobQueue({ redis: queueRedis, keys }),
    stats: () => new StatsService({ redis: cacheRedis, keys }),
    jobTypes: () => BUILTIN_JOB_TYPES,
  });
}

/** The services of this container: built on first use, rebuilt after a failed build. */
export const apiServices = memoize(buildServices);

/** Test-only: forget the services, as a new container would. */
export function resetApiForTests(): void {
  apiServices.forget();
}

/** Who is calling, from the authorizer's context. */
interface Principal {
  readonly tenant: string;
  readonly scopes: readonly string[];
}

function principalOf(event: APIGatewayProxyEventV2): Principal | null {
  const authorizer = (event.requestContext as { authorizer?: Record<string, unknown> }).authorizer;
  const lambda = authorizer?.lambda as { tenant?: unknown; scopes?: unknown } | undefined;
  if (lambda && typeof lambda.tenant === 'string' && lambda.tenant !== '') {
    const scopes = typeof lambda.scopes === 'string' ? lambda.scopes.split(' ').filter(Boolean) : [];
    return { tenant: lambda.tenant, scopes };
  }
  const jwt = authorizer?.jwt as { claims?: Record<string, unknown>; scopes?: string[] | null } | undefined;
  if (jwt?.claims) {
    const auth = config().auth;
    const tenant = jwt.claims[auth.type === 'jwt' ? auth.tenantClaim : DEFAULTS.auth.tenantClaim];
    if (typeof tenant !== 'string' || tenant === '') return null;
    // A token that carries none of our scopes grants them all: identity providers rarely know
    // this API's scopes, and the tenant boundary is what isolates data.
    const claimed = jwt.scopes ?? String(jwt.claims.scope ?? '').split(' ');
    const ours = claimed.filter((s) => (SCOPES as readonly string[]).includes(s));
    return { tenant, scopes: ours.length > 0 ? ours : ['*'] };
  }
  return null;
}

/** What a route handler gets. */
interface RouteContext {
  readonly request: ApiRequest;
  readonly tenant: string;
  readonly services: ApiServices;
  /** The parsed JSON body (checked for size, type and depth once). */
  readonly body: unknown;
  /** The query parameters the route declares, typed (unknown ones were refused). */
  readonly query: Readonly<Record<string, QueryValue>>;
  /** The caller's scopes (the batch route checks `cache:write` for its writes, jobs their type's). */
  readonly scopes: readonly string[];
  readonly metrics: MetricsPublisher;
  /** Epoch ms until which a write whose answer was lost may be settled (lambda/shared/settle.ts). */
  readonly settleBy: number;
}

/** How a route runs; what it needs and accepts is in its entry of the route table. */
interface RouteHandler {
  /** Whether the route only reads: its rate-limit check and its read then share a round trip. */
  readonly read: boolean | ((body: unknown) => boolean);
  readonly run: (ctx: RouteContext) => Promise<HttpResponse>;
}

/** The route table's entries, by route key. */
const ROUTE_TABLE: ReadonlyMap<string, RouteDefinition> = new Map(ROUTES.map((r) => [routeKey(r), r]));

const param = (request: ApiRequest, name: string, what = name): string => {
  const value = request.pathParameters[name];
  if (value === undefined) throw new ValidationError(`${what} is missing`);
  return validateId(value, what);
};

function ttlOf(ctx: RouteContext, body: Record<string, unknown> | undefined): number | undefined {
  const fromBody = body ? intField(body, 'ttlMs', 1, MAX_TTL_MS) : undefined;
  return (
    fromBody ??
    (ctx.query.ttlMs as number | undefined) ??
    intParam(ctx.request.headers['x-ttl-ms'], 'x-ttl-ms', 1, MAX_TTL_MS)
  );
}

/**
 * Enqueues a job for the caller: its type must be known, allowed to the caller's scopes and its
 * payload valid (checked by the type's definition, the one the worker runs it with).
 */
async function enqueueJob(
  ctx: RouteContext,
  type: string,
  payload: unknown,
  options: { priority?: Priority; delayMs?: number; maxAttempts?: number; idempotencyKey?: string } = {},
) {
  const checked = ctx.services.jobTypes.authorize(type, ctx.scopes, payload);
  return ctx.services.queue.enqueue(
    { tenant: ctx.tenant, type, payload: checked.payload, ...options },
    { settleBy: ctx.settleBy },
  );
}

function cacheRead(ctx: RouteContext, hit: { backend: CacheBackend } | null): void {
  ctx.services.stats.record(ctx.tenant, hit !== null);
  ctx.metrics.add(hit ? METRICS.cacheHit : METRICS.cacheMiss, 1);
  // A miss carries no backend: it counts as served by the fallback while the circuit is open.
  if ((hit?.backend ?? ctx.services.cache.backend) === 'fallback') ctx.metrics.add(METRICS.fallbackServed, 1);
}

/** `x-cache-backend` of a write: where it is stored. */
const writtenTo = (stored: unknown): Record<string, string> => ({
  'x-cache-backend': stored === 'local' ? 'fallback' : 'upstash',
});

const sessionJson = (session: {
  id: string;
  userId: string;
  createdAt: number;
  expiresAt: number;
  data: unknown;
}) => ({
  id: session.id,
  userId: session.userId,
  createdAt: session.createdAt,
  expiresAt: session.expiresAt,
  data: session.data,
});

const ROUTE_HANDLERS: Readonly<Record<string, RouteHandler>> = {
  'GET /cache/{key}': {
    read: true,
    async run(ctx) {
      const key = param(ctx.request, 'key');
      const hit = await ctx.services.cache.get(ctx.tenant, key);
      cacheRead(ctx, hit);
      if (!hit) throw new NotFoundError('no cached value for this key');
      return json(200, { key, value: hit.value }, { 'x-cache-backend': hit.backend });
    },
  },
  'PUT /cache/{key}': {
    read: false,
    async run(ctx) {
      const key = param(ctx.request, 'key');
      const mode = ctx.query.mode;
      const ttlMs = ttlOf(ctx, undefined);
      const stored = await ctx.services.cache.set(ctx.tenant, key, ctx.body, {
        ...(ttlMs !== undefined ? { ttlMs } : {}),
        nx: mode === 'nx',
        xx: mode === 'xx',
      });
      return json(200, { key, stored }, writtenTo(stored));
    },
  },
  'DELETE /cache/{key}': {
    read: false,
    async run(ctx) {
      const key = param(ctx.request, 'key');
      const deleted = await ctx.services.cache.delete(ctx.tenant, key);
      return json(200, { key, deleted }, writtenTo(true));
    },
  },
  'POST /cache/batch': {
    read: (body) => isObject(body) && body.get !== undefined,
    async run(ctx) {
      const body = objectBody(ctx.body, ['get', 'set', 'ttlMs']);
      if ((body.get === undefined) === (body.set === undefined)) {
        throw new ValidationError('send either "get" (a list of keys) or "set" (a list of {key, value})');
      }
      if (body.get !== undefined) {
        const keys = body.get;
        if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_BATCH) {
          throw new ValidationError(`get must be a list of 1 to ${MAX_BATCH} keys`);
        }
        const checked = keys.map((k) => {
          if (typeof k !== 'string') throw new ValidationError('every key in get must be a string');
          return validateId(k);
        });
        const hits = await ctx.services.cache.mget(ctx.tenant, checked);
        const items = checked.map((key, i) => {
          const hit = hits[i] ?? null;
          cacheRead(ctx, hit);
          return hit ? { key, hit: true, value: hit.value } : { key, hit: false };
        });
        return json(200, { items });
      }
      if (!hasScope(ctx.scopes, 'cache:write'))
        throw new ForbiddenError('this key lacks the "cache:write" scope');
      const entries = body.set;
      if (!Array.isArray(entries) || entries.length === 0 || entries.length > MAX_BATCH) {
        throw new ValidationError(`set must be a list of 1 to ${MAX_BATCH} {key, value} entries`);
      }
      const checked = entries.map((entry) => {
        const e = objectBody(entry, ['key', 'value']);
        if (!('value' in e)) throw new ValidationError('every entry in set needs a value');
        return { key: validateId(stringField(e, 'key')), value: e.value };
      });
      const ttlMs = ttlOf(ctx, body);
      const stored = await ctx.services.cache.mset(ctx.tenant, checked, ttlMs !== undefined ? { ttlMs } : {});
      return json(200, { stored: stored === 'local' ? 'local' : checked.length }, writtenTo(stored));
    },
  },
  'POST /cache/invalidate': {
    read: false,
    async run(ctx) {
      const body = objectBody(ctx.body, ['prefix']);
      const prefix = body.prefix;
      if (typeof prefix !== 'string') throw new ValidationError('prefix must be a string ("" for every key)');
      // The cache builds the pattern the job will use, so a prefix it cannot take fails here.
      ctx.services.cache.pattern(ctx.tenant, prefix);
      const job = await enqueueJob(ctx, INVALIDATE_PREFIX, { prefix });
      return json(202, { jobId: job.id }, { location: `/jobs/${job.id}` });
    },
  },
  'POST /sessions': {
    read: false,
    async run(ctx) {
      const body = objectBody(ctx.body, ['userId', 'data']);
      const userId = validateId(stringField(body, 'userId'), 'userId');
      const data = body.data ?? {};
      if (!isObject(data)) throw new ValidationError('data must be a JSON object');
      const session = await ctx.services.sessions.create(
        ctx.tenant,
        userId,
        data as Record<string, JsonValue>,
        { settleBy: ctx.settleBy },
      );
      return json(201, sessionJson(session));
    },
  },
  'GET /sessions/{id}': {
    read: true,
    async run(ctx) {
      const session = await ctx.services.sessions.get(ctx.tenant, param(ctx.request, 'id', 'session id'));
      if (!session) throw new NotFoundError('no such session (it may have expired)');
      return json(200, sessionJson(session));
    },
  },
  'PATCH /sessions/{id}': {
    read: false,
    async run(ctx) {
      const id = param(ctx.request, 'id', 'session id');
      const body = objectBody(ctx.body, ['data', 'remove']);
      const data = body.data ?? {};
      if (!isObject(data)) throw new ValidationError('data must be a JSON object of fields to set');
      const remove = body.remove ?? [];
      if (!Array.isArray(remove) || remove.some((f) => typeof f !== 'string')) {
        throw new ValidationError('remove must be a list of field names');
      }
      const patch: Record<string, JsonValue | undefined> = { ...(data as Record<string, JsonValue>) };
      // setField: a field named __proto__ is removed like any other, not assigned to the prototype.
      for (const field of remove as string[]) setField(patch, field, undefined);
      if (Object.keys(patch).length === 0)
        throw new ValidationError('nothing to change: send data or remove');
      const session = await ctx.services.sessions.update(ctx.tenant, id, patch);
      if (!session) throw new NotFoundError('no such session (it may have expired)');
      return json(200, sessionJson(session));
    },
  },
  'DELETE /sessions/{id}': {
    read: false,
    async run(ctx) {
      const deleted = await ctx.services.sessions.destroy(ctx.tenant, param(ctx.request, 'id', 'session id'));
      return json(200, { deleted });
    },
  },
  'GET /users/{userId}/sessions': {
    read: true,
    async run(ctx) {
      const userId = param(ctx.request, 'userId');
      const sessions = await ctx.services.sessions.list(ctx.tenant, userId);
      return json(200, { userId, sessions: sessions.map(sessionJson) });
    },
  },
  'DELETE /users/{userId}/sessions': {
    read: false,
    async run(ctx) {
      const userId = param(ctx.request, 'userId');
      return json(200, { userId, revoked: await ctx.services.sessions.revokeAll(ctx.tenant, userId) });
    },
  },
  'POST /rate-limits/{name}/check': {
    read: false,
    async run(ctx) {
      const name = param(ctx.request, 'name', 'limit name');
      const limiter = ctx.services.limiters.get(name);
      if (!limiter) throw new NotFoundError(`no rate limit named "${name}" is configured`);
      const body = objectBody(ctx.body, ['identifier', 'cost']);
      const identifier = validateId(stringField(body, 'identifier'), 'identifier');
      const cost = intField(body, 'cost', 1, 1_000_000);
      const result = await limiter.check(ctx.tenant, identifier, cost !== undefined ? { cost } : {});
      return json(200, { name, identifier, ...result });
    },
  },
  'POST /jobs': {
    read: false,
    async run(ctx) {
      const body = objectBody(ctx.body, [
        'type',
        'payload',
        'priority',
        'delayMs',
        'maxAttempts',
        'idempotencyKey',
      ]);
      const type = stringField(body, 'type');
      const priority = body.priority;
      if (priority !== undefined && priority !== 'high' && priority !== 'normal' && priority !== 'low') {
        throw new ValidationError('priority must be "high", "normal" or "low"');
      }
      const delayMs = intField(body, 'delayMs', 0, MAX_TTL_MS);
      const maxAttempts = intField(body, 'maxAttempts', 1, 100);
      const idempotencyKey = stringField(body, 'idempotencyKey', true);
      const job = await enqueueJob(ctx, type, body.payload, {
        ...(priority !== undefined ? { priority: priority as Priority } : {}),
        ...(delayMs !== undefined ? { delayMs } : {}),
        ...(maxAttempts !== undefined ? { maxAttempts } : {}),
        ...(idempotencyKey !== undefined
          ? { idempotencyKey: validateId(idempotencyKey, 'idempotencyKey') }
          : {}),
      });
      return json(
        job.duplicate ? 200 : 202,
        { id: job.id, duplicate: job.duplicate },
        { location: `/jobs/${job.id}` },
      );
    },
  },
  'GET /jobs/{id}': {
    read: true,
    async run(ctx) {
      const status = await ctx.services.queue.status(ctx.tenant, param(ctx.request, 'id', 'job id'));
      if (!status) throw new NotFoundError('no such job');
      return json(200, status);
    },
  },
  'GET /stats': {
    read: true,
    async run(ctx) {
      const [cache, queue] = await Promise.all([
        ctx.services.stats.cacheTotals(ctx.tenant),
        ctx.services.queue.stats(),
      ]);
      return json(200, { tenant: ctx.tenant, cache, queue });
    },
  },
};

/** Route keys the handler serves, for the test that ties them to ROUTES. */
export const HANDLED_ROUTES: readonly string[] = ['GET /health', ...Object.keys(ROUTE_HANDLERS)];

async function health(): Promise<HttpResponse> {
  const databases = await healthCheck();
  // The cache backend is only known once the services exist; health never builds them.
  const services = apiServices.peek();
  const cacheBackend = services ? (await services.catch(() => null))?.cache.backend : undefined;
  const ok = databases.every((d) => d.ok);
  return json(ok ? 200 : 503, {
    status: ok ? 'ok' : 'degraded',
    databases,
    ...(cacheBackend ? { cacheBackend } : {}),
  });
}

/** The body of a request as its route declares it, through the one JSON input path. */
function bodyOf(request: ApiRequest, definition: RouteDefinition): unknown {
  if (!definition.body) {
    if (request.body !== undefined) throw new ValidationError('this route takes no body');
    return undefined;
  }
  return jsonBody(request, config().api.maxBodyBytes, definition.body === 'optional');
}

/**
 * The api limit could not be checked while its circuit is closed (not an outage yet), or its
 * policy is `closed` during one: the route did not run, so nothing was applied.
 */
const limitUnavailable = (cause?: unknown) =>
  new UpstashUnavailableError('rate limits cannot be checked', {
    outcome: 'not-applied',
    ...(cause ? { cause } : {}),
  });

async function dispatch(
  event: APIGatewayProxyEventV2,
  metrics: MetricsPublisher,
  logged: { tenant?: string },
  settleBy: number,
) {
  const request = readRequest(event);
  const cfg = config();
  const cors = { allowOrigins: cfg.api.corsAllowOrigins };
  const answer = preflight(cors, request);
  if (answer) return answer;
  const definition = ROUTE_TABLE.get(request.routeKey);
  const route = ROUTE_HANDLERS[request.routeKey];
  if (definition && request.routeKey === 'GET /health') {
    readQuery(request.query, definition.query);
    bodyOf(request, definition);
    return health();
  }
  if (!definition || !route) throw unmatched(request.method, request.path);
  const principal = principalOf(event);
  if (!principal) throw new UnauthorizedError('this route needs an API key (x-api-key header)');
  logged.tenant = principal.tenant;
  // An authenticated route without a scope in the table is refused, never open.
  if (!definition.scope || !hasScope(principal.scopes, definition.scope)) {
    throw new ForbiddenError(`this key lacks the "${definition.scope}" scope`);
  }
  // Input is checked before any command: a bad request costs nothing and changes nothing.
  const query = readQuery(request.query, definition.query);
  const body = bodyOf(request, definition);

  const svc = await apiServices();
  const ctx: RouteContext = {
    request,
    tenant: principal.tenant,
    services: svc,
    body,
    query,
    scopes: principal.scopes,
    metrics,
    settleBy,
  };
  const limiter = svc.limiters.get(API_LIMIT);
  const flushing = svc.stats.flush();
  try {
    if (!limiter) return await route.run(ctx).catch(errorResponse);
    const read = typeof route.read === 'function' ? route.read(body) : route.read;
    let limit: RateLimitResult;
    let response: HttpResponse | undefined;
    if (read) {
      // Same tick: the check and the read leave together (auto-pipelining). A refused read's
      // result is dropped; a read has nothing to undo. Both settle before the answer: nothing
      // is left running when the handler returns.
      const [checked, routed] = await Promise.allSettled([
        limiter.check(principal.tenant, principal.tenant),
        route.run(ctx).catch(errorResponse),
      ]);
      if (checked.status === 'rejected') {
        const error: unknown = checked.reason;
        throw error instanceof UpstashUnavailableError ? limitUnavailable(error) : error;
      }
      limit = checked.value;
      response = routed.status === 'fulfilled' ? routed.value : errorResponse(routed.reason);
    } else {
      // A write checks first: a refused (or unchecked) write changes nothing.
      limit = await limiter.check(principal.tenant, principal.tenant).catch((error: unknown) => {
        throw error instanceof UpstashUnavailableError ? limitUnavailable(error) : error;
      });
      if (limit.success) response = await route.run(ctx).catch(errorResponse);
    }
    if (limit.reason === 'outage-closed') throw limitUnavailable();
    if (!limit.success || !response) {
      metrics.add(METRICS.rateLimited, 1);
      const headers = rateLimitHeaders(limit, true);
      return json(
        429,
        errorBody('RATE_LIMITED', `rate limit "${API_LIMIT}" exceeded; retry in ${headers['retry-after']} s`),
        headers,
      );
    }
    response.headers = { ...response.headers, ...rateLimitHeaders(limit, false) };
    return response;
  } finally {
    await flushing;
  }
}

/**
 * While a database migrates: finishes this request's shadow comparisons (the container may freeze
 * after the return) and publishes what the routers counted; mismatches are logged by key pattern.
 */
async function publishMigration(): Promise<void> {
  for (const [database, router] of migrationRouters()) {
    await router.settle();
    const { counters, mismatchPatterns } = router.takeDelta();
    if (counters.mismatches > 0) {
      metrics.add(METRICS.shadowMismatches, counters.mismatches);
      logger.warn('shadow mismatch', { database, patterns: mismatchPatterns });
    }
    if (counters.routedUpstash > 0) metrics.add(METRICS.migrationReadsUpstash, counters.routedUpstash);
    if (counters.routedLegacy > 0) metrics.add(METRICS.migrationReadsLegacy, counters.routedLegacy);
    if (counters.legacyFailures > 0) metrics.add(METRICS.migrationLegacyFailures, counters.legacyFailures);
    if (counters.legacySkipped > 0) {
      // The old Redis's circuit is open: its share of the rollout is served by Upstash.
      metrics.add(METRICS.migrationLegacySkipped, counters.legacySkipped);
    }
  }
}

function corsFor(origin: string | undefined): Record<string, string> {
  try {
    return corsHeaders({ allowOrigins: config().api.corsAllowOrigins }, origin);
  } catch {
    return {}; // a broken APP_CONFIG is already reported by the response itself
  }
}

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME || SERVICES.api });
const metrics = new MetricsPublisher({ defaultService: SERVICES.api });

/**
 * Logs a 5xx answer, once: `request failed` at WARN (503) or ERROR (500) with `status`, `code`,
 * `routeKey` and the error that made it (routes answer errors through `errorResponse`, which keeps
 * it: {@link causeOf}); a degraded `/health` names the failing databases instead.
 */
function logFailedRequest(event: APIGatewayProxyEventV2, response: HttpResponse, tenant?: string): void {
  const cause = causeOf(response);
  const fields = {
    status: response.statusCode,
    routeKey: event.routeKey,
    ...(tenant ? { tenant } : {}),
  };
  if (cause !== undefined) {
    logFailure(logger, 'request failed', cause, fields);
    return;
  }
  let body: {
    error?: { code?: string };
    databases?: Array<{ database: string; ok: boolean; error?: string }>;
  };
  try {
    body = JSON.parse(response.body ?? '{}');
  } catch {
    body = {};
  }
  const failing = body.databases?.filter((d) => !d.ok).map(({ database, error }) => ({ database, error }));
  logFailure(logger, 'request failed', undefined, {
    ...fields,
    code: body.error?.code ?? failing?.[0]?.error ?? 'INTERNAL_ERROR',
    ...(failing ? { databases: failing } : {}),
  });
}

/** The Lambda entry: API Gateway HTTP API, payload format 2.0. */
export const handler = async (event: APIGatewayProxyEventV2, context?: Context): Promise<HttpResponse> => {
  const started = performance.now();
  if (context) logger.addContext(context);
  const logged: { tenant?: string } = {};
  // Every Upstash round trip of this request, background ones included, is counted here.
  const usage = new InvocationUsage();
  const budgetMs = context?.getRemainingTimeInMillis() ?? DEFAULT_BUDGET_MS;
  const deadline = Date.now() + Math.max(0, budgetMs - ANSWER_MARGIN_MS);
  let response: HttpResponse;
  try {
    response = await usage.run(() =>
      withRequestDeadline(deadline, () => dispatch(event, metrics, logged, deadline)),
    );
  } catch (error) {
    response = errorResponse(error);
  }
  if (response.statusCode >= 500) logFailedRequest(event, response, logged.tenant);
  response.headers = { ...response.headers, ...corsFor(event.headers?.origin) };
  const latencyMs = Math.round((performance.now() - started) * 10) / 10;
  metrics.add(METRICS.latency, latencyMs);
  await publishMigration();
  metrics.addUsage(usage).publish();
  logger.info('request', {
    routeKey: event.routeKey,
    status: response.statusCode,
    latencyMs,
    ...(logged.tenant ? { tenant: logged.tenant } : {}),
    ...usage.logFields(),
  });
  return response;
};
