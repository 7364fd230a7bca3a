/**
 * The typed, validated configuration of the app, read from one cdk.json context key.
 *
 * Everything here is checked before a single construct is defined, and every error names the
 * path of the bad value and the value itself, so `cdk synth` fails with a message a user can act
 * on instead of a CloudFormation error at deploy time.
 */
import type { Node } from 'constructs';
import {
  DEFAULT_PLAN,
  PLAN_PRESET_NAMES,
  PLAN_PRESETS,
  type PlanPreset,
  SIZE_UNITS,
  type UpstashPlan,
} from './plans';

/** The cdk.json context key that holds the configuration object. */
export const CONFIG_CONTEXT_KEY = 'upstash';

/** The features of the runtime; each one lives on exactly one database. */
export const FEATURES = ['cache', 'sessions', 'rateLimit', 'locks', 'queue'] as const;

/** One feature of the runtime. */
export type Feature = (typeof FEATURES)[number];

/** The algorithms of the rate limiter (same names as `lambda/services/rate-limit`). */
export const RATE_LIMIT_ALGORITHMS = ['fixed-window', 'sliding-window', 'token-bucket'] as const;

/** What a rate limiter does while its database is unreachable. */
export const OUTAGE_POLICIES = ['open', 'closed', 'local'] as const;

/** Log retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** One Upstash database: where its credentials live. */
export interface DatabaseConfig {
  /** Name of the Secrets Manager secret that holds `{"url": "...", "token": "..."}`. */
  readonly secretName: string;
  /** Upstash REST (`rest`) or a Redis TCP connection (`tcp`, a `rediss://` URL in the secret). */
  readonly mode: 'rest' | 'tcp';
  /** Migration from a self-hosted Redis (docs/migration.md); absent when not migrating. */
  readonly migration?: MigrationConfig;
  /** The Upstash plan: its limits (for the alarms) and its price (for the cost estimate). */
  readonly plan: UpstashPlan;
}

/** A monthly spending limit on Upstash, alarmed on from the cost estimate. */
export interface BudgetConfig {
  /** Dollars per month. */
  readonly monthlyUsd: number;
}

/** A database moving from a self-hosted Redis. */
export interface MigrationConfig {
  /** `off`, `shadow`, `rollout` or `upstash` (see docs/migration.md). */
  readonly mode: 'off' | 'shadow' | 'rollout' | 'upstash';
  /** Secret holding the old Redis's `{"url":"redis://..."}` (or `rediss://`). */
  readonly sourceSecretName: string;
  /** Share of reads Upstash serves in `rollout`, 0 to 100. */
  readonly rolloutPercent: number;
  /** Whether a key's side follows the key or its tenant. */
  readonly rolloutBy: 'key' | 'tenant';
}

/** One named rate limit, durations in milliseconds. */
export interface RateLimitConfig {
  readonly algorithm: (typeof RATE_LIMIT_ALGORITHMS)[number];
  /** Requests per window; for a token bucket, the bucket size. */
  readonly limit: number;
  /** Window in ms; for a token bucket, the refill interval. */
  readonly windowMs: number;
  /** Tokens added per interval (token bucket; equals `limit` for the other algorithms). */
  readonly refillRate: number;
  /** Behaviour while the database is unreachable. */
  readonly outage: (typeof OUTAGE_POLICIES)[number];
}

/** Session lifetimes, in milliseconds. */
export interface SessionsConfig {
  readonly idleTtlMs: number;
  readonly absoluteTtlMs: number;
  readonly maxPerUser: number;
}

/** Cache behaviour, durations in milliseconds. */
export interface CacheConfig {
  readonly defaultTtlMs: number;
  readonly maxValueBytes: number;
  /** Serve reads from an in-container LRU while Upstash is unreachable. */
  readonly fallback: boolean;
  /**
   * While the fallback circuit is open, accept writes into the container's LRU (answered
   * `stored: "local"`); off, they answer 503. Deletes are never local only.
   */
  readonly localWrites: boolean;
  /**
   * Namespaces invalidated in O(1) by a generation (`POST /cache/namespaces/{ns}/invalidate`): a
   * key whose first `:`-separated segment is one of them is stored under its namespace's
   * generation.
   */
  readonly namespaces: readonly string[];
}

