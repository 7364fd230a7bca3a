/**
 * The configuration of a deployment, read from one cdk.json context key: one valibot schema that
 * yields the types ({@link AppConfig}), applies the defaults (`DEFAULTS` of
 * `lambda/shared/config.ts`, the table the runtime and the services read too) and validates.
 *
 * Every problem is reported at once, one line each, naming the full path of the bad value and the
 * value itself (`invalid configuration: upstash.sessions.idelTtl is not a known setting (known:
 * idleTtl, absoluteTtl, maxPerUser)`), so `cdk synth` fails with lines a user can act on instead
 * of a CloudFormation error at deploy time. The functions' slice of it ({@link runtimeConfig})
 * is what they validate again at cold start, against the runtime schema.
 */
import type { Node } from 'constructs';
import * as v from 'valibot';
import {
  cacheNamespaces,
  DEFAULTS,
  databaseMode,
  dictionary,
  FEATURES,
  type Feature,
  flag,
  IDEMPOTENCY_TTL_RANGE_MS,
  KEY_PREFIX,
  keyPrefix,
  maxValueBytes,
  migrationFields,
  oneOf,
  positiveInt,
  type RuntimeConfig,
  rateLimitFields,
  rateLimitName,
  settings,
  validate,
} from '../lambda/shared/config';
import { DEFAULT_PLAN, PLAN_PRESET_NAMES, PLAN_PRESETS, SIZE_UNITS, type UpstashPlan } from './plans';

export type { Feature, RateLimitConfig, RuntimeConfig } from '../lambda/shared/config';
export { FEATURES, OUTAGE_POLICIES, RATE_LIMIT_ALGORITHMS } from '../lambda/shared/config';

/** The cdk.json context key that holds the configuration object. */
export const CONFIG_CONTEXT_KEY = 'upstash';

/** Log retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** The migration modes of a database (docs/migration.md). */
const _MIGRATION_MODES = ['off', 'shadow', 'rollout', 'upstash'] as const;

/** Configuration that cannot be used: one line per problem, each naming the path and the value. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** The problems, one line each (`upstash.cache.defaultTTL is not a known setting ...`). */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(problems.map((line) => `invalid configuration: ${line}`).join('\n'));
    this.problems = problems;
  }
}

const show = (value: unknown): string => (value === undefined ? 'nothing' : JSON.stringify(value));

const UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
};

/** Milliseconds of a duration text (or of a whole number of ms), or why it is not one. */
function durationMs(value: unknown): number | string {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  if (typeof value !== 'string') return `must be a duration like "60 s", got ${show(value)}`;
  const match = /^\s*(\d+)\s*([a-z]+)\s*$/.exec(value);
  const unit = match?.[2] ? UNITS_MS[match[2]] : undefined;
  if (!match || unit === undefined) {
    return `must be a duration like "60 s", "5 m" or "1 h" (units ms, s, m, h, d), got ${show(value)}`;
  }
  const ms = Number(match[1]) * unit;
  return ms > 0 ? ms : `must be longer than zero, got ${show(value)}`;
}

/**
 * Parses a duration such as `"60 s"`, `"5 m"`, `"1 h"`, `"24 h"` or `"250 ms"` into milliseconds.
 *
 * @throws ConfigError naming `path` when the text is not a positive whole duration
 */
export function parseDuration(value: unknown, path: string): number {
  const ms = durationMs(value);
  if (typeof ms === 'string') throw new ConfigError([`${path} ${ms}`]);
  return ms;
}

/** Bytes of a size text (binary units, as Redis counts memory), or why it is not one. */
function sizeBytes(value: unknown): number | string {
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$/.exec(value) : null;
  const unit = match?.[2] ? SIZE_UNITS[match[2].toUpperCase()] : undefined;
  const bytes = match && unit !== undefined ? Math.round(Number(match[1]) * unit) : 0;
  return bytes > 0
    ? bytes
    : `must be a size like "256 MB" or "100 GB" (units B, KB, MB, GB, TB), got ${show(value)}`;
}

/**
 * Parses a size such as `"256 MB"`, `"100 GB"` or `"1.5 GB"` into bytes (units B, KB, MB, GB, TB,
 * binary: 1 GB = 1024³ bytes, as Redis counts memory).
 *
 * @throws ConfigError naming `path` when the text is not a positive size
 */
