/**
 * The configuration contract between the deployment and the functions: the feature names, the
 * one table of defaults, and the schema of the runtime configuration every function reads from
 * `APP_CONFIG` (validated once per cold start by `lambda/shared/env.ts`).
 *
 * `lib/config.ts` builds the cdk.json schema from the same field rules and the same defaults, and
 * maps its output onto {@link RuntimeConfig}; the constructs validate that mapping at synth. So the
 * library (a service built with no options), a function with no `APP_CONFIG` and a deployment
 * with no settings all behave the same. To add a setting: add its default to {@link DEFAULTS},
 * its field to the runtime schema below when functions read it, and its cdk.json field (in the
 * units people write) to `lib/config.ts`; `docs/architecture.md` ("The configuration contract")
 * walks through it.
 *
 * Valibot (the team's schema library: each schema a separately tree-shaken function) is the only
 * dependency; bundles import only the runtime schema below.
 */
import * as v from 'valibot';

/** The features of the runtime; each one lives on exactly one database. One spelling everywhere. */
export const FEATURES = ['cache', 'sessions', 'rateLimit', 'locks', 'queue'] as const;

/** One feature of the runtime. */
export type Feature = (typeof FEATURES)[number];

/** The algorithms of the rate limiter. */
export const RATE_LIMIT_ALGORITHMS = ['fixed-window', 'sliding-window', 'token-bucket'] as const;

/** A rate-limit algorithm. */
export type Algorithm = (typeof RATE_LIMIT_ALGORITHMS)[number];

/** What a rate limiter does while its database counts as down. */
export const OUTAGE_POLICIES = ['open', 'closed', 'local'] as const;

/** A rate limiter's outage policy. */
export type OutagePolicy = (typeof OUTAGE_POLICIES)[number];

/**
 * The defaults, in one table: the services' option defaults, a function without `APP_CONFIG`,
 * and a deployment that leaves a setting out all read them here (test/unit/lambda/shared/config.test.ts
 * checks that each side does). Durations in milliseconds.
 */
export const DEFAULTS = {
  /** First segment of every Redis key. */
  keyPrefix: 'app',
  /** CloudWatch namespace of the functions' metrics. */
  metricsNamespace: 'UpstashState',
  /** The limits a deployment has when it names none. */
  rateLimits: {
    api: { algorithm: 'sliding-window', limit: 100, windowMs: 60_000 },
  } as Readonly<Record<string, { algorithm: Algorithm; limit: number; windowMs: number }>>,
  rateLimit: {
    /** Decided by an in-container limiter that starts from Redis's last state. */
    outage: 'local' as OutagePolicy,
  },
  sessions: { idleTtlMs: 3_600_000, absoluteTtlMs: 86_400_000, maxPerUser: 20 },
  cache: {
    defaultTtlMs: 300_000,
    maxValueBytes: 102_400,
    /** Reads served from the container's LRU while Upstash counts as down. */
    fallback: true,
    /** Writes refused (503) while Upstash counts as down. */
    localWrites: false,
    /** Namespaces invalidated in O(1) by a generation: none unless a deployment names them. */
    namespaces: [] as readonly string[],
  },
  /** `Idempotency-Key` records: how long a first answer is kept and replayed. */
  idempotency: { ttlMs: 86_400_000 },
  api: { maxBodyBytes: 1_048_576, throttleRateLimit: 100, throttleBurstLimit: 200 },
  auth: {
    secretName: 'upstash/api-keys',
    /** The longest a revoked key keeps working: the gateway's cache plus the key set's age. */
    revocationDelayMs: 300_000,
    /** API Gateway's cache of a decision: the delay less a minute (lib/config.ts derives it so). */
    cacheTtlMs: 240_000,
    keySetMaxAgeMs: 60_000,
    tenantClaim: 'tenant',
  },
  schedules: {
    queueWorker: 'rate(1 minute)',
    maintenance: 'rate(15 minutes)',
    usageProbe: 'rate(15 minutes)',
  },
  logRetentionDays: 30,
} as const;

/** Upstash refuses requests above 10 MB (free plans 1 MB); a larger value could never be stored. */
export const MAX_VALUE_BYTES = 10 * 1024 * 1024;

// ---------------------------------------------------------------- field rules (shared with lib/config.ts)

const show = (received: string): string => (received === 'undefined' ? 'nothing' : received);

/**
 * An object with exactly these settings: an unknown one (a typo) is an issue of its own that
 * lists the known ones.
 */
export function settings<const E extends v.ObjectEntries>(entries: E) {
  const known = Object.keys(entries).join(', ');
  const object = v.strictObject(entries, (issue) => {
    if (issue.expected === 'never') return `is not a known setting (known: ${known})`;
    // A missing required key: valibot expects its name, quoted.
    if (issue.expected?.startsWith('"')) return 'is required';
    return `must be an object, got ${show(issue.received)}`;
  });
  // Valibot's object schemas take arrays (they are objects); settings never are.
  return v.pipe(
    v.custom<v.InferInput<typeof object>>(
      (input) => typeof input === 'object' && input !== null && !Array.isArray(input),
      (issue) => `must be an object, got ${show(issue.received)}`,
    ),
    object,
  );
}