/** `Idempotency-Key` records (issue 16). */
export interface IdempotencyConfig {
  /** How long a first answer is kept and replayed, in ms (`idempotency.ttl`, default 24 h). */
  readonly ttlMs: number;
}

/**
 * API-key authorization: a secret of hashed keys, checked by the authorizer function.
 *
 * Two caches stand between a revocation and its effect: API Gateway's cache of the authorizer's
 * decision per key (`cacheTtlMs`) and the key set each authorizer container holds
 * (`keySetMaxAgeMs`). Their sum is `revocationDelayMs`, the documented worst case for a revoked
 * key to stop working.
 */
export interface ApiKeyAuthConfig {
  readonly type: 'api-key';
  /** Name of the secret that holds `{"keys": [{"hash", "tenant", "scopes"}]}`. */
  readonly secretName: string;
  /** Longest time a revoked key keeps working, in ms (`auth.revocationDelay`). */
  readonly revocationDelayMs: number;
  /** How long API Gateway caches an authorizer decision, in ms (whole seconds). */
  readonly cacheTtlMs: number;
  /** Age after which an authorizer container re-reads the key set, in ms: the rest of the delay. */
  readonly keySetMaxAgeMs: number;
}

/** JWT authorization by API Gateway itself, for teams with an identity provider. */
export interface JwtAuthConfig {
  readonly type: 'jwt';
  readonly issuer: string;
  readonly audience: readonly string[];
  /** The claim that names the tenant. */
  readonly tenantClaim: string;
}

/** How requests are authorized. */
export type AuthConfig = ApiKeyAuthConfig | JwtAuthConfig;

/** Stage-wide API Gateway throttling. */
export interface ApiConfig {
  /** Steady-state requests per second. */
  readonly throttleRateLimit: number;
  /** Burst of requests. */
  readonly throttleBurstLimit: number;
  /** Largest request body the api function accepts, in bytes; larger ones get 413. */
  readonly maxBodyBytes: number;
  /** Origins allowed by CORS (`*` for any); empty disables CORS. */
  readonly corsAllowOrigins: readonly string[];
}

/** The whole configuration, after validation and with every default applied. */
export interface AppConfig {
  readonly databases: Readonly<Record<string, DatabaseConfig>>;
  readonly features: Readonly<Record<Feature, string>>;
  readonly rateLimits: Readonly<Record<string, RateLimitConfig>>;
  readonly sessions: SessionsConfig;
  readonly cache: CacheConfig;
  readonly idempotency: IdempotencyConfig;
  readonly schedules: {
    readonly queueWorker: string;
    readonly maintenance: string;
    /** How often the usage probe reads each database's data size. */
    readonly usageProbe: string;
  };
  readonly auth: AuthConfig;
  readonly api: ApiConfig;
  readonly keyPrefix: string;
  readonly metricsNamespace: string;
  readonly logRetentionDays: (typeof LOG_RETENTION_DAYS)[number];
  readonly alarmEmail?: string;
  /** Monthly budget; without one there is no budget alarm. */
  readonly budget?: BudgetConfig;
}

/** A configuration value that cannot be used; the message names the path and the value. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`invalid configuration: ${path} ${message}`);
  }
}

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

/**
 * Parses a duration such as `"60 s"`, `"5 m"`, `"1 h"`, `"24 h"` or `"250 ms"` into milliseconds.
 *
 * @throws ConfigError naming `path` when the text is not a positive whole duration
 */