export function parseSize(value: unknown, path: string): number {
  const bytes = sizeBytes(value);
  if (typeof bytes === 'string') throw new ConfigError([`${path} ${bytes}`]);
  return bytes;
}

/** A field read by `parse`: its number, or an issue with the reason it gives. */
const parsed = (parse: (value: unknown) => number | string) =>
  v.pipe(
    v.unknown(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const result = parse(dataset.value);
      if (typeof result === 'number') return result;
      addIssue({ message: result });
      return NEVER;
    }),
  );

/** A duration text (`"60 s"`), in ms. */
const duration = () => parsed(durationMs);

/** A size text (`"256 MB"`), in bytes. */
const size = () => parsed(sizeBytes);

/** A text matching `pattern`, described as `what`. */
const text = (pattern: RegExp, what: string) =>
  v.pipe(
    v.string(
      (issue) => `must be ${what}, got ${issue.received === 'undefined' ? 'nothing' : issue.received}`,
    ),
    v.regex(pattern, (issue) => `must be ${what}, got ${issue.received}`),
  );

const secretName = () =>
  text(/^[A-Za-z0-9/_+=.@-]{1,512}$/, 'a Secrets Manager name (letters, digits and /_+=.@-)');

/** A non-negative amount of dollars. */
const dollars = () =>
  v.pipe(
    v.number((issue) => `must be an amount of dollars (a number, 0 or more), got ${issue.received}`),
    v.finite((issue) => `must be an amount of dollars (a number, 0 or more), got ${issue.received}`),
    v.minValue(0, (issue) => `must be an amount of dollars (a number, 0 or more), got ${issue.received}`),
  );

// ---------------------------------------------------------------- databases

const planOverrides = settings({
  preset: v.optional(oneOf(PLAN_PRESET_NAMES), DEFAULT_PLAN),
  dailyCommands: v.optional(positiveInt()),
  maxDataSize: v.optional(size()),
  monthlyBandwidth: v.optional(size()),
  pricePer100kCommands: v.optional(dollars()),
  monthlyFeeUsd: v.optional(dollars()),
});

/**
 * A database's plan: a preset name (`"free"`, `"pay-as-you-go"`, `"fixed-250mb"`), or an object
 * naming a preset and overriding any of its figures (a soft daily cap, a negotiated price).
 */
const plan = v.pipe(
  v.lazy((input) => (typeof input === 'string' ? oneOf(PLAN_PRESET_NAMES) : planOverrides)),
  v.transform((value): UpstashPlan => {
    if (typeof value === 'string') return PLAN_PRESETS[value as keyof typeof PLAN_PRESETS];
    const o = value as v.InferOutput<typeof planOverrides>;
    const base = PLAN_PRESETS[o.preset];
    const dailyCommands = o.dailyCommands ?? base.dailyCommands;
    return {
      preset: o.preset,
      ...(dailyCommands !== undefined ? { dailyCommands } : {}),
      maxDataBytes: o.maxDataSize ?? base.maxDataBytes,
      monthlyBandwidthBytes: o.monthlyBandwidth ?? base.monthlyBandwidthBytes,
      pricePer100kCommands: o.pricePer100kCommands ?? base.pricePer100kCommands,
      monthlyFeeUsd: o.monthlyFeeUsd ?? base.monthlyFeeUsd,
    };
  }),
);

const migration = settings({ ...migrationFields(), sourceSecretName: v.optional(secretName()) });

const database = settings({
  secretName: v.optional(secretName()),
  mode: databaseMode(),
  migration: v.optional(migration),
  plan: v.optional(plan, DEFAULT_PLAN),
});

const databaseName = v.pipe(
  v.string(),
  v.regex(
    /^[a-z][a-z0-9-]{0,30}$/,
    (issue) =>
      `has a bad name ${issue.received}: use lower-case letters, digits and -, starting with a letter`,
  ),
);

