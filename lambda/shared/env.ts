import { ConfigurationError } from './errors';
import { MIGRATION_MODES, type MigrationMode, type RolloutBy } from './migration';

/** The features that need a database, as named in `FEATURE_DATABASES` and by `redisFor()`. */
export type RuntimeFeature = 'cache' | 'sessions' | 'rateLimit' | 'locks' | 'queue';

/** Every {@link RuntimeFeature}, in a stable order. */
export const RUNTIME_FEATURES: readonly RuntimeFeature[] = [
  'cache',
  'sessions',
  'rateLimit',
  'locks',
  'queue',
];

/** How a database is reached: Upstash REST (default) or a Redis TCP connection through ioredis. */
export type DatabaseMode = 'rest' | 'tcp';

/** One database of the deployment, from `UPSTASH_DATABASES` (or implied for local use). */
export interface DatabaseConfig {
  /** Logical name (`cache`, `state`, ...); also the suffix of the per-database local variables. */
  readonly name: string;
  /** Transport. */
  readonly mode: DatabaseMode;
  /**
   * ARN (or name) of the Secrets Manager secret holding the credentials.
   * @default - none: local use, credentials come from environment variables
   */
  readonly secretArn?: string;
  /**
   * Migration from a self-hosted Redis.
   * @default - none: Upstash only
   */
  readonly migration?: DatabaseMigration;
}

/** A database moving from a self-hosted Redis (docs/migration.md). */
export interface DatabaseMigration {
  readonly mode: MigrationMode;
  /**
   * ARN (or name) of the secret holding the old Redis's `{"url":"redis://..."}`.
   * @default - local use: `REDIS_URL_<DB>_SOURCE`
   */
  readonly sourceSecretArn?: string;
  /** Share of reads Upstash serves in `rollout`, 0 to 100. */
  readonly rolloutPercent: number;
  readonly rolloutBy: RolloutBy;
}

/** The validated runtime environment of a function. */
export interface RuntimeEnv {
  /** Databases by name. */
  readonly databases: Readonly<Record<string, DatabaseConfig>>;
  /** Database name of each feature. */
  readonly features: Readonly<Record<RuntimeFeature, string>>;
  /** First segment of every key (`KEY_PREFIX`). */
  readonly keyPrefix: string;
  /** Non-secret configuration (`APP_CONFIG`), parsed. */
  readonly appConfig: Readonly<Record<string, unknown>>;
}

/** Environment variables the runtime reads; the CDK stacks set exactly these names. */
export const ENV = {
  databases: 'UPSTASH_DATABASES',
  features: 'FEATURE_DATABASES',
  keyPrefix: 'KEY_PREFIX',
  appConfig: 'APP_CONFIG',
} as const;

/** Name of the implied database when the environment names none. */
export const DEFAULT_DATABASE = 'default';

/** Key prefix when `KEY_PREFIX` is unset. */
export const DEFAULT_KEY_PREFIX = 'app';

// Database names end up in environment variable names (`UPSTASH_REDIS_REST_URL_<DB>`).
const DATABASE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;
const KEY_PREFIX = /^[A-Za-z0-9_-]{1,32}$/;

/** The suffix of a database's local variables: `state` -> `STATE`, `rate-limits` -> `RATE_LIMITS`. */
export const envSuffix = (database: string): string => database.toUpperCase().replace(/-/g, '_');

