import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { type CacheBackend, CacheService } from '../services/cache/cache-service';
import { OPERATOR_JOB_PREFIX } from '../services/migration/job-types';
import { INVALIDATE_PREFIX, JobQueue, type Priority } from '../services/queue';
import {
  type Algorithm,
  type OutagePolicy,
  RateLimiter,
  type RateLimitResult,
} from '../services/rate-limit/rate-limiter';
import { type JsonValue, SessionService } from '../services/sessions/session-service';
import { StatsService } from '../services/stats/stats-service';
import { hasScope, SCOPES, type Scope } from '../shared/api-keys';
import { withRequestDeadline } from '../shared/client';
import {
  ForbiddenError,
  NotFoundError,
  UnauthorizedError,
  UpstashUnavailableError,
  ValidationError,
} from '../shared/errors';
import {
  type ApiRequest,
  corsHeaders,
  errorBody,
  errorResponse,
  type HttpResponse,
  intField,
  intParam,
  isObject,
  json,
  jsonBody,
  objectBody,
  preflight,
  rateLimitHeaders,
  readRequest,
  stringField,
  unmatched,
} from '../shared/http';
import { validateId } from '../shared/keys';
import { appConfig, healthCheck, keyBuilder, migrationRouters, redisFor } from '../shared/runtime';

/**
 * The api function: every route of `lambda/shared/routes.ts`, thin over the services. Each route
 * parses and validates its input, calls one service, and maps the result; errors are mapped in
 * one place (`errorResponse`). Authenticated routes run under the `api` rate limit of the tenant;
 * on reads the check and the read are issued in the same tick, so auto-pipelining sends them in
 * one round trip (two when the cache and the limits live in different databases, in parallel).
 */

/** The slice of `APP_CONFIG` this function reads (see lib/config.ts `runtimeConfig`). */
interface ApiAppConfig {
  readonly rateLimits?: Record<
    string,
    { algorithm: Algorithm; limit: number; windowMs: number; refillRate?: number; outage?: OutagePolicy }
  >;
  readonly sessions?: { idleTtlMs?: number; absoluteTtlMs?: number; maxPerUser?: number };
  readonly cache?: {
    defaultTtlMs?: number;
    maxValueBytes?: number;
    fallback?: boolean;
    localWrites?: boolean;
  };
  readonly auth?: { type?: string; tenantClaim?: string };
  readonly api?: { maxBodyBytes?: number; corsAllowOrigins?: string[] };
}

/** The name of the limit every authenticated request runs under, when configured. */
export const API_LIMIT = 'api';
const MAX_BATCH = 100;
const MAX_TTL_MS = 365 * 86_400_000;
const DEFAULT_MAX_BODY = 1_048_576;
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
}

const config = (): ApiAppConfig => appConfig() as ApiAppConfig;

async function buildServices(): Promise<ApiServices> {
  const keys = keyBuilder();
  const cfg = config();
  const [cacheRedis, sessionRedis, limitRedis, queueRedis] = await Promise.all([
    redisFor('cache'),
    redisFor('sessions'),
    redisFor('rateLimit'),
    redisFor('queue'),
  ]);
  const limiters = new Map<string, RateLimiter>();
  for (const [name, limit] of Object.entries(cfg.rateLimits ?? {})) {
    limiters.set(name, new RateLimiter({ redis: limitRedis, keys, name, ...limit }));
  }
  return {
    cache: new CacheService({ redis: cacheRedis, keys, ...cfg.cache }),
    sessions: new SessionService({ redis: sessionRedis, keys, ...cfg.sessions }),
    limiters,
    queue: new JobQueue({ redis: queueRedis, keys }),
    stats: new StatsService({ redis: cacheRedis, keys }),
  };
}

let services: Promise<ApiServices> | undefined;

/** The services of this container: built on first use, rebuilt after a failed build. */
export function apiServices(): Promise<ApiServices> {
  if (!services) {
    const building = buildServices();
    services = building;
    building.catch(() => {
      if (services === building) services = undefined;
    });
  }
  return services;
}