const databases = v.pipe(
  dictionary(databaseName, database),
  v.check((dbs) => Object.keys(dbs).length > 0, 'must name at least one database, got {}'),
  // Default secret names need the database's name; a migration's source needs the database's secret.
  v.transform((dbs) =>
    Object.fromEntries(
      Object.entries(dbs).map(([name, db]) => {
        const secret = db.secretName ?? `upstash/${name}`;
        const { migration: m, ...rest } = db;
        return [
          name,
          {
            ...rest,
            secretName: secret,
            ...(m ? { migration: { ...m, sourceSecretName: m.sourceSecretName ?? `${secret}/source` } } : {}),
          },
        ];
      }),
    ),
  ),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const owners = new Map<string, string>();
    for (const [name, db] of Object.entries(dataset.value)) {
      const names: [string, string, string][] = [[db.secretName, `${name}.secretName`, `databases.${name}`]];
      if (db.migration) {
        names.push([
          db.migration.sourceSecretName,
          `${name}.migration.sourceSecretName`,
          `databases.${name} (migration source)`,
        ]);
      }
      for (const [secret, at, owner] of names) {
        const clash = owners.get(secret);
        if (clash) {
          addIssue({
            message: `${show(secret)} is already used by ${clash}`,
            path: [
              {
                type: 'object',
                origin: 'value',
                input: dataset.value,
                key: at,
                value: secret,
              },
            ],
          });
        } else owners.set(secret, owner);
      }
    }
  }),
);

// ---------------------------------------------------------------- features, limits, sessions, cache

const features = v.optional(
  settings(
    Object.fromEntries(FEATURES.map((f) => [f, v.optional(v.string())])) as Record<
      Feature,
      v.OptionalSchema<v.StringSchema<undefined>, undefined>
    >,
  ),
  {},
);

const rateLimit = v.pipe(
  settings({ ...rateLimitFields(), window: duration() }),
  v.forward(
    v.check(
      (l) => l.refillRate === undefined || l.algorithm === 'token-bucket',
      (issue) =>
        `applies to token-bucket only, got it on ${show((issue.input as { algorithm: string }).algorithm)}`,
    ),
    ['refillRate'],
  ),
  v.transform(({ window, ...l }) => ({ ...l, windowMs: window, refillRate: l.refillRate ?? l.limit })),
);

const DEFAULT_RATE_LIMITS = Object.fromEntries(
  Object.entries(DEFAULTS.rateLimits).map(([name, { windowMs, ...l }]) => [name, { ...l, window: windowMs }]),
);

const sessions = v.pipe(
  v.unknown(),
  // Compared as written, so the message quotes both texts.
  v.rawCheck(({ dataset, addIssue }) => {
    if (typeof dataset.value !== 'object' || dataset.value === null) return;
    const raw = dataset.value as { idleTtl?: unknown; absoluteTtl?: unknown };
    const idle = durationMs(raw.idleTtl ?? DEFAULTS.sessions.idleTtlMs);
    const absolute = durationMs(raw.absoluteTtl ?? DEFAULTS.sessions.absoluteTtlMs);
    if (typeof idle === 'number' && typeof absolute === 'number' && idle > absolute) {
      addIssue({
        message: `must not exceed sessions.absoluteTtl, got ${show(raw.idleTtl)} > ${show(raw.absoluteTtl ?? '24 h')}`,
        path: [{ type: 'object', origin: 'value', input: raw, key: 'idleTtl', value: raw.idleTtl }],
      });
    }
  }),
  settings({
    idleTtl: v.optional(duration(), DEFAULTS.sessions.idleTtlMs),
    absoluteTtl: v.optional(duration(), DEFAULTS.sessions.absoluteTtlMs),
    maxPerUser: v.optional(positiveInt(), DEFAULTS.sessions.maxPerUser),
  }),
  v.transform((s) => ({ idleTtlMs: s.idleTtl, absoluteTtlMs: s.absoluteTtl, maxPerUser: s.maxPerUser })),
);

const cache = v.pipe(
  settings({
    defaultTtl: v.optional(duration(), DEFAULTS.cache.defaultTtlMs),
    maxValueBytes: maxValueBytes(),
    fallback: v.optional(flag(), DEFAULTS.cache.fallback),
    localWrites: v.optional(flag(), DEFAULTS.cache.localWrites),
    /** Namespaces invalidated in O(1) by a generation (`POST /cache/namespaces/{ns}/invalidate`). */
    namespaces: cacheNamespaces(),
  }),
  v.transform(({ defaultTtl, ...c }) => ({ defaultTtlMs: defaultTtl, ...c })),
);

/** `Idempotency-Key` records: `ttl` from "1 m" to "7 d". */
const idempotency = v.pipe(
  settings({
    ttl: v.optional(
      v.pipe(
        duration(),
        v.check(
          (ms) => ms >= IDEMPOTENCY_TTL_RANGE_MS.min && ms <= IDEMPOTENCY_TTL_RANGE_MS.max,
          (issue) => `must be from "1 m" to "7 d", got ${issue.input} ms`,
        ),
      ),
      DEFAULTS.idempotency.ttlMs,
    ),
  }),
  v.transform(({ ttl }) => ({ ttlMs: ttl })),
);