/** A record (`{"<name>": value}`) whose names pass `key`; never an array. */
export function dictionary<K extends v.GenericSchema<string, string>, V extends v.GenericSchema>(
  key: K,
  value: V,
  what = 'an object',
) {
  const record = v.record(key, value);
  return v.pipe(
    v.custom<v.InferInput<typeof record>>(
      (input) => typeof input === 'object' && input !== null && !Array.isArray(input),
      (issue) => `must be ${what}, got ${show(issue.received)}`,
    ),
    record,
  );
}

/** A positive whole number. */
export const positiveInt = () =>
  v.pipe(
    v.number((issue) => `must be a positive whole number, got ${show(issue.received)}`),
    v.safeInteger((issue) => `must be a positive whole number, got ${issue.received}`),
    v.minValue(1, (issue) => `must be a positive whole number, got ${issue.received}`),
  );

/** One of `options`, named in the message. */
export const oneOf = <const T extends readonly string[]>(options: T) =>
  v.picklist(options, (issue) => `must be one of ${options.join(', ')}, got ${show(issue.received)}`);

/** A boolean. */
export const flag = () => v.boolean((issue) => `must be true or false, got ${show(issue.received)}`);

/** Lower-case letters, digits and `-`, starting with a letter: database and rate-limit names. */
export const NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** A key prefix: it is the first segment of every Redis key. */
export const KEY_PREFIX = /^[A-Za-z0-9_-]{1,32}$/;

/** A key prefix. */
export const keyPrefix = () =>
  v.pipe(
    v.string((issue) => `must be letters, digits, _ or -, at most 32, got ${show(issue.received)}`),
    v.regex(KEY_PREFIX, (issue) => `must be letters, digits, _ or -, at most 32, got ${issue.received}`),
  );

/** The name of a rate limit: part of its keys. */
export const rateLimitName = v.pipe(
  v.string(),
  v.regex(NAME, (issue) => `has a bad name ${issue.received}: use lower-case letters, digits and -`),
);

/** The fields of a rate limit but its window (ms at run time, a duration text in cdk.json). */
export const rateLimitFields = () => ({
  algorithm: oneOf(RATE_LIMIT_ALGORITHMS),
  limit: positiveInt(),
  refillRate: v.optional(positiveInt()),
  outage: v.optional(oneOf(OUTAGE_POLICIES), DEFAULTS.rateLimit.outage),
});

/** How a database is reached. */
export const databaseMode = () => v.optional(oneOf(['rest', 'tcp'] as const), 'rest');

/** The fields of a database's migration but its source secret (a name in cdk.json, an ARN at run time). */
export const migrationFields = () => ({
  mode: oneOf(['off', 'shadow', 'rollout', 'upstash'] as const),
  rolloutPercent: v.optional(
    v.pipe(
      v.number((issue) => `must be a number from 0 to 100, got ${issue.received}`),
      v.minValue(0, (issue) => `must be a number from 0 to 100, got ${issue.received}`),
      v.maxValue(100, (issue) => `must be a number from 0 to 100, got ${issue.received}`),
    ),
    0,
  ),
  rolloutBy: v.optional(oneOf(['key', 'tenant'] as const), 'key'),
});

/** The shortest and longest an `Idempotency-Key` record may be kept. */
export const IDEMPOTENCY_TTL_RANGE_MS = { min: 60_000, max: 7 * 86_400_000 } as const;

/**
 * Cache namespaces: distinct names of 1-64 letters, digits, `_` or `-` (a cache key's first
 * `:`-separated segment names its namespace).
 */
export const cacheNamespaces = () =>
  v.optional(
    v.pipe(
      v.array(
        v.pipe(
          v.string(),
          v.regex(
            /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/,
            (issue) => `must be 1-64 letters, digits, _ or - (a key's first segment), got ${issue.received}`,
          ),
        ),
        (issue) => `must be a list of names, got ${show(issue.received)}`,
      ),
      v.check((names) => new Set(names).size === names.length, 'must not name a namespace twice'),
    ),
    DEFAULTS.cache.namespaces as string[],
  );

/** The largest cached value, in bytes, at most what Upstash accepts in one request. */
export const maxValueBytes = () =>
  v.optional(
    v.pipe(
      positiveInt(),
      v.maxValue(
        MAX_VALUE_BYTES,
        (issue) => `must be at most ${MAX_VALUE_BYTES} (the Upstash request limit), got ${issue.received}`,
      ),
    ),
    DEFAULTS.cache.maxValueBytes,
  );

// ---------------------------------------------------------------- the runtime configuration