// These variables hold ARNs, names and non-secret JSON, so quoting them in errors is safe; cut
// them short so one bad variable cannot flood a log line.
const quote = (value: string): string =>
  JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}...` : value);

function parseJson(variable: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new ConfigurationError(`${variable} must be JSON, got ${quote(raw)}`, { cause: error });
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function parseDatabases(raw: string): Record<string, DatabaseConfig> {
  const parsed = parseJson(ENV.databases, raw);
  if (!isObject(parsed) || Object.keys(parsed).length === 0) {
    throw new ConfigurationError(
      `${ENV.databases} must be a non-empty JSON object {"<db>": {"secretArn": "...", "mode": "rest"}}, got ${quote(raw)}`,
    );
  }
  const databases: Record<string, DatabaseConfig> = {};
  for (const [name, spec] of Object.entries(parsed)) {
    if (!DATABASE_NAME.test(name)) {
      throw new ConfigurationError(
        `${ENV.databases}: database name must be 1-32 characters of A-Z, a-z, 0-9, "_" or "-" starting with a letter, got ${quote(name)}`,
      );
    }
    if (!isObject(spec)) {
      throw new ConfigurationError(
        `${ENV.databases}.${name} must be an object, got ${quote(JSON.stringify(spec))}`,
      );
    }
    const { secretArn, mode = 'rest' } = spec;
    if (secretArn !== undefined && (typeof secretArn !== 'string' || secretArn.trim() === '')) {
      throw new ConfigurationError(
        `${ENV.databases}.${name}.secretArn must be a non-empty string, got ${quote(JSON.stringify(secretArn))}`,
      );
    }
    if (mode !== 'rest' && mode !== 'tcp') {
      throw new ConfigurationError(
        `${ENV.databases}.${name}.mode must be "rest" or "tcp", got ${quote(JSON.stringify(mode))}`,
      );
    }
    const migration = spec.migration === undefined ? undefined : parseMigration(name, spec.migration);
    databases[name] = {
      name,
      mode,
      ...(secretArn !== undefined ? { secretArn: secretArn as string } : {}),
      ...(migration ? { migration } : {}),
    };
  }
  return databases;
}

function parseMigration(name: string, spec: unknown): DatabaseMigration {
  const where = `${ENV.databases}.${name}.migration`;
  if (!isObject(spec))
    throw new ConfigurationError(`${where} must be an object, got ${quote(JSON.stringify(spec))}`);
  const { mode, sourceSecretArn, rolloutPercent = 0, rolloutBy = 'key' } = spec;
  if (!MIGRATION_MODES.includes(mode as MigrationMode)) {
    throw new ConfigurationError(
      `${where}.mode must be one of ${MIGRATION_MODES.join(', ')}, got ${quote(JSON.stringify(mode))}`,
    );
  }
  if (
    sourceSecretArn !== undefined &&
    (typeof sourceSecretArn !== 'string' || sourceSecretArn.trim() === '')
  ) {
    throw new ConfigurationError(`${where}.sourceSecretArn must be a non-empty string`);
  }
  if (typeof rolloutPercent !== 'number' || !(rolloutPercent >= 0 && rolloutPercent <= 100)) {
    throw new ConfigurationError(
      `${where}.rolloutPercent must be a number from 0 to 100, got ${quote(JSON.stringify(rolloutPercent))}`,
    );
  }
  if (rolloutBy !== 'key' && rolloutBy !== 'tenant') {
    throw new ConfigurationError(
      `${where}.rolloutBy must be "key" or "tenant", got ${quote(JSON.stringify(rolloutBy))}`,
    );
  }
  return {
    mode: mode as MigrationMode,
    ...(sourceSecretArn !== undefined ? { sourceSecretArn: sourceSecretArn as string } : {}),
    rolloutPercent,
    rolloutBy,
  };
}

function parseFeatures(raw: string): Partial<Record<RuntimeFeature, string>> {
  const parsed = parseJson(ENV.features, raw);
  if (!isObject(parsed)) {
    throw new ConfigurationError(
      `${ENV.features} must be a JSON object of feature -> database, got ${quote(raw)}`,
    );
  }
  const features: Partial<Record<RuntimeFeature, string>> = {};
  for (const [feature, database] of Object.entries(parsed)) {
    if (!(RUNTIME_FEATURES as readonly string[]).includes(feature)) {
      throw new ConfigurationError(
        `${ENV.features}: unknown feature ${quote(feature)}; known: ${RUNTIME_FEATURES.join(', ')}`,
      );
    }
    if (typeof database !== 'string' || !DATABASE_NAME.test(database)) {
      throw new ConfigurationError(
        `${ENV.features}.${feature} must be a database name, got ${quote(JSON.stringify(database))}`,
      );
    }
    features[feature as RuntimeFeature] = database;
  }
  return features;
}

/** The usual split: cache data on an evicting database, everything else on a non-evicting one. */
const STANDARD_SPLIT: Record<RuntimeFeature, string> = {
  cache: 'cache',
  sessions: 'state',
  rateLimit: 'state',
  locks: 'state',
  queue: 'state',
};

/**
 * Reads and validates the runtime environment. Throws a {@link ConfigurationError} naming the
 * variable and its bad value; none of these variables holds a secret (tokens live in Secrets
 * Manager, or in the local-only `UPSTASH_REDIS_REST_TOKEN*`, which this function never reads).
 *
 * Without `UPSTASH_DATABASES` the databases are those named in `FEATURE_DATABASES`, or a single
 * one named `default`; either way their credentials come from environment variables (local use).
 *
 * @param env - the environment to read
 * @default env - `process.env`
 */
export function readRuntimeEnv(env: NodeJS.ProcessEnv = process.env): RuntimeEnv {
  const rawDatabases = env[ENV.databases]?.trim();
  const rawFeatures = env[ENV.features]?.trim();
  const explicitFeatures = rawFeatures ? parseFeatures(rawFeatures) : {};

  let databases: Record<string, DatabaseConfig>;
  if (rawDatabases) {
    databases = parseDatabases(rawDatabases);
  } else {
    const names = [...new Set(Object.values(explicitFeatures))];
    databases = Object.fromEntries(
      (names.length > 0 ? names : [DEFAULT_DATABASE]).map((name) => [name, { name, mode: 'rest' as const }]),
    );
  }

  const names = Object.keys(databases);
  const features = {} as Record<RuntimeFeature, string>;
  for (const feature of RUNTIME_FEATURES) {
    const explicit = explicitFeatures[feature];
    if (explicit !== undefined) {
      if (!(explicit in databases)) {
        throw new ConfigurationError(
          `${ENV.features}.${feature} names database ${quote(explicit)}, which ${ENV.databases} does not define (defined: ${names.join(', ')})`,
        );
      }
      features[feature] = explicit;
    } else if (names.length === 1) {
      features[feature] = names[0] as string;
    } else if (STANDARD_SPLIT[feature] in databases) {
      features[feature] = STANDARD_SPLIT[feature];
    } else {
      throw new ConfigurationError(
        `${ENV.features} must name the database of "${feature}" when there are several (${names.join(', ')})`,
      );
    }
  }

  const keyPrefix = env[ENV.keyPrefix]?.trim() || DEFAULT_KEY_PREFIX;
  if (!KEY_PREFIX.test(keyPrefix)) {
    throw new ConfigurationError(
      `${ENV.keyPrefix} must be 1-32 characters of A-Z, a-z, 0-9, "_" or "-", got ${quote(keyPrefix)}`,
    );
  }

  const rawAppConfig = env[ENV.appConfig]?.trim();
  let appConfig: Record<string, unknown> = {};
  if (rawAppConfig) {
    const parsed = parseJson(ENV.appConfig, rawAppConfig);
    if (!isObject(parsed)) {
      throw new ConfigurationError(`${ENV.appConfig} must be a JSON object, got ${quote(rawAppConfig)}`);
    }
    appConfig = parsed;
  }

  return { databases, features, keyPrefix, appConfig };
}
