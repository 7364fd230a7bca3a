import type { ApiKeyUsage } from '../../services/auth/key-usage';
import type { CacheService } from '../../services/cache/cache-service';
import type { IdempotencyStore, StoredResponse } from '../../services/idempotency/idempotency-store';
import type { JobTypes } from '../../services/queue/job-types';
import type { JobQueue, TypeFilter } from '../../services/queue/queue';
import type { RateLimiter } from '../../services/rate-limit/rate-limiter';
import type { SessionService } from '../../services/sessions/session-service';
import type { StatsService } from '../../services/stats/stats-service';
import { hasScope } from '../../shared/api-keys';
import { ValidationError } from '../../shared/errors';
import { type ApiRequest, type HttpResponse, intParam, type QueryValue } from '../../shared/http';
import { validateId } from '../../shared/keys';
import type { MetricsPublisher } from '../../shared/metrics';
import { MAX_TTL_MS } from '../../shared/routes';
import type { Receipt } from '../../shared/settle';

/**
 * What the api function's routes share: the services of a container, the context a route runs
 * with, and the helpers the route files use. The routes themselves are in ./*-routes.ts, the
 * dispatch (auth, rate limit, idempotency) in ../api.ts.
 */

/** What the routes need; built once per container. */
export interface ApiServices {
  readonly cache: CacheService;
  readonly sessions: SessionService;
  readonly limiters: ReadonlyMap<string, RateLimiter>;
  readonly queue: JobQueue;
  readonly stats: StatsService;
  /** The job types `POST /jobs` accepts, with the scope each needs (built-ins and the app's). */
  readonly jobTypes: JobTypes;
  /** Idempotency records, on the database of the rate limits. */
  readonly idempotency: IdempotencyStore;
  /** The API keys' last-used days, on the same database. */
  readonly keyUsage: ApiKeyUsage;
  /**
   * The services whose creates can write an idempotency record in their own script: those on the
   * records' database.
   */
  readonly receiptsIn: ReadonlySet<'sessions' | 'queue'>;
}

/** What a route handler gets. */
export interface RouteContext {
  readonly request: ApiRequest;
  readonly tenant: string;
  readonly services: ApiServices;
  /** The body, parsed through the one JSON path and checked by the route's schema. */
  readonly body: unknown;
  /** The query parameters the route declares, typed (unknown ones were refused). */
  readonly query: Readonly<Record<string, QueryValue>>;
  /** The caller's scopes (the batch route checks `cache:write` for its writes, jobs their type's). */
  readonly scopes: readonly string[];
  readonly metrics: MetricsPublisher;
  /** Epoch ms until which a write whose answer was lost may be settled (lambda/shared/settle.ts). */
  readonly settleBy: number;
  /**
   * The request's token under an `Idempotency-Key`: a create uses it as the id of what it creates,
   * so a retry that resumes the request re-runs it as a no-op answering the first result.
   * @default - none: creates mint fresh ids
   */
  readonly token?: string;
  /**
   * A receipt that stores this request's answer with a create of `service`, in the create's own
   * script, or `undefined` when there is no `Idempotency-Key` or the service's database is not
   * the records' (the answer is then stored by one command after the route).
   */
  receipt<T>(service: 'sessions' | 'queue', answer: (result: T) => HttpResponse): Receipt<T> | undefined;
}

/** How a route runs; what it needs and accepts is in its entry of the route table. */
export interface RouteHandler {
  /** Whether the route only reads: its rate-limit check and its read then share a round trip. */
  readonly read: boolean | ((body: unknown) => boolean);
  readonly run: (ctx: RouteContext) => Promise<HttpResponse>;
}

/** A path parameter, validated as a client id. */
export const param = (request: ApiRequest, name: string, what = name): string => {
  const value = request.pathParameters[name];
  if (value === undefined) throw new ValidationError(`${what} is missing`);
  return validateId(value, what);
};

/** The TTL of a write: the body's `ttlMs`, else the query's, else the `x-ttl-ms` header. */
export function ttlOf(ctx: RouteContext, fromBody?: number): number | undefined {
  return (
    fromBody ??
    (ctx.query.ttlMs as number | undefined) ??
    intParam(ctx.request.headers['x-ttl-ms'], 'x-ttl-ms', 1, MAX_TTL_MS)
  );
}

/**
 * The job types a caller may act on (cancel, redrive): those enqueueable over HTTP whose scope
 * the caller holds. Types only code enqueues are operators' business.
 */
export const actionableTypes = (ctx: RouteContext): TypeFilter =>
  new Set(
    ctx.services.jobTypes
      .enqueueable()
      .filter((t) => t.scope !== 'operator' && hasScope(ctx.scopes, t.scope))
      .map((t) => t.type),
  );

/** An answer as stored under an Idempotency-Key: the route's own headers, no per-request ones. */
export const storedOf = (response: HttpResponse): StoredResponse => ({
  status: response.statusCode,
  headers: response.headers,
  body: response.body ?? '',
});