export function parseDuration(value: unknown, path: string): number {
  if (typeof value !== 'string')
    throw new ConfigError(path, `must be a duration like "60 s", got ${show(value)}`);
  const match = /^\s*(\d+)\s*([a-z]+)\s*$/.exec(value);
  const unit = match?.[2] ? UNITS_MS[match[2]] : undefined;
  if (!match || unit === undefined) {
    throw new ConfigError(
      path,
      `must be a duration like "60 s", "5 m" or "1 h" (units ms, s, m, h, d), got ${show(value)}`,
    );
  }
  const ms = Number(match[1]) * unit;
  if (ms <= 0) throw new ConfigError(path, `must be longer than zero, got ${show(value)}`);
  return ms;
}

/**
 * Validates a raw configuration object and applies the defaults.
 *
 * @param raw the object from cdk.json context (or a JSON string, as `cdk -c upstash='{...}'` passes)
 * @throws ConfigError naming the bad path and value
 */
export function parseConfig(raw: unknown): AppConfig {
  const root = asObject(typeof raw === 'string' ? parseJson(raw) : raw, CONFIG_CONTEXT_KEY);
  checkKeys(root, CONFIG_CONTEXT_KEY, [
    'databases',
    'features',
    'rateLimits',
    'sessions',
    'cache',
    'idempotency',
    'schedules',
    'auth',
    'api',
    'keyPrefix',
    'metricsNamespace',
    'logRetentionDays',
    'alarmEmail',
    'budget',
  ]);
  const databases = parseDatabases(root.databases);
  const budget = root.budget === undefined ? undefined : parseBudget(root.budget, Object.keys(databases));
  const config: AppConfig = {
    databases,
    features: parseFeatures(root.features, Object.keys(databases)),
    rateLimits: parseRateLimits(root.rateLimits),
    sessions: parseSessions(root.sessions),
    cache: parseCache(root.cache),
    idempotency: parseIdempotency(root.idempotency),
    schedules: parseSchedules(root.schedules),
    auth: parseAuth(root.auth),
    api: parseApi(root.api),
    keyPrefix: optionalString(
      root.keyPrefix,
      'keyPrefix',
      'app',
      /^[A-Za-z0-9_-]{1,32}$/,
      'letters, digits, _ or -, at most 32',
    ),
    metricsNamespace: optionalString(
      root.metricsNamespace,
      'metricsNamespace',
      'UpstashState',
      /^[A-Za-z0-9_./#:-]{1,255}$/,
      'a CloudWatch namespace (letters, digits, . _ - / # :)',
    ),
    logRetentionDays: parseRetention(root.logRetentionDays),
    ...(budget ? { budget } : {}),
  };
  if (root.alarmEmail === undefined) return config;
  if (typeof root.alarmEmail !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(root.alarmEmail)) {
    throw new ConfigError('alarmEmail', `must be an email address, got ${show(root.alarmEmail)}`);
  }
  return { ...config, alarmEmail: root.alarmEmail };
}

/**
 * Reads and validates the configuration from the context of a construct tree.
 *
 * @throws ConfigError when the context key is missing or invalid
 */
export function configFromContext(node: Node): AppConfig {
  const raw = node.tryGetContext(CONFIG_CONTEXT_KEY);
  if (raw === undefined) {
    throw new ConfigError(
      CONFIG_CONTEXT_KEY,
      'is missing: add it to the "context" of cdk.json (see docs/deploy.md)',
    );
  }
  return parseConfig(raw);
}

/** The databases a set of features uses, each once, in config order. */
export function databasesOf(config: AppConfig, features: readonly Feature[]): string[] {
  const used = new Set(features.map((feature) => config.features[feature]));
  return Object.keys(config.databases).filter((name) => used.has(name));
}

/**
 * The non-secret runtime configuration the functions read from `APP_CONFIG`: durations are
 * already in milliseconds, secret names and deploy-only settings are left out.
 */
export function runtimeConfig(config: AppConfig): Record<string, unknown> {
  const auth =
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

function parseDatabases(value: unknown): Record<string, DatabaseConfig> {
  const databases = asObject(value, 'databases');
  const names = Object.keys(databases);
  if (names.length === 0) throw new ConfigError('databases', 'must name at least one database, got {}');
  const result: Record<string, DatabaseConfig> = {};
  const secretNames = new Map<string, string>();
  for (const name of names) {
    const path = `databases.${name}`;
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(name)) {
      throw new ConfigError(
        path,
        `has a bad name ${show(name)}: use lower-case letters, digits and -, starting with a letter`,
      );
    }
    const db = asObject(databases[name], path);
    checkKeys(db, path, ['secretName', 'mode', 'migration', 'plan']);
    const secretName = optionalString(
      db.secretName,
      `${path}.secretName`,
      `upstash/${name}`,
      /^[A-Za-z0-9/_+=.@-]{1,512}$/,
      'a Secrets Manager name (letters, digits and /_+=.@-)',
    );
    const clash = secretNames.get(secretName);
    if (clash)
      throw new ConfigError(
        `${path}.secretName`,
        `${show(secretName)} is already used by databases.${clash}`,
      );
    secretNames.set(secretName, name);
    const mode = db.mode === undefined ? 'rest' : oneOf(db.mode, `${path}.mode`, ['rest', 'tcp'] as const);
    const migration =
      db.migration === undefined ? undefined : parseMigration(db.migration, `${path}.migration`, secretName);
    if (migration) {
      const used = secretNames.get(migration.sourceSecretName);
      if (used) {
        throw new ConfigError(
          `${path}.migration.sourceSecretName`,
          `${show(migration.sourceSecretName)} is already used by databases.${used}`,
        );
      }
      secretNames.set(migration.sourceSecretName, `${name} (migration source)`);
    }
    const plan = parsePlan(db.plan, `${path}.plan`);
    result[name] = { secretName, mode, ...(migration ? { migration } : {}), plan };
  }
  return result;
}

function parseMigration(value: unknown, path: string, secretName: string): MigrationConfig {
  const migration = asObject(value, path);
  checkKeys(migration, path, ['mode', 'sourceSecretName', 'rolloutPercent', 'rolloutBy']);
  const percent = migration.rolloutPercent ?? 0;
  if (typeof percent !== 'number' || !(percent >= 0 && percent <= 100)) {
    throw new ConfigError(`${path}.rolloutPercent`, `must be a number from 0 to 100, got ${show(percent)}`);
  }
  return {
    mode: oneOf(migration.mode, `${path}.mode`, ['off', 'shadow', 'rollout', 'upstash'] as const),
    sourceSecretName: optionalString(
      migration.sourceSecretName,
      `${path}.sourceSecretName`,
      `${secretName}/source`,
      /^[A-Za-z0-9/_+=.@-]{1,512}$/,
      'a Secrets Manager name (letters, digits and /_+=.@-)',
    ),
    rolloutPercent: percent,
    rolloutBy:
      migration.rolloutBy === undefined
        ? 'key'
        : oneOf(migration.rolloutBy, `${path}.rolloutBy`, ['key', 'tenant'] as const),
  };
}

/**
 * Parses a size such as `"256 MB"`, `"100 GB"` or `"1.5 GB"` into bytes (units B, KB, MB, GB, TB,
 * binary: 1 GB = 1024³ bytes, as Redis counts memory).
 *
 * @throws ConfigError naming `path` when the text is not a positive size
 */
export function parseSize(value: unknown, path: string): number {
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$/.exec(value) : null;
  const unit = match?.[2] ? SIZE_UNITS[match[2].toUpperCase()] : undefined;
  const bytes = match && unit !== undefined ? Math.round(Number(match[1]) * unit) : 0;
  if (bytes <= 0) {
    throw new ConfigError(
      path,
      `must be a size like "256 MB" or "100 GB" (units B, KB, MB, GB, TB), got ${show(value)}`,
    );
  }
  return bytes;
}

/**
 * A database's plan: a preset name (`"free"`, `"pay-as-you-go"`, `"fixed-250mb"`), or an object
 * naming a preset and overriding any of its figures (a soft daily cap, a negotiated price).
 */
function parsePlan(value: unknown, path: string): UpstashPlan {
  if (value === undefined) return PLAN_PRESETS[DEFAULT_PLAN];
  if (typeof value === 'string') return PLAN_PRESETS[oneOf(value, path, PLAN_PRESET_NAMES)];
  const plan = asObject(value, path);
  checkKeys(plan, path, [
    'preset',
    'dailyCommands',
    'maxDataSize',
    'monthlyBandwidth',
    'pricePer100kCommands',
    'monthlyFeeUsd',
  ]);
  const preset: PlanPreset =
    plan.preset === undefined ? DEFAULT_PLAN : oneOf(plan.preset, `${path}.preset`, PLAN_PRESET_NAMES);
  const base = PLAN_PRESETS[preset];
  const dailyCommands =
    plan.dailyCommands === undefined
      ? base.dailyCommands
      : positiveInt(plan.dailyCommands, `${path}.dailyCommands`);
  return {
    preset,
    ...(dailyCommands !== undefined ? { dailyCommands } : {}),
    maxDataBytes:
      plan.maxDataSize === undefined ? base.maxDataBytes : parseSize(plan.maxDataSize, `${path}.maxDataSize`),
    monthlyBandwidthBytes:
      plan.monthlyBandwidth === undefined
        ? base.monthlyBandwidthBytes
        : parseSize(plan.monthlyBandwidth, `${path}.monthlyBandwidth`),
    pricePer100kCommands:
      plan.pricePer100kCommands === undefined
        ? base.pricePer100kCommands
        : dollars(plan.pricePer100kCommands, `${path}.pricePer100kCommands`),
    monthlyFeeUsd:
      plan.monthlyFeeUsd === undefined
        ? base.monthlyFeeUsd
        : dollars(plan.monthlyFeeUsd, `${path}.monthlyFeeUsd`),
  };
}

/** CloudWatch lets an alarm's math read at most 10 metrics; the budget alarm reads one per database. */
const MAX_BUDGET_DATABASES = 10;

function parseBudget(value: unknown, databases: readonly string[]): BudgetConfig {
  const budget = asObject(value, 'budget');
  checkKeys(budget, 'budget', ['monthlyUsd']);
  const monthlyUsd = dollars(budget.monthlyUsd, 'budget.monthlyUsd');
  if (monthlyUsd <= 0)
    throw new ConfigError('budget.monthlyUsd', `must be more than 0, got ${show(monthlyUsd)}`);
  if (databases.length > MAX_BUDGET_DATABASES) {
    throw new ConfigError(
      'budget',
      `works with at most ${MAX_BUDGET_DATABASES} databases (a CloudWatch alarm reads 10 metrics at most), got ${databases.length}`,
    );
  }
  return { monthlyUsd };
}

/** A non-negative amount of dollars. */
function dollars(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigError(path, `must be an amount of dollars (a number, 0 or more), got ${show(value)}`);
  }
  return value;
}