const SCHEDULE_EXPRESSION =
  /^(rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)|cron\([^()]+\))$/;

const schedule = () =>
  text(
    SCHEDULE_EXPRESSION,
    'a Scheduler expression like "rate(1 minute)", "rate(15 minutes)" or "cron(0 3 * * ? *)"',
  );

const schedules = settings({
  queueWorker: v.optional(schedule(), DEFAULTS.schedules.queueWorker),
  maintenance: v.optional(schedule(), DEFAULTS.schedules.maintenance),
  /** How often the usage probe reads each database's data size. */
  usageProbe: v.optional(schedule(), DEFAULTS.schedules.usageProbe),
});

// ---------------------------------------------------------------- auth and api

/**
 * API-key authorization: a secret of hashed keys, checked by the authorizer function.
 *
 * Two caches stand between a revocation and its effect: API Gateway's cache of the authorizer's
 * decision per key (`cacheTtlMs`) and the key set each authorizer container holds
 * (`keySetMaxAgeMs`). Their sum is `revocationDelayMs`, the documented worst case for a revoked
 * key to stop working.
 */
const revocationDelayMs = (value: unknown): number | string => {
  const ms = durationMs(value);
  return typeof ms === 'number' && (ms < 1_000 || ms > 3_600_000)
    ? `must be from "1 s" to "1 h", got ${show(value)}`
    : ms;
};

const cacheTtlMs = (value: unknown): number | string => {
  const ms = durationMs(value);
  return typeof ms === 'number' && ms % 1_000 !== 0 ? `must be whole seconds, got ${show(value)}` : ms;
};

const apiKeyAuth = v.pipe(
  v.unknown(),
  // Compared as written, so the message quotes both texts.
  v.rawCheck(({ dataset, addIssue }) => {
    if (typeof dataset.value !== 'object' || dataset.value === null) return;
    const raw = dataset.value as { revocationDelay?: unknown; cacheTtl?: unknown };
    if (raw.cacheTtl === undefined) return;
    const delay = revocationDelayMs(raw.revocationDelay ?? '5 m');
    const ttl = cacheTtlMs(raw.cacheTtl);
    if (typeof delay === 'number' && typeof ttl === 'number' && ttl > delay) {
      addIssue({
        message: `must be at most auth.revocationDelay (${show(raw.revocationDelay ?? '5 m')}): a revoked key works until both the gateway's cache and the authorizer's key set expire, got ${show(raw.cacheTtl)}`,
        path: [{ type: 'object', origin: 'value', input: raw, key: 'cacheTtl', value: raw.cacheTtl }],
      });
    }
  }),
  settings({
    type: v.optional(v.literal('api-key'), 'api-key'),
    secretName: v.optional(secretName(), DEFAULTS.auth.secretName),
    revocationDelay: v.optional(parsed(revocationDelayMs), DEFAULTS.auth.revocationDelayMs),
    cacheTtl: v.optional(parsed(cacheTtlMs)),
  }),
  v.transform(({ type, secretName, revocationDelay, cacheTtl }) => {
    // The gateway cache takes the delay less the key set's share: a minute, or a fifth of short
    // delays. API Gateway counts its TTL in whole seconds (and at most one hour).
    const ttl =
      cacheTtl ?? Math.floor((revocationDelay - Math.min(60_000, revocationDelay / 5)) / 1_000) * 1_000;
    return {
      type,
      secretName,
      revocationDelayMs: revocationDelay,
      cacheTtlMs: ttl,
      keySetMaxAgeMs: revocationDelay - ttl,
    };
  }),
);

/** JWT authorization by API Gateway itself, for teams with an identity provider. */
const jwtAuth = settings({
  type: v.literal('jwt'),
  issuer: v.pipe(
    v.string((issue) => `must be an https URL for auth.type "jwt", got ${issue.received}`),
    v.regex(
      /^https:\/\/[^\s/]+/,
      (issue) => `must be an https URL for auth.type "jwt", got ${issue.received}`,
    ),
  ),
  audience: v.pipe(
    v.unknown(),
    v.check(
      (a) =>
        (typeof a === 'string' && a.length > 0) ||
        (Array.isArray(a) && a.length > 0 && a.every((x) => typeof x === 'string' && x.length > 0)),
      (issue) => `must be a non-empty string or list of strings, got ${show(issue.input)}`,
    ),
    v.transform((a) => (typeof a === 'string' ? [a] : (a as string[]))),
  ),
  /** The claim that names the tenant. */
  tenantClaim: v.optional(text(/^[A-Za-z0-9_:./-]{1,128}$/, 'a claim name'), DEFAULTS.auth.tenantClaim),
});

