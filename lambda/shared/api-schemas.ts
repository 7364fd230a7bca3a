import * as v from 'valibot';
import { MAX_ID_BYTES } from './keys';
import { fields, id, jsonObject, keyPrefix, oneOf, wholeNumber } from './validation';

/**
 * The valibot schemas of the HTTP API: what each route's body must be (enforced by the api
 * function before any command) and what its answers hold (published in the OpenAPI document and
 * checked against every answer of the end-to-end suite). The route table (./routes.ts) names them.
 */

/** Longest TTL or delay a request may ask for: one year, in ms. */
export const MAX_TTL_MS = 365 * 86_400_000;

/** Most keys in one batch. */
export const MAX_BATCH = 100;

const ttlMs = wholeNumber('ttlMs', 1, MAX_TTL_MS, 'time to live in ms');
const key = id(
  'key',
  `a cache key: 1-${MAX_ID_BYTES} bytes of UTF-8, none of * ? [ ] \\ or control characters`,
);
const epochMs = (description: string) => v.pipe(v.number(), v.description(description));
const json = v.pipe(v.unknown(), v.description('any JSON value'));

// ---------------------------------------------------------------- request bodies

/** `PUT /cache/{key}`: the value itself, any JSON. */
export const CacheValueBody = v.pipe(v.unknown(), v.description('the value to cache: any JSON value'));

/** `POST /cache/batch`: `get` or `set`, not both. */
export const CacheBatchBody = v.pipe(
  fields({
    get: v.optional(
      v.pipe(
        v.array(key, `get must be a list of 1 to ${MAX_BATCH} keys`),
        v.minLength(1, `get must be a list of 1 to ${MAX_BATCH} keys`),
        v.maxLength(MAX_BATCH, `get must be a list of 1 to ${MAX_BATCH} keys`),
        v.description('keys to read'),
      ),
    ),
    set: v.optional(
      v.pipe(
        v.array(
          fields({ key, value: v.pipe(v.unknown(), v.description('any JSON value')) }, 'every entry in set'),
          `set must be a list of 1 to ${MAX_BATCH} {key, value} entries`,
        ),
        v.minLength(1, `set must be a list of 1 to ${MAX_BATCH} {key, value} entries`),
        v.maxLength(MAX_BATCH, `set must be a list of 1 to ${MAX_BATCH} {key, value} entries`),
        v.description('entries to write'),
      ),
    ),
    ttlMs: v.optional(ttlMs),
  }),
  v.check(
    (body) => (body.get === undefined) !== (body.set === undefined),
    'send either "get" (a list of keys) or "set" (a list of {key, value})',
  ),
  v.check(
    (body) => body.set === undefined || body.set.every((entry) => 'value' in entry),
    'every entry in set needs a value',
  ),
  v.description('either get (a read: needs cache:read) or set (a write: needs cache:write too)'),
);

/** `POST /cache/invalidate`. */
export const InvalidateBody = fields({
  prefix: keyPrefix('delete the values whose key starts with it ("" for all)'),
});

const sessionData = jsonObject('data must be a JSON object', 'named fields, each any JSON value');

/** `POST /sessions`. */
export const CreateSessionBody = fields({ userId: id('userId'), data: v.optional(sessionData) });

/** `PATCH /sessions/{id}`. */
export const UpdateSessionBody = v.pipe(
  fields({
    data: v.optional(jsonObject('data must be a JSON object of fields to set', 'fields to set')),
    remove: v.optional(
      v.pipe(
        v.array(v.string('remove must be a list of field names'), 'remove must be a list of field names'),
        v.description('fields to remove'),
      ),
    ),
  }),
  v.check(
    (body) => Object.keys((body.data ?? {}) as object).length > 0 || (body.remove ?? []).length > 0,
    'nothing to change: send data or remove',
  ),
);

const cost = wholeNumber('cost', 1, 1_000_000, 'tokens');

/** `POST /rate-limits/{name}/check`. */
export const CheckLimitBody = fields({
  identifier: id('identifier', 'whom the limit counts: a user, an IP, an API key'),
  cost: v.optional(v.pipe(cost, v.description('tokens this request takes (default 1)'))),
});

/** `POST /rate-limits/{name}/refund`. */
export const RefundLimitBody = fields({
  identifier: id('identifier', 'whom the limit counts'),
  cost: v.optional(v.pipe(cost, v.description('tokens to give back (default 1); never more than were used'))),
});

/** `POST /jobs`. */
export const EnqueueBody = fields({
  type: v.pipe(
    v.string('type must be a non-empty string'),
    v.minLength(1, 'type must be a non-empty string'),
  ),
  payload: v.optional(v.pipe(v.unknown(), v.description("checked by the job type's definition"))),
  priority: v.optional(oneOf('priority', ['high', 'normal', 'low'] as const)),
  delayMs: v.optional(wholeNumber('delayMs', 0, MAX_TTL_MS, 'wait this long before running, in ms')),
  maxAttempts: v.optional(wholeNumber('maxAttempts', 1, 100, 'deliveries before the dead letters')),
  idempotencyKey: v.optional(id('idempotencyKey', 'another enqueue with it answers the first job')),
});

/** `POST /jobs/redrive`. */
export const RedriveBody = fields({
  type: v.pipe(
    v.string('type must be a non-empty string'),
    v.minLength(1, 'type must be a non-empty string'),
    v.description('every dead letter of this type (of the tenant) runs again'),
  ),
});