function parseFeatures(value: unknown, known: readonly string[]): Record<Feature, string> {
  const features = value === undefined ? {} : asObject(value, 'features');
  checkKeys(features, 'features', FEATURES);
  const only = known.length === 1 ? known[0] : undefined;
  const result = {} as Record<Feature, string>;
  for (const feature of FEATURES) {
    const path = `features.${feature}`;
    const db = features[feature];
    if (db === undefined) {
      if (only === undefined) {
        throw new ConfigError(
          path,
          `is required with ${known.length} databases (known: ${known.join(', ')})`,
        );
      }
      result[feature] = only;
    } else if (typeof db !== 'string' || !known.includes(db)) {
      throw new ConfigError(path, `refers to unknown database ${show(db)} (known: ${known.join(', ')})`);
    } else {
      result[feature] = db;
    }
  }
  return result;
}

const DEFAULT_RATE_LIMITS = {
  api: { algorithm: 'sliding-window', limit: 100, window: '60 s' },
};

function parseRateLimits(value: unknown): Record<string, RateLimitConfig> {
  const limits = asObject(value ?? DEFAULT_RATE_LIMITS, 'rateLimits');
  const result: Record<string, RateLimitConfig> = {};
  for (const [name, raw] of Object.entries(limits)) {
    const path = `rateLimits.${name}`;
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(name)) {
      throw new ConfigError(path, `has a bad name ${show(name)}: use lower-case letters, digits and -`);
    }
    const limit = asObject(raw, path);
    checkKeys(limit, path, ['algorithm', 'limit', 'window', 'refillRate', 'outage']);
    const algorithm = oneOf(limit.algorithm, `${path}.algorithm`, RATE_LIMIT_ALGORITHMS);
    const count = positiveInt(limit.limit, `${path}.limit`);
    const refillRate =
      limit.refillRate === undefined ? count : positiveInt(limit.refillRate, `${path}.refillRate`);
    if (algorithm !== 'token-bucket' && limit.refillRate !== undefined) {
      throw new ConfigError(
        `${path}.refillRate`,
        `applies to token-bucket only, got it on ${show(algorithm)}`,
      );
    }
    result[name] = {
      algorithm,
      limit: count,
      windowMs: parseDuration(limit.window, `${path}.window`),
      refillRate,
      outage: limit.outage === undefined ? 'local' : oneOf(limit.outage, `${path}.outage`, OUTAGE_POLICIES),
    };
  }
  return result;
}