const AUTH_TYPES = ['api-key', 'jwt'] as const;

const auth = v.optional(
  v.pipe(
    v.unknown(),
    v.rawCheck(({ dataset, addIssue }) => {
      const raw = dataset.value;
      const type = typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined;
      if (type !== undefined && !AUTH_TYPES.includes(type as never)) {
        addIssue({
          message: `must be one of ${AUTH_TYPES.join(', ')}, got ${show(type)}`,
          path: [
            {
              type: 'object',
              origin: 'value',
              input: raw as Record<string, unknown>,
              key: 'type',
              value: type,
            },
          ],
        });
      }
    }),
    v.lazy((input) =>
      typeof input === 'object' && input !== null && (input as { type?: unknown }).type === 'jwt'
        ? jwtAuth
        : apiKeyAuth,
    ),
  ),
  { type: 'api-key' },
);

/** Stage-wide API Gateway throttling, the function's body limit, CORS. */
const api = settings({
  /** Steady-state requests per second. */
  throttleRateLimit: v.optional(positiveInt(), DEFAULTS.api.throttleRateLimit),
  /** Burst of requests. */
  throttleBurstLimit: v.optional(positiveInt(), DEFAULTS.api.throttleBurstLimit),
  /** Largest request body the api function accepts, in bytes; larger ones get 413. */
  maxBodyBytes: v.optional(positiveInt(), DEFAULTS.api.maxBodyBytes),
  /** Origins allowed by CORS (`*` for any); empty disables CORS. */
  corsAllowOrigins: v.optional(
    v.pipe(
      v.unknown(),
      v.check(
        (o) =>
          Array.isArray(o) &&
          o.every((x) => typeof x === 'string' && (x === '*' || /^https?:\/\/[^/\s]+$/.test(x))),
        (issue) =>
          `must be a list of origins like "https://app.example.com" or "*", got ${show(issue.input)}`,
      ),
      v.transform((o) => o as string[]),
    ),
    [],
  ),
});

/** CloudWatch lets an alarm's math read at most 10 metrics; the budget alarm reads one per database. */
const MAX_BUDGET_DATABASES = 10;

// ---------------------------------------------------------------- the whole configuration

/**
 * The schema of cdk.json's `upstash` object. Settings people write in their own units (durations
 * as `"60 s"`, sizes as `"256 MB"`) come out in ms and bytes.
 */
export const ConfigSchema = v.pipe(
  settings({
    databases: databases,
    features,
    rateLimits: v.optional(dictionary(rateLimitName, rateLimit), DEFAULT_RATE_LIMITS),
    sessions: v.optional(sessions, {}),
    cache: v.optional(cache, {}),
    idempotency: v.optional(idempotency, {}),
    schedules: v.optional(schedules, {}),
    auth,
    api: v.optional(api, {}),
    keyPrefix: v.optional(keyPrefix(), DEFAULTS.keyPrefix),
    metricsNamespace: v.optional(
      text(/^[A-Za-z0-9_./#:-]{1,255}$/, 'a CloudWatch namespace (letters, digits, . _ - / # :)'),
      DEFAULTS.metricsNamespace,
    ),
    logRetentionDays: v.optional(
      v.picklist(
        LOG_RETENTION_DAYS,
        (issue) => `must be one of ${LOG_RETENTION_DAYS.join(', ')}, got ${issue.received}`,
      ),
      DEFAULTS.logRetentionDays,
    ),
    alarmEmail: v.optional(text(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'an email address')),
    /** A monthly spending limit on Upstash, alarmed on from the cost estimate. */
    budget: v.optional(
      settings({
        monthlyUsd: v.pipe(
          dollars(),
          v.check(
            (usd) => usd > 0,
            (issue) => `must be more than 0, got ${issue.input}`,
          ),
        ),
      }),
    ),
  }),
  // Which database serves each feature: named ones must exist; with one database, all use it.
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const config = dataset.value;
    const known = Object.keys(config.databases);
    const only = known.length === 1 ? known[0] : undefined;
    const assigned = {} as Record<Feature, string>;
    let failed = false;
    const issue = (key: string, value: unknown, message: string) => {
      failed = true;
      addIssue({
        message,
        path: [
          { type: 'object', origin: 'value', input: config, key: 'features', value: config.features },
          { type: 'object', origin: 'value', input: config.features, key, value },
        ],
      });
    };
    for (const feature of FEATURES) {
      const db = config.features[feature];
      if (db === undefined) {
        if (only === undefined) {
          issue(feature, db, `is required with ${known.length} databases (known: ${known.join(', ')})`);
        } else assigned[feature] = only;
      } else if (!known.includes(db)) {
        issue(feature, db, `refers to unknown database ${show(db)} (known: ${known.join(', ')})`);
      } else assigned[feature] = db;
    }
    if (config.budget && known.length > MAX_BUDGET_DATABASES) {
      failed = true;
      addIssue({
        message: `works with at most ${MAX_BUDGET_DATABASES} databases (a CloudWatch alarm reads 10 metrics at most), got ${known.length}`,
        path: [{ type: 'object', origin: 'value', input: config, key: 'budget', value: config.budget }],
      });
    }
    return failed ? NEVER : { ...config, features: assigned };
  }),
);

