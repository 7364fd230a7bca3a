import { createHash } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { APP_JOB_TYPES } from '../jobs/types';
import { ApiKeyUsage } from '../services/auth/key-usage';
import { CacheService } from '../services/cache/cache-service';
import { IdempotencyStore, type RunClaim } from '../services/idempotency/idempotency-store';
import { BUILTIN_JOB_TYPES } from '../services/queue/job-types';
import { JobQueue } from '../services/queue/queue';
import { RateLimiter, type RateLimitResult } from '../services/rate-limit/rate-limiter';
import { SessionService } from '../services/sessions/session-service';
import { StatsService } from '../services/stats/stats-service';
import { hasScope, SCOPES } from '../shared/api-keys';
import { withRequestDeadline } from '../shared/client';
import { DEFAULTS } from '../shared/config';
import {
  ForbiddenError,
  IdempotencyInFlightError,
  IdempotencyMismatchError,
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
  json,
  jsonBody,
  preflight,
  rateLimitHeaders,
  readQuery,
  readRequest,
  unmatched,
} from '../shared/http';
import { canonicalJson } from '../shared/json';
import { logFailure } from '../shared/log';
import { lazyProperties, memoize } from '../shared/memo';
import { METRICS, SERVICES } from '../shared/metric-definitions';
import { MetricsPublisher } from '../shared/metrics';
import { ROUTES, type RouteDefinition, routeKey } from '../shared/routes';
import { appConfig, healthCheck, keyBuilder, migrationRouters, redisFor } from '../shared/runtime';
import { InvocationUsage } from '../shared/usage';
import { parseWith } from '../shared/validation';
import { CACHE_ROUTES } from './api/cache-routes';
import { type ApiServices, type RouteContext, type RouteHandler, storedOf } from './api/context';
import { JOB_ROUTES } from './api/job-routes';
import { LIMIT_ROUTES } from './api/limit-routes';
import { openApiResponse } from './api/openapi-route';
import { SESSION_ROUTES } from './api/session-routes';

export type { ApiServices } from './api/context';

/**
 * The api function: every route of `lambda/shared/routes.ts`, thin over the services. The route
 * table says what each route needs (its scope) and accepts (query parameters, the valibot schema
 * of its body, checked here before any command); the route handlers (./api/*-routes.ts) call one
 * service and map the result. Errors are mapped in one place (`errorResponse`) and every 5xx is
 * logged once, by the handler, with the error that caused it. Authenticated routes run under the
 * `api` rate limit of the tenant; on reads the check and the read are issued in the same tick, so
 * auto-pipelining sends them in one round trip (two when the cache and the limits live in
 * different databases, in parallel). A write with an `Idempotency-Key` claims it in that same
 * round trip as its limit check (the records live with the limits), and its answer is stored by
 * the create's own script where it can be (sessions, jobs), else by one command after it.
 */

/** The name of the limit every authenticated request runs under, when configured. */
export const API_LIMIT = 'api';
/**
 * Time kept back from the function's deadline for the answer itself: no Upstash request (and no
 * attempt to settle a write whose answer was lost) runs past the rest.
 */
const ANSWER_MARGIN_MS = 1_000;
/** The function's budget when no Lambda context says it (tests, scripts): its CDK timeout. */
const DEFAULT_BUDGET_MS = 10_000;

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
  // Idempotency records and last-used days live with the limits: their commands join the
  // limit check's round trip. A create on that same database writes its record in its script.
  const receiptsIn = new Set<'sessions' | 'queue'>();
  if (sessionRedis === limitRedis) receiptsIn.add('sessions');
  if (queueRedis === limitRedis) receiptsIn.add('queue');
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
    jobTypes: () => BUILTIN_JOB_TYPES.with(...APP_JOB_TYPES),
    idempotency: () => new IdempotencyStore({ redis: limitRedis, keys, ...cfg.idempotency }),
    keyUsage: () => new ApiKeyUsage({ redis: limitRedis, keys }),
    receiptsIn: () => receiptsIn,
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
  /** The API key's id (its last-used day is recorded), when an API key authorized the call. */
  readonly keyId?: string;
  /** Epoch ms of the key's expiry, when it has one. */
  readonly expiresAt?: number;
}