function parseSessions(value: unknown): SessionsConfig {
  const sessions = value === undefined ? {} : asObject(value, 'sessions');
  checkKeys(sessions, 'sessions', ['idleTtl', 'absoluteTtl', 'maxPerUser']);
  const idleTtlMs = parseDuration(sessions.idleTtl ?? '1 h', 'sessions.idleTtl');
  const absoluteTtlMs = parseDuration(sessions.absoluteTtl ?? '24 h', 'sessions.absoluteTtl');
  if (idleTtlMs > absoluteTtlMs) {
    throw new ConfigError(
      'sessions.idleTtl',
      `must not exceed sessions.absoluteTtl, got ${show(sessions.idleTtl)} > ${show(sessions.absoluteTtl ?? '24 h')}`,
    );
  }
  const maxPerUser =
    sessions.maxPerUser === undefined ? 20 : positiveInt(sessions.maxPerUser, 'sessions.maxPerUser');
  return { idleTtlMs, absoluteTtlMs, maxPerUser };
}

function parseCache(value: unknown): CacheConfig {
  const cache = value === undefined ? {} : asObject(value, 'cache');
  checkKeys(cache, 'cache', ['defaultTtl', 'maxValueBytes', 'fallback', 'localWrites', 'namespaces']);
  const maxValueBytes =
    cache.maxValueBytes === undefined ? 102_400 : positiveInt(cache.maxValueBytes, 'cache.maxValueBytes');
  // Upstash rejects requests above 10 MB (free plans 1 MB); a bigger limit would only move the error.
  if (maxValueBytes > 10 * 1024 * 1024) {
    throw new ConfigError(
      'cache.maxValueBytes',
      `must be at most 10485760 (the Upstash request limit), got ${maxValueBytes}`,
    );
  }
  for (const flag of ['fallback', 'localWrites'] as const) {
    if (cache[flag] !== undefined && typeof cache[flag] !== 'boolean') {
      throw new ConfigError(`cache.${flag}`, `must be true or false, got ${show(cache[flag])}`);
    }
  }
  const namespaces = cache.namespaces ?? [];
  if (
    !Array.isArray(namespaces) ||
    namespaces.some((n) => typeof n !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(n)) ||
    new Set(namespaces).size !== namespaces.length
  ) {
    throw new ConfigError(
      'cache.namespaces',
      `must be a list of distinct names of 1-64 letters, digits, _ or - (a key's first segment), got ${show(namespaces)}`,
    );
  }
  return {
    defaultTtlMs: parseDuration(cache.defaultTtl ?? '5 m', 'cache.defaultTtl'),
    maxValueBytes,
    fallback: (cache.fallback as boolean | undefined) ?? true,
    localWrites: (cache.localWrites as boolean | undefined) ?? false,
    namespaces: namespaces as string[],
  };
}