/** Test-only: forget the services, as a new container would. */
export function resetApiForTests(): void {
  services = undefined;
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
    const tenant = jwt.claims[config().auth?.tenantClaim ?? 'tenant'];
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
  /** The parsed JSON body (checked for size and type once). */
  readonly body: unknown;
  /** The caller's scopes (the batch route checks `cache:write` for its writes). */
  readonly scopes: readonly string[];
  readonly metrics: Metrics;
  /** Epoch ms until which a write whose answer was lost may be settled (lambda/shared/settle.ts). */
  readonly settleBy: number;
}

interface RouteHandler {
  /** The scope a key needs. */
  readonly scope: Scope;
  /** Whether the route only reads: its rate-limit check and its read then share a round trip. */
  readonly read: boolean | ((body: unknown) => boolean);
  /** Whether the route takes a body (others reject one). */
  readonly body?: 'required' | 'optional';
  readonly run: (ctx: RouteContext) => Promise<HttpResponse>;
}

const param = (request: ApiRequest, name: string, what = name): string => {
  const value = request.pathParameters[name];
  if (value === undefined) throw new ValidationError(`${what} is missing`);
  return validateId(value, what);
};

function ttlOf(request: ApiRequest, body: Record<string, unknown> | undefined): number | undefined {
  const fromBody = body ? intField(body, 'ttlMs', 1, MAX_TTL_MS) : undefined;
  return (
    fromBody ??
    intParam(request.query.ttlMs, 'ttlMs', 1, MAX_TTL_MS) ??
    intParam(request.headers['x-ttl-ms'], 'x-ttl-ms', 1, MAX_TTL_MS)
  );
}