const rateLimitSchema = v.pipe(
  settings({ ...rateLimitFields(), windowMs: positiveInt() }),
  v.transform((limit) => ({ ...limit, refillRate: limit.refillRate ?? limit.limit })),
);

const sessionsSchema = settings({
  idleTtlMs: v.optional(positiveInt(), DEFAULTS.sessions.idleTtlMs),
  absoluteTtlMs: v.optional(positiveInt(), DEFAULTS.sessions.absoluteTtlMs),
  maxPerUser: v.optional(positiveInt(), DEFAULTS.sessions.maxPerUser),
});

const cacheSchema = settings({
  defaultTtlMs: v.optional(positiveInt(), DEFAULTS.cache.defaultTtlMs),
  maxValueBytes: maxValueBytes(),
  fallback: v.optional(flag(), DEFAULTS.cache.fallback),
  localWrites: v.optional(flag(), DEFAULTS.cache.localWrites),
  namespaces: cacheNamespaces(),
});

const idempotencySchema = settings({
  ttlMs: v.optional(
    v.pipe(positiveInt(), v.minValue(IDEMPOTENCY_TTL_RANGE_MS.min), v.maxValue(IDEMPOTENCY_TTL_RANGE_MS.max)),
    DEFAULTS.idempotency.ttlMs,
  ),
});

const apiKeyAuthSchema = settings({
  type: v.literal('api-key'),
  revocationDelayMs: positiveInt(),
  cacheTtlMs: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  keySetMaxAgeMs: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
});

const jwtAuthSchema = settings({
  type: v.literal('jwt'),
  issuer: v.string(),
  audience: v.array(v.string()),
  tenantClaim: v.optional(v.string(), DEFAULTS.auth.tenantClaim),
});

const authSchema = v.lazy((input) =>
  typeof input === 'object' && input !== null && (input as { type?: unknown }).type === 'jwt'
    ? jwtAuthSchema
    : apiKeyAuthSchema,
);

const apiSchema = settings({
  maxBodyBytes: v.optional(positiveInt(), DEFAULTS.api.maxBodyBytes),
  corsAllowOrigins: v.optional(v.array(v.string()), []),
});

/**
 * What a function reads from `APP_CONFIG`: the non-secret settings, durations in ms. Every field
 * is optional and defaults from {@link DEFAULTS}, so a user's own function needs none of it.
 */
export const RuntimeConfigSchema = settings({
  rateLimits: v.optional(dictionary(rateLimitName, rateLimitSchema), DEFAULTS.rateLimits),
  sessions: v.optional(sessionsSchema, {}),
  cache: v.optional(cacheSchema, {}),
  idempotency: v.optional(idempotencySchema, {}),
  auth: v.optional(authSchema, {
    type: 'api-key',
    revocationDelayMs: DEFAULTS.auth.revocationDelayMs,
    cacheTtlMs: DEFAULTS.auth.cacheTtlMs,
    keySetMaxAgeMs: DEFAULTS.auth.keySetMaxAgeMs,
  }),
  api: v.optional(apiSchema, {}),
});

/** The runtime configuration as written (`APP_CONFIG`): every field optional. */
export type RuntimeConfigInput = v.InferInput<typeof RuntimeConfigSchema>;

/** The runtime configuration with every default applied. */
export type RuntimeConfig = v.InferOutput<typeof RuntimeConfigSchema>;

/** One rate limit of the runtime configuration. */
export type RateLimitConfig = RuntimeConfig['rateLimits'][string];

/** The session settings of the runtime configuration. */
export type SessionsConfig = RuntimeConfig['sessions'];

/** The cache settings of the runtime configuration. */
export type CacheConfig = RuntimeConfig['cache'];

// ---------------------------------------------------------------- messages

const MAX_LINE = 280;

/**
 * One line per problem, each naming the full path of the value (`upstash.sessions.idelTtl is
 * not a known setting (known: ...)`), in the order valibot found them.
 */
export function describeIssues(root: string, issues: readonly v.BaseIssue<unknown>[]): string[] {
  return issues.map((issue) => {
    const path = v.getDotPath(issue);
    const line = `${path ? `${root}.${path}` : root} ${issue.message}`;
    // A bad value is quoted in full by the message: keep one line readable in a log.
    return line.length > MAX_LINE ? `${line.slice(0, MAX_LINE - 3)}...` : line;
  });
}

/**
 * Validates `input` against `schema`: every problem at once, one line each (see
 * {@link describeIssues}); `onIssues` turns the lines into the caller's error.
 */
export function validate<S extends v.GenericSchema>(
  schema: S,
  input: unknown,
  root: string,
  onIssues: (lines: string[]) => Error,
): v.InferOutput<S> {
  const result = v.safeParse(schema, input, { abortEarly: false, abortPipeEarly: true });
  if (!result.success) throw onIssues(describeIssues(root, result.issues));
  return result.output;
}