function parseIdempotency(value: unknown): IdempotencyConfig {
  const idempotency = value === undefined ? {} : asObject(value, 'idempotency');
  checkKeys(idempotency, 'idempotency', ['ttl']);
  const ttlMs = parseDuration(idempotency.ttl ?? '24 h', 'idempotency.ttl');
  if (ttlMs < 60_000 || ttlMs > 7 * 86_400_000) {
    throw new ConfigError('idempotency.ttl', `must be from "1 m" to "7 d", got ${show(idempotency.ttl)}`);
  }
  return { ttlMs };
}

const SCHEDULE_EXPRESSION =
  /^(rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)|cron\([^()]+\))$/;

function parseSchedules(value: unknown): AppConfig['schedules'] {
  const schedules = value === undefined ? {} : asObject(value, 'schedules');
  checkKeys(schedules, 'schedules', ['queueWorker', 'maintenance', 'usageProbe']);
  const expression = (raw: unknown, path: string, fallback: string): string => {
    const text = raw ?? fallback;
    if (typeof text !== 'string' || !SCHEDULE_EXPRESSION.test(text)) {
      throw new ConfigError(
        path,
        `must be a Scheduler expression like "rate(1 minute)", "rate(15 minutes)" or "cron(0 3 * * ? *)", got ${show(text)}`,
      );
    }
    return text;
  };
  return {
    queueWorker: expression(schedules.queueWorker, 'schedules.queueWorker', 'rate(1 minute)'),
    maintenance: expression(schedules.maintenance, 'schedules.maintenance', 'rate(15 minutes)'),
    usageProbe: expression(schedules.usageProbe, 'schedules.usageProbe', 'rate(15 minutes)'),
  };
}