function cacheRead(ctx: RouteContext, hit: { backend: CacheBackend } | null): void {
  ctx.services.stats.record(ctx.tenant, hit !== null);
  ctx.metrics.addMetric(hit ? 'CacheHit' : 'CacheMiss', MetricUnit.Count, 1);
  if (hit?.backend === 'fallback') ctx.metrics.addMetric('FallbackServed', MetricUnit.Count, 1);
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
    scope: 'cache:read',
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
    scope: 'cache:write',
    read: false,
    body: 'required',
    async run(ctx) {
      const key = param(ctx.request, 'key');
      const mode = ctx.request.query.mode;
      if (mode !== undefined && mode !== 'nx' && mode !== 'xx') {
        throw new ValidationError('mode must be "nx" (only if absent) or "xx" (only if present)');
      }
      const ttlMs = ttlOf(ctx.request, undefined);
      const stored = await ctx.services.cache.set(ctx.tenant, key, ctx.body, {
        ...(ttlMs !== undefined ? { ttlMs } : {}),
        nx: mode === 'nx',
        xx: mode === 'xx',
      });
      return json(200, { key, stored }, writtenTo(stored));
    },
  },
  'DELETE /cache/{key}': {
    scope: 'cache:write',
    read: false,
    async run(ctx) {
      const key = param(ctx.request, 'key');
      const deleted = await ctx.services.cache.delete(ctx.tenant, key);
      return json(200, { key, deleted }, writtenTo(true));
    },
  },
  'POST /cache/batch': {
    scope: 'cache:read',
    read: (body) => isObject(body) && body.get !== undefined,
    body: 'required',
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
      const ttlMs = ttlOf(ctx.request, body);
      const stored = await ctx.services.cache.mset(ctx.tenant, checked, ttlMs !== undefined ? { ttlMs } : {});
      return json(200, { stored: stored === 'local' ? 'local' : checked.length }, writtenTo(stored));
    },
  },
  'POST /cache/invalidate': {
    scope: 'cache:write',
    read: false,
    body: 'required',
    async run(ctx) {
      const body = objectBody(ctx.body, ['prefix']);
      const prefix = body.prefix;
      if (typeof prefix !== 'string') throw new ValidationError('prefix must be a string ("" for every key)');
      // Validates the prefix the way the job will use it, so a bad one fails here, not later.
      keyBuilder().pattern('cache', ctx.tenant, prefix);
      const job = await ctx.services.queue.enqueue(
        { tenant: ctx.tenant, type: INVALIDATE_PREFIX, payload: { prefix } },
        { settleBy: ctx.settleBy },
      );
      return json(202, { jobId: job.id }, { location: `/jobs/${job.id}` });
    },
  },
  'POST /sessions': {
    scope: 'sessions:write',
    read: false,
    body: 'required',
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
    scope: 'sessions:read',
    read: true,
    async run(ctx) {
      const session = await ctx.services.sessions.get(ctx.tenant, param(ctx.request, 'id', 'session id'));
      if (!session) throw new NotFoundError('no such session (it may have expired)');
      return json(200, sessionJson(session));
    },
  },
  'PATCH /sessions/{id}': {
    scope: 'sessions:write',
    read: false,
    body: 'required',
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
      for (const field of remove as string[]) patch[field] = undefined;
      if (Object.keys(patch).length === 0)
        throw new ValidationError('nothing to change: send data or remove');
      const session = await ctx.services.sessions.update(ctx.tenant, id, patch);
      if (!session) throw new NotFoundError('no such session (it may have expired)');
      return json(200, sessionJson(session));
    },
  },
  'DELETE /sessions/{id}': {
    scope: 'sessions:write',
    read: false,
    async run(ctx) {
      const deleted = await ctx.services.sessions.destroy(ctx.tenant, param(ctx.request, 'id', 'session id'));
      return json(200, { deleted });
    },
  },
  'GET /users/{userId}/sessions': {
    scope: 'sessions:read',
    read: true,
    async run(ctx) {
      const userId = param(ctx.request, 'userId');
      const sessions = await ctx.services.sessions.list(ctx.tenant, userId);
      return json(200, { userId, sessions: sessions.map(sessionJson) });
    },
  },
  'DELETE /users/{userId}/sessions': {
    scope: 'sessions:write',
    read: false,
    async run(ctx) {
      const userId = param(ctx.request, 'userId');
      return json(200, { userId, revoked: await ctx.services.sessions.revokeAll(ctx.tenant, userId) });
    },
  },
  'POST /rate-limits/{name}/check': {
    scope: 'rate-limits',
    read: false,
    body: 'required',
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
    scope: 'jobs',
    read: false,
    body: 'required',
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
      if (type.startsWith(OPERATOR_JOB_PREFIX)) {
        throw new ForbiddenError(
          `job types "${OPERATOR_JOB_PREFIX}*" act on every tenant's data: operators enqueue them`,
        );
      }
      const priority = body.priority;
      if (priority !== undefined && priority !== 'high' && priority !== 'normal' && priority !== 'low') {
        throw new ValidationError('priority must be "high", "normal" or "low"');
      }
      const delayMs = intField(body, 'delayMs', 0, MAX_TTL_MS);
      const maxAttempts = intField(body, 'maxAttempts', 1, 100);
      const idempotencyKey = stringField(body, 'idempotencyKey', true);
      const job = await ctx.services.queue.enqueue(
        {
          tenant: ctx.tenant,
          type,
          payload: body.payload,
          ...(priority !== undefined ? { priority: priority as Priority } : {}),
          ...(delayMs !== undefined ? { delayMs } : {}),
          ...(maxAttempts !== undefined ? { maxAttempts } : {}),
          ...(idempotencyKey !== undefined
            ? { idempotencyKey: validateId(idempotencyKey, 'idempotencyKey') }
            : {}),
        },
        { settleBy: ctx.settleBy },
      );
      return json(
        job.duplicate ? 200 : 202,
        { id: job.id, duplicate: job.duplicate },
        { location: `/jobs/${job.id}` },
      );
    },
  },
  'GET /jobs/{id}': {
    scope: 'jobs',
    read: true,
    async run(ctx) {
      const status = await ctx.services.queue.status(ctx.tenant, param(ctx.request, 'id', 'job id'));
      if (!status) throw new NotFoundError('no such job');
      return json(200, status);
    },
  },
  'GET /stats': {
    scope: 'stats',
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
  const cacheBackend = services ? (await services.catch(() => null))?.cache.backend : undefined;
  const ok = databases.every((d) => d.ok);
  return json(ok ? 200 : 503, {
    status: ok ? 'ok' : 'degraded',
    databases,
    ...(cacheBackend ? { cacheBackend } : {}),
  });
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
  metrics: Metrics,
  logged: { tenant?: string },
  settleBy: number,
) {
  const request = readRequest(event);
  const cfg = config();
  const cors = { allowOrigins: cfg.api?.corsAllowOrigins ?? [] };
  const answer = preflight(cors, request);
  if (answer) return answer;
  if (request.routeKey === 'GET /health') return health();
  const route = ROUTE_HANDLERS[request.routeKey];
  if (!route) throw unmatched(request.method, request.path);
  const principal = principalOf(event);
  if (!principal) throw new UnauthorizedError('this route needs an API key (x-api-key header)');
  logged.tenant = principal.tenant;
  if (!hasScope(principal.scopes, route.scope)) {
    throw new ForbiddenError(`this key lacks the "${route.scope}" scope`);
  }
  // Input is checked before any command: a bad request costs nothing and changes nothing.
  const maxBody = cfg.api?.maxBodyBytes ?? DEFAULT_MAX_BODY;
  let body: unknown;
  if (route.body) body = jsonBody(request, maxBody, route.body === 'optional');
  else if (request.body !== undefined) throw new ValidationError('this route takes no body');

  const svc = await apiServices();
  const ctx: RouteContext = {
    request,
    tenant: principal.tenant,
    services: svc,
    body,
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
      metrics.addMetric('RateLimited', MetricUnit.Count, 1);
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
      metrics.addMetric('ShadowMismatches', MetricUnit.Count, counters.mismatches);
      logger.warn('shadow mismatch', { database, patterns: mismatchPatterns });
    }
    if (counters.routedUpstash > 0)
      metrics.addMetric('MigrationReadsUpstash', MetricUnit.Count, counters.routedUpstash);
    if (counters.routedLegacy > 0)
      metrics.addMetric('MigrationReadsLegacy', MetricUnit.Count, counters.routedLegacy);
    if (counters.legacyFailures > 0) {
      metrics.addMetric('MigrationLegacyFailures', MetricUnit.Count, counters.legacyFailures);
    }
    if (counters.legacySkipped > 0) {
      // The old Redis's circuit is open: its share of the rollout is served by Upstash.
      metrics.addMetric('MigrationLegacySkipped', MetricUnit.Count, counters.legacySkipped);
    }
  }
}