/** The whole configuration, after validation and with every default applied. */
export type AppConfig = v.InferOutput<typeof ConfigSchema>;

/** One database of the deployment: its secret, transport, migration and plan. */
export type DatabaseConfig = AppConfig['databases'][string];

/** How requests are authorized: `api-key` (default) or `jwt`. */
export type AuthConfig = AppConfig['auth'];

/** A monthly spending limit on Upstash, alarmed on from the cost estimate. */
export type BudgetConfig = NonNullable<AppConfig['budget']>;

/**
 * Validates a raw configuration object and applies the defaults.
 *
 * @param raw the object from cdk.json context (or a JSON string, as `cdk -c upstash='{...}'` passes)
 * @throws ConfigError listing every problem, one line each, with its path and value
 */
export function parseConfig(raw: unknown): AppConfig {
  let input = raw;
  if (typeof raw === 'string') {
    try {
      input = JSON.parse(raw);
    } catch (error) {
      throw new ConfigError([
        `${CONFIG_CONTEXT_KEY} is not valid JSON (${(error as Error).message}), got ${show(raw)}`,
      ]);
    }
  }
  return validate(ConfigSchema, input, CONFIG_CONTEXT_KEY, (lines) => new ConfigError(lines));
}

/**
 * Reads and validates the configuration from the context of a construct tree.
 *
 * @throws ConfigError when the context key is missing or invalid
 */
export function configFromContext(node: Node): AppConfig {
  const raw = node.tryGetContext(CONFIG_CONTEXT_KEY);
  if (raw === undefined) {
    throw new ConfigError([
      `${CONFIG_CONTEXT_KEY} is missing: add it to the "context" of cdk.json (see docs/deploy.md)`,
    ]);
  }
  return parseConfig(raw);
}

/** The databases a set of features uses, each once, in config order. */
export function databasesOf(config: AppConfig, features: readonly Feature[]): string[] {
  const used = new Set(features.map((feature) => config.features[feature]));
  return Object.keys(config.databases).filter((name) => used.has(name));
}

/**
 * The functions' slice of the configuration (`APP_CONFIG`): durations already in milliseconds,
 * secret names and deploy-only settings left out. Its type is the runtime schema's, and each
 * function construct validates it against that schema at synth.
 */
export function runtimeConfig(config: AppConfig): RuntimeConfig {
  const auth: RuntimeConfig['auth'] =
    config.auth.type === 'jwt'
      ? {
          type: 'jwt',
          issuer: config.auth.issuer,
          audience: config.auth.audience,
          tenantClaim: config.auth.tenantClaim,
        }
      : {
          type: 'api-key',
          revocationDelayMs: config.auth.revocationDelayMs,
          cacheTtlMs: config.auth.cacheTtlMs,
          keySetMaxAgeMs: config.auth.keySetMaxAgeMs,
        };
  return {
    rateLimits: config.rateLimits,
    sessions: config.sessions,
    cache: config.cache,
    idempotency: config.idempotency,
    auth,
    api: { maxBodyBytes: config.api.maxBodyBytes, corsAllowOrigins: config.api.corsAllowOrigins },
  };
}

export { KEY_PREFIX };