function parseAuth(value: unknown): AuthConfig {
  const auth = value === undefined ? { type: 'api-key' } : asObject(value, 'auth');
  const type = oneOf(auth.type ?? 'api-key', 'auth.type', ['api-key', 'jwt'] as const);
  if (type === 'api-key') {
    checkKeys(auth, 'auth', ['type', 'secretName', 'revocationDelay', 'cacheTtl']);
    const revocationDelayMs = parseDuration(auth.revocationDelay ?? '5 m', 'auth.revocationDelay');
    if (revocationDelayMs < 1_000 || revocationDelayMs > 3_600_000) {
      throw new ConfigError(
        'auth.revocationDelay',
        `must be from "1 s" to "1 h", got ${show(auth.revocationDelay)}`,
      );
    }
    // The gateway cache takes the delay less the key set's share: a minute, or a fifth of short
    // delays. API Gateway counts its TTL in whole seconds (and at most one hour).
    const cacheTtlMs =
      auth.cacheTtl === undefined
        ? Math.floor((revocationDelayMs - Math.min(60_000, revocationDelayMs / 5)) / 1_000) * 1_000
        : parseDuration(auth.cacheTtl, 'auth.cacheTtl');
    if (cacheTtlMs % 1_000 !== 0) {
      throw new ConfigError('auth.cacheTtl', `must be whole seconds, got ${show(auth.cacheTtl)}`);
    }
    if (cacheTtlMs > revocationDelayMs) {
      throw new ConfigError(
        'auth.cacheTtl',
        `must be at most auth.revocationDelay (${show(auth.revocationDelay ?? '5 m')}): a revoked key works until both the gateway's cache and the authorizer's key set expire, got ${show(auth.cacheTtl)}`,
      );
    }
    return {
      type,
      secretName: optionalString(
        auth.secretName,
        'auth.secretName',
        'upstash/api-keys',
        /^[A-Za-z0-9/_+=.@-]{1,512}$/,
        'a Secrets Manager name (letters, digits and /_+=.@-)',
      ),
      revocationDelayMs,
      cacheTtlMs,
      keySetMaxAgeMs: revocationDelayMs - cacheTtlMs,
    };
  }
  checkKeys(auth, 'auth', ['type', 'issuer', 'audience', 'tenantClaim']);
  if (typeof auth.issuer !== 'string' || !/^https:\/\/[^\s/]+/.test(auth.issuer)) {
    throw new ConfigError(
      'auth.issuer',
      `must be an https URL for auth.type "jwt", got ${show(auth.issuer)}`,
    );
  }
  const audience = typeof auth.audience === 'string' ? [auth.audience] : auth.audience;
  if (
    !Array.isArray(audience) ||
    audience.length === 0 ||
    !audience.every((a): a is string => typeof a === 'string' && a.length > 0)
  ) {
    throw new ConfigError(
      'auth.audience',
      `must be a non-empty string or list of strings, got ${show(auth.audience)}`,
    );
  }
  return {
    type,
    issuer: auth.issuer,
    audience,
    tenantClaim: optionalString(
      auth.tenantClaim,
      'auth.tenantClaim',
      'tenant',
      /^[A-Za-z0-9_:./-]{1,128}$/,
      'a claim name',
    ),
  };
}