// ---------------------------------------------------------------- responses

/** The body of every error the api function answers. */
export const ErrorResponse = v.strictObject({
  error: v.strictObject({
    code: v.pipe(v.string(), v.description('machine-readable, e.g. VALIDATION_ERROR')),
    message: v.string(),
    outcome: v.optional(
      v.pipe(
        v.picklist(['not-applied', 'unknown']),
        v.description('503 only: what became of the request (docs/api.md, What a 503 means)'),
      ),
    ),
  }),
});

/** What API Gateway answers itself to a request without a valid key (401/403). */
export const GatewayErrorResponse = v.strictObject({ message: v.string() });

export const HealthResponse = v.strictObject({
  status: v.picklist(['ok', 'degraded']),
  databases: v.array(
    v.strictObject({
      database: v.string(),
      ok: v.boolean(),
      latencyMs: v.nullable(v.number()),
      error: v.optional(v.string()),
    }),
  ),
  cacheBackend: v.optional(v.picklist(['upstash', 'fallback'])),
});

export const CacheValueResponse = v.strictObject({ key: v.string(), value: json });
export const CacheStoredResponse = v.strictObject({
  key: v.string(),
  stored: v.pipe(
    v.union([v.boolean(), v.literal('local')]),
    v.description('true stored; false prevented by nx/xx; "local" only in this container (an outage)'),
  ),
});
export const CacheDeletedResponse = v.strictObject({ key: v.string(), deleted: v.boolean() });
export const CacheBatchResponse = v.union([
  v.strictObject({
    items: v.array(v.strictObject({ key: v.string(), hit: v.boolean(), value: v.optional(json) })),
  }),
  v.strictObject({ stored: v.union([v.number(), v.literal('local')]) }),
]);
export const InvalidateResponse = v.strictObject({ jobId: v.string() });
export const NamespaceInvalidatedResponse = v.strictObject({
  namespace: v.string(),
  invalidated: v.literal(true),
});

export const SessionResponse = v.strictObject({
  id: v.pipe(v.string(), v.description('the session id: a bearer credential, keep it secret')),
  userId: v.string(),
  createdAt: epochMs('creation, epoch ms'),
  expiresAt: epochMs('absolute expiry, epoch ms: the session ends then whatever its activity'),
  idleExpiresAt: epochMs('idle expiry, epoch ms: each read or update moves it (never past expiresAt)'),
  data: v.record(v.string(), v.unknown()),
});
export const SessionListResponse = v.strictObject({ userId: v.string(), sessions: v.array(SessionResponse) });
export const SessionDeletedResponse = v.strictObject({ deleted: v.boolean() });
export const SessionsRevokedResponse = v.strictObject({ userId: v.string(), revoked: v.number() });

export const RateLimitResponse = v.strictObject({
  name: v.string(),
  identifier: v.string(),
  success: v.pipe(v.boolean(), v.description('admitted; for a read, whether a request of cost 1 would pass')),
  limit: v.number(),
  remaining: v.number(),
  reset: epochMs('when a request can next pass (refused) or the limit replenishes, epoch ms'),
  reason: v.picklist(['allowed', 'limited', 'blocked-cache', 'outage-open', 'outage-closed', 'outage-local']),
});
export const RateLimitClearedResponse = v.strictObject({
  name: v.string(),
  identifier: v.string(),
  cleared: v.literal(true),
});

export const EnqueuedResponse = v.strictObject({ id: v.string(), duplicate: v.boolean() });
export const JobResponse = v.strictObject({
  id: v.string(),
  type: v.string(),
  state: v.picklist(['ready', 'delayed', 'inflight', 'done', 'dead', 'cancelled']),
  priority: v.picklist(['high', 'normal', 'low']),
  attempts: v.number(),
  maxAttempts: v.number(),
  createdAt: epochMs('epoch ms'),
  runAt: v.optional(epochMs('when a delayed job is due, epoch ms')),
  finishedAt: v.optional(epochMs('when it was acked, cancelled or dead-lettered, epoch ms')),
  lastError: v.optional(v.string()),
  result: v.optional(v.pipe(v.unknown(), v.description('what the handler returned, e.g. {"deleted": 12}'))),
});
export const JobPageResponse = v.strictObject({
  jobs: v.array(JobResponse),
  cursor: v.pipe(
    v.nullable(v.string()),
    v.description('pass as ?cursor= for the next page; null at the end (a page may be short before it)'),
  ),
});
export const RedrivenResponse = v.strictObject({ type: v.string(), redriven: v.number() });

export const StatsResponse = v.strictObject({
  tenant: v.string(),
  cache: v.strictObject({ hits: v.number(), misses: v.number(), hitRate: v.nullable(v.number()) }),
  queue: v.strictObject({
    ready: v.strictObject({ high: v.number(), normal: v.number(), low: v.number() }),
    delayed: v.number(),
    inFlight: v.number(),
    done: v.number(),
    deadLetters: v.number(),
  }),
});

/** `GET /openapi.json`: an OpenAPI 3.1 document (not described further here). */
export const OpenApiResponse = v.looseObject({
  openapi: v.string(),
  info: v.looseObject({}),
  paths: v.looseObject({}),
});