function principalOf(event: APIGatewayProxyEventV2): Principal | null {
  const authorizer = (event.requestContext as { authorizer?: Record<string, unknown> }).authorizer;
  const lambda = authorizer?.lambda as
    | { tenant?: unknown; scopes?: unknown; keyId?: unknown; expiresAt?: unknown }
    | undefined;
  if (lambda && typeof lambda.tenant === 'string' && lambda.tenant !== '') {
    const scopes = typeof lambda.scopes === 'string' ? lambda.scopes.split(' ').filter(Boolean) : [];
    const expiresAt = Number(lambda.expiresAt);
    return {
      tenant: lambda.tenant,
      scopes,
      ...(typeof lambda.keyId === 'string' && lambda.keyId !== '' ? { keyId: lambda.keyId } : {}),
      ...(lambda.expiresAt !== undefined && Number.isFinite(expiresAt) ? { expiresAt } : {}),
    };
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

/** The route table's entries, by route key. */
const ROUTE_TABLE: ReadonlyMap<string, RouteDefinition> = new Map(ROUTES.map((r) => [routeKey(r), r]));

const ROUTE_HANDLERS: Readonly<Record<string, RouteHandler>> = {
  ...CACHE_ROUTES,
  ...SESSION_ROUTES,
  ...LIMIT_ROUTES,
  ...JOB_ROUTES,
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

/** The public routes, answered without a tenant. */
const PUBLIC_ROUTES: Readonly<Record<string, () => Promise<HttpResponse>>> = {
  'GET /health': health,
  'GET /openapi.json': openApiResponse,
};

/** Route keys the handler serves, for the test that ties them to ROUTES. */
export const HANDLED_ROUTES: readonly string[] = [
  ...Object.keys(PUBLIC_ROUTES),
  ...Object.keys(ROUTE_HANDLERS),
];

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

/**
 * The body of a request as its route declares it: through the one JSON input path, then its
 * route's valibot schema.
 */
function bodyOf(request: ApiRequest, definition: RouteDefinition): unknown {
  if (!definition.body) {
    if (request.body !== undefined) throw new ValidationError('this route takes no body');
    return undefined;
  }
  return parseWith(definition.body, jsonBody(request, config().api.maxBodyBytes));
}

/**
 * What makes two requests "the same" under an Idempotency-Key: route, path, query, the TTL header
 * and the body (key order and whitespace aside).
 */
function fingerprintOf(request: ApiRequest, body: unknown): string {
  const query = Object.entries(request.query).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const parts = [request.routeKey, request.path, query, request.headers['x-ttl-ms'] ?? null];
  return createHash('sha256')
    .update(JSON.stringify(parts))
    .update('\n')
    .update(body === undefined ? '' : canonicalJson(body))
    .digest('base64url');
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

/** A refusal of the api limit: 429 with its headers. */
function limited(limit: RateLimitResult, metrics: MetricsPublisher): HttpResponse {
  metrics.add(METRICS.rateLimited, 1);
  const headers = rateLimitHeaders(limit, true);
  return json(
    429,
    errorBody('RATE_LIMITED', `rate limit "${API_LIMIT}" exceeded; retry in ${headers['retry-after']} s`),
    headers,
  );
}

/** Best effort: a claim that cannot be released or paused ends with its lease. */
const quietly = (work: Promise<unknown>): Promise<void> =>
  work.then(
    () => undefined,
    () => undefined,
  );

/**
 * Runs a write whose `Idempotency-Key` this request claimed, and keeps its answer: a success is
 * stored (by the route's create script when it could, else by one SET); a refusal (4xx: nothing
 * was changed) releases the claim, so it leaves nothing behind either; a 5xx releases it when
 * nothing was applied (a retry starts afresh) or pauses it when the outcome is unknown (a retry
 * resumes at once with the same token, so a create is never done twice).
 */
async function runClaimed(ctx: RouteContext, route: RouteHandler, claim: RunClaim): Promise<HttpResponse> {
  let recorded = false;
  const claimed: RouteContext = {
    ...ctx,
    token: claim.token,
    receipt: (service, answer) =>
      ctx.services.receiptsIn.has(service)
        ? ctx.services.idempotency.receipt(
            claim,
            (result) => storedOf(answer(result as never)),
            () => {
              recorded = true;
            },
          )
        : undefined,
  };
  const response = await route.run(claimed).catch(errorResponse);
  const store = ctx.services.idempotency;
  if (response.statusCode >= 400 && response.statusCode < 500) {
    await quietly(store.release(claim));
    return response;
  }
  if (response.statusCode < 400) {
    if (!recorded) {
      // The route did its work: its answer goes back even when it cannot be stored (a retry
      // after the lease then runs it again, with the same token).
      await store.complete(claim, storedOf(response)).catch((error: unknown) => {
        logger.warn('idempotency record not stored', { routeKey: ctx.request.routeKey, error });
      });
    }
    return response;
  }
  const cause = causeOf(response);
  const applied = cause instanceof UpstashUnavailableError ? cause.outcome : 'unknown';
  await quietly(applied === 'not-applied' ? store.release(claim) : store.pause(claim));
  return response;
}

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
  const open = PUBLIC_ROUTES[request.routeKey];
  if (definition && open) {
    readQuery(request.query, definition.query);
    bodyOf(request, definition);
    return open();
  }
  const route = ROUTE_HANDLERS[request.routeKey];
  if (!definition || !route) throw unmatched(request.method, request.path);
  const principal = principalOf(event);
  if (!principal) throw new UnauthorizedError('this route needs an API key (x-api-key header)');
  logged.tenant = principal.tenant;
  // API Gateway caches the authorizer's decision: an expiry takes effect here, at once.
  if (principal.expiresAt !== undefined && principal.expiresAt <= Date.now()) {
    throw new UnauthorizedError('this API key has expired');
  }
  // An authenticated route without a scope in the table is refused, never open.
  if (!definition.scope || !hasScope(principal.scopes, definition.scope)) {
    throw new ForbiddenError(`this key lacks the "${definition.scope}" scope`);
  }
  // Input is checked before any command: a bad request costs nothing and changes nothing.
  const query = readQuery(request.query, definition.query);
  const body = bodyOf(request, definition);
  const read = typeof route.read === 'function' ? route.read(body) : route.read;
  const header = request.method === 'GET' ? undefined : request.headers['idempotency-key'];
  // A write's Idempotency-Key; a batch read ignores it (it changes nothing, so a retry is safe).
  const idempotencyKey = read ? undefined : header;

  const svc = await apiServices();
  // Checked before any command, on every route that takes one.
  if (header !== undefined) svc.idempotency.recordKey(principal.tenant, header);
  const ctx: RouteContext = {
    request,
    tenant: principal.tenant,
    services: svc,
    body,
    query,
    scopes: principal.scopes,
    metrics,
    settleBy,
    receipt: () => undefined,
  };
  const limiter = svc.limiters.get(API_LIMIT);
  const flushing = svc.stats.flush();
  // The key's last-used day: at most one write a day per container, in this round trip.
  const touching = principal.keyId !== undefined ? svc.keyUsage.touch(principal.keyId) : null;
  try {
    if (read) {
      if (!limiter) return await route.run(ctx).catch(errorResponse);
      // Same tick: the check and the read leave together (auto-pipelining). A refused read's
      // result is dropped; a read has nothing to undo. Both settle before the answer: nothing
      // is left running when the handler returns.
      const [checked, routed] = await Promise.allSettled([
        limiter.check(principal.tenant, principal.tenant),
        route.run(ctx).catch(errorResponse),
      ]);
      if (checked.status === 'rejected') throw unavailableLimit(checked.reason);
      const limit = checked.value;
      if (limit.reason === 'outage-closed') throw limitUnavailable();
      if (!limit.success) return limited(limit, metrics);
      const response = routed.status === 'fulfilled' ? routed.value : errorResponse(routed.reason);
      return withLimitHeaders(response, limit);
    }

    // A write checks its limit first, so a refused (or unchecked) write changes nothing. Its
    // Idempotency-Key is claimed in the same tick: the same round trip.
    const leaseMs = Math.max(1_000, settleBy - Date.now() + ANSWER_MARGIN_MS);
    const fingerprint = idempotencyKey !== undefined ? fingerprintOf(request, body) : '';
    const [checked, claimed] = await Promise.allSettled([
      limiter ? limiter.check(principal.tenant, principal.tenant) : Promise.resolve(undefined),
      idempotencyKey !== undefined
        ? svc.idempotency.begin(principal.tenant, idempotencyKey, fingerprint, leaseMs)
        : Promise.resolve(undefined),
    ]);
    const claim = claimed.status === 'fulfilled' ? claimed.value : undefined;
    const limit = checked.status === 'fulfilled' ? checked.value : undefined;
    const proceeds =
      checked.status === 'fulfilled' && (!limit || (limit.success && limit.reason !== 'outage-closed'));
    if (!proceeds && claim?.state === 'run') await quietly(svc.idempotency.release(claim));
    if (checked.status === 'rejected') throw unavailableLimit(checked.reason);
    if (limit?.reason === 'outage-closed') throw limitUnavailable();
    if (limit && !limit.success) return limited(limit, metrics);
    // The claim failed: the route did not run.
    if (claimed.status === 'rejected')
      throw unavailableLimit(claimed.reason, 'idempotency keys cannot be checked');
    let response: HttpResponse;
    if (!claim) response = await route.run(ctx).catch(errorResponse);
    else if (claim.state === 'run') response = await runClaimed(ctx, route, claim);
    else if (claim.state === 'replay') {
      response = {
        statusCode: claim.response.status,
        headers: { ...claim.response.headers, 'idempotent-replayed': 'true' },
        body: claim.response.body,
      };
    } else if (claim.state === 'busy') {
      response = errorResponse(
        new IdempotencyInFlightError('a request with this Idempotency-Key is still running; retry shortly'),
      );
    } else {
      response = errorResponse(
        new IdempotencyMismatchError(
          'this Idempotency-Key was used by a different request (method, path, query or body); use a new key',
        ),
      );
    }
    return limit ? withLimitHeaders(response, limit) : response;
  } finally {
    await Promise.all([flushing, touching]);
  }
}

function withLimitHeaders(response: HttpResponse, limit: RateLimitResult): HttpResponse {
  response.headers = { ...response.headers, ...rateLimitHeaders(limit, false) };
  return response;
}

/** A check that threw: an outage answers 503 not-applied (the route did not run). */
const unavailableLimit = (error: unknown, message?: string): unknown =>
  error instanceof UpstashUnavailableError
    ? message
      ? new UpstashUnavailableError(message, { outcome: 'not-applied', cause: error })
      : limitUnavailable(error)
    : error;

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