function parseApi(value: unknown): ApiConfig {
  const api = value === undefined ? {} : asObject(value, 'api');
  checkKeys(api, 'api', ['throttleRateLimit', 'throttleBurstLimit', 'maxBodyBytes', 'corsAllowOrigins']);
  const origins = api.corsAllowOrigins ?? [];
  if (
    !Array.isArray(origins) ||
    origins.some((o) => typeof o !== 'string' || (o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o)))
  ) {
    throw new ConfigError(
      'api.corsAllowOrigins',
      `must be a list of origins like "https://app.example.com" or "*", got ${show(origins)}`,
    );
  }
  return {
    throttleRateLimit:
      api.throttleRateLimit === undefined ? 100 : positiveInt(api.throttleRateLimit, 'api.throttleRateLimit'),
    throttleBurstLimit:
      api.throttleBurstLimit === undefined
        ? 200
        : positiveInt(api.throttleBurstLimit, 'api.throttleBurstLimit'),
    maxBodyBytes:
      api.maxBodyBytes === undefined ? 1_048_576 : positiveInt(api.maxBodyBytes, 'api.maxBodyBytes'),
    corsAllowOrigins: origins as string[],
  };
}

function parseRetention(value: unknown): AppConfig['logRetentionDays'] {
  if (value === undefined) return 30;
  const days = LOG_RETENTION_DAYS.find((d) => d === value);
  if (days === undefined) {
    throw new ConfigError(
      'logRetentionDays',
      `must be one of ${LOG_RETENTION_DAYS.join(', ')}, got ${show(value)}`,
    );
  }
  return days;
}

function asObject(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(path, `must be an object, got ${show(value)}`);
  }
  return value as Record<string, unknown>;
}

function checkKeys(value: Record<string, unknown>, path: string, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(`${path}.${key}`, `is not a known setting (known: ${allowed.join(', ')})`);
    }
  }
}

function oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined)
    throw new ConfigError(path, `must be one of ${allowed.join(', ')}, got ${show(value)}`);
  return found;
}

function positiveInt(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(path, `must be a positive whole number, got ${show(value)}`);
  }
  return value;
}

function optionalString(
  value: unknown,
  path: string,
  fallback: string,
  pattern: RegExp,
  what: string,
): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !pattern.test(value))
    throw new ConfigError(path, `must be ${what}, got ${show(value)}`);
  return value;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      CONFIG_CONTEXT_KEY,
      `is not valid JSON (${(error as Error).message}), got ${show(text)}`,
    );
  }
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

/**
 * The environment every Upstash function of the app shares, for the features it uses:
 * `FEATURE_DATABASES` (only those features, so each named database is one it may read),
 * `APP_CONFIG` (see {@link runtimeConfig}).
 */
export function featureEnvironment(config: AppConfig, features: readonly Feature[]): Record<string, string> {
  const featureDatabases = Object.fromEntries(features.map((feature) => [feature, config.features[feature]]));
  return {
    FEATURE_DATABASES: JSON.stringify(featureDatabases),
    APP_CONFIG: JSON.stringify(runtimeConfig(config)),
  };
}