function corsFor(origin: string | undefined): Record<string, string> {
  try {
    return corsHeaders({ allowOrigins: config().api?.corsAllowOrigins ?? [] }, origin);
  } catch {
    return {}; // a broken APP_CONFIG is already reported by the response itself
  }
}

/** The `error.code` of a JSON error response. */
function errorCodeOf(response: HttpResponse): string | undefined {
  try {
    const code = (JSON.parse(String(response.body)) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME || 'api' });
const metrics = new Metrics({ serviceName: process.env.POWERTOOLS_SERVICE_NAME || 'api' });

/** The Lambda entry: API Gateway HTTP API, payload format 2.0. */
export const handler = async (event: APIGatewayProxyEventV2, context?: Context): Promise<HttpResponse> => {
  const started = performance.now();
  if (context) logger.addContext(context);
  const logged: { tenant?: string } = {};
  const budgetMs = context?.getRemainingTimeInMillis() ?? DEFAULT_BUDGET_MS;
  const deadline = Date.now() + Math.max(0, budgetMs - ANSWER_MARGIN_MS);
  let response: HttpResponse;
  let thrown: unknown;
  try {
    response = await withRequestDeadline(deadline, () => dispatch(event, metrics, logged, deadline));
  } catch (error) {
    thrown = error;
    response = errorResponse(error);
  }
  // Every 5xx once: WARN for 503 (an outage the client may retry), ERROR for the rest.
  if (response.statusCode >= 500) {
    const fields = { status: response.statusCode, code: errorCodeOf(response), routeKey: event.routeKey };
    if (response.statusCode === 503) logger.warn('request failed', fields);
    else logger.error('request failed', { ...fields, ...(thrown ? { error: thrown as Error } : {}) });
  }
  response.headers = { ...response.headers, ...corsFor(event.headers?.origin) };
  const latencyMs = Math.round((performance.now() - started) * 10) / 10;
  metrics.addMetric('Latency', MetricUnit.Milliseconds, latencyMs);
  await publishMigration();
  metrics.publishStoredMetrics();
  logger.info('request', {
    routeKey: event.routeKey,
    status: response.statusCode,
    latencyMs,
    ...(logged.tenant ? { tenant: logged.tenant } : {}),
  });
  return response;
};
