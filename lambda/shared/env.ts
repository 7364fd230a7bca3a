import * as v from 'valibot';
import {
  DEFAULTS,
  databaseMode,
  dictionary,
  FEATURES,
  type Feature,
  keyPrefix,
  migrationFields,
  type RuntimeConfig,
  RuntimeConfigSchema,
  settings,
  validate,
} from './config';
import { ConfigurationError } from './errors';
import type { MigrationMode, RolloutBy } from './migration';

export type { Feature } from './config';

/** How a database is reached: Upstash REST (default) or a Redis TCP connection through ioredis. */
export type DatabaseMode = 'rest' | 'tcp';

/** One database of a function, from `UPSTASH_DATABASES` (or implied for local use). */
export interface RuntimeDatabase {
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
  readonly databases: Readonly<Record<string, RuntimeDatabase>>;
  /** Database name of each feature this function has a database for. */
  readonly features: Readonly<Partial<Record<Feature, string>>>;
  /** First segment of every key (`KEY_PREFIX`). */
  readonly keyPrefix: string;
  /** Non-secret configuration (`APP_CONFIG`), validated, every default applied. */
  readonly config: RuntimeConfig;
}

/**
 * Environment variables the runtime reads. `UpstashFunction` (lib/constructs) writes exactly these
 * from its props, and the local stack from its databases: see {@link functionEnvironment}.
 */
export const ENV = {
  databases: 'UPSTASH_DATABASES',
  features: 'FEATURE_DATABASES',
  keyPrefix: 'KEY_PREFIX',
  appConfig: 'APP_CONFIG',
} as const;

/** Name of the implied database when the environment names none. */
export const DEFAULT_DATABASE = 'default';

// Database names end up in environment variable names (`UPSTASH_REDIS_REST_URL_<DB>`).
const DATABASE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;

/** The suffix of a database's local variables: `state` -> `STATE`, `rate-limits` -> `RATE_LIMITS`. */
export const envSuffix = (database: string): string => database.toUpperCase().replace(/-/g, '_');

const nonEmpty = () =>
  v.pipe(
    v.string((issue) => `must be a non-empty string, got ${issue.received}`),
    v.trim(),
    v.nonEmpty('must be a non-empty string'),
  );

const databaseName = v.pipe(
  v.string(),
  v.regex(
    DATABASE_NAME,
    (issue) =>
      `is not a database name (1-32 characters of A-Z, a-z, 0-9, "_" or "-" starting with a letter), got ${issue.received}`,
  ),
);

/** `UPSTASH_DATABASES`: `{"<name>": {"secretArn": "...", "mode": "rest", "migration": {...}}}`. */
export const DatabasesEnvSchema = v.pipe(
  dictionary(
    databaseName,
    settings({
      secretArn: v.optional(nonEmpty()),
      mode: databaseMode(),
      migration: v.optional(settings({ ...migrationFields(), sourceSecretArn: v.optional(nonEmpty()) })),
    }),
    'a JSON object {"<db>": {"secretArn": "...", "mode": "rest"}}',
  ),
  v.check((dbs) => Object.keys(dbs).length > 0, 'must name at least one database, got {}'),
);

/** `FEATURE_DATABASES`: the database of each feature the function uses. */
export const FeatureDatabasesSchema = settings(
  Object.fromEntries(FEATURES.map((feature) => [feature, v.optional(databaseName)])) as Record<
    Feature,
    v.OptionalSchema<typeof databaseName, undefined>
  >,
);

/** The usual split: cache data on an evicting database, everything else on a non-evicting one. */
const STANDARD_SPLIT: Record<Feature, string> = {
  cache: 'cache',
  sessions: 'state',
  rateLimit: 'state',
  locks: 'state',
  queue: 'state',
};

// These variables hold ARNs, names and non-secret JSON, so quoting them in errors is safe; cut
// them short so one bad variable cannot flood a log line.
const quote = (value: string): string =>
  JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}...` : value);

/** Validates one JSON variable against `schema`: every problem in one error, one line each. */
function read<S extends v.GenericSchema>(
  schema: S,
  variable: string,
  raw: string | undefined,
  fallback: unknown,
): v.InferOutput<S> {
  let input = fallback;
  if (raw !== undefined) {
    try {
      input = JSON.parse(raw);
    } catch (error) {
      throw new ConfigurationError(`${variable} must be JSON, got ${quote(raw)}`, { cause: error });
    }
  }
  return validate(schema, input, variable, (lines) => new ConfigurationError(lines.join('\n')));
}

/**
 * Reads and validates the runtime environment, once per cold start (the runtime memoizes it).
 * Throws a {@link ConfigurationError} naming each bad variable and value; none of these variables
 * holds a secret (tokens live in Secrets Manager, or in the local-only
 * `UPSTASH_REDIS_REST_TOKEN*`, which this function never reads).
 *
 * Without `UPSTASH_DATABASES` the databases are those named in `FEATURE_DATABASES`, or a single
 * one named `default`; either way their credentials come from environment variables (local use).
 * A feature the environment gives no database fails when it is used, not here: a function only
 * needs the databases of the features it uses.
 *
 * @param env - the environment to read
 * @default env - `process.env`
 */
export function readRuntimeEnv(env: NodeJS.ProcessEnv = process.env): RuntimeEnv {
  const rawDatabases = env[ENV.databases]?.trim() || undefined;
  const rawFeatures = env[ENV.features]?.trim() || undefined;
  const explicit = read(FeatureDatabasesSchema, ENV.features, rawFeatures, {});

  let databases: Record<string, RuntimeDatabase>;
  if (rawDatabases) {
    const parsed = read(DatabasesEnvSchema, ENV.databases, rawDatabases, {});
    databases = Object.fromEntries(
      Object.entries(parsed).map(([name, spec]) => [name, { name, ...spec } as RuntimeDatabase]),
    );
  } else {
    const names = [...new Set(Object.values(explicit).filter((db): db is string => db !== undefined))];
    databases = Object.fromEntries(
      (names.length > 0 ? names : [DEFAULT_DATABASE]).map((name) => [name, { name, mode: 'rest' as const }]),
    );
  }

  const names = Object.keys(databases);
  const features: Partial<Record<Feature, string>> = {};
  for (const feature of FEATURES) {
    const named = explicit[feature];
    if (named !== undefined) {
      if (!(named in databases)) {
        throw new ConfigurationError(
          `${ENV.features}.${feature} names database ${quote(named)}, which ${ENV.databases} does not define (defined: ${names.join(', ')})`,
        );
      }
      features[feature] = named;
    } else if (rawFeatures === undefined && names.length === 1) {
      features[feature] = names[0] as string;
    } else if (rawFeatures === undefined && STANDARD_SPLIT[feature] in databases) {
      features[feature] = STANDARD_SPLIT[feature];
    }
  }

  const prefix = env[ENV.keyPrefix]?.trim() || undefined;
  return {
    databases,
    features,
    keyPrefix: prefix === undefined ? DEFAULTS.keyPrefix : validate(keyPrefix(), prefix, ENV.keyPrefix, fail),
    config: read(RuntimeConfigSchema, ENV.appConfig, env[ENV.appConfig]?.trim() || undefined, {}),
  };
}

const fail = (lines: string[]): Error => new ConfigurationError(lines.join('\n'));

/** What {@link functionEnvironment} writes. */
export interface FunctionEnvironmentInput {
  /** The function's databases by name, with their secret ARN (none for local credentials). */
  readonly databases: Readonly<Record<string, Partial<Omit<RuntimeDatabase, 'name'>>>>;
  /** Which database serves each feature the function uses. */
  readonly features: Readonly<Partial<Record<Feature, string>>>;
  /** @default 'app' */
  readonly keyPrefix?: string;
  /** @default - none: the runtime applies the defaults */
  readonly config?: RuntimeConfig;
}

/**
 * The environment a function's runtime reads ({@link readRuntimeEnv}), as the function construct
 * writes it at synth and the local stack at start: one writer for both.
 */
export function functionEnvironment(input: FunctionEnvironmentInput): Record<string, string> {
  return {
    [ENV.databases]: JSON.stringify(input.databases),
    [ENV.features]: JSON.stringify(input.features),
    [ENV.keyPrefix]: input.keyPrefix ?? DEFAULTS.keyPrefix,
    ...(input.config ? { [ENV.appConfig]: JSON.stringify(input.config) } : {}),
  };
}
