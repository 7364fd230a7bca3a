import { tcpLeftOut } from './bundle-labels';
import { type ClientOptions, createRedisClient, type ManagedRedisClient } from './client';
import type { RuntimeConfig } from './config';
import {
  configureCredentials,
  loadCredentials,
  refreshCredentials,
  resetCredentialsForTests,
} from './credentials';
import { type Feature, type RuntimeDatabase, type RuntimeEnv, readRuntimeEnv } from './env';
import { ConfigurationError } from './errors';
import { KeyBuilder } from './keys';
import { MemoMap } from './memo';
import type { MigrationRouter } from './migration';
import type { RedisLike } from './redis';
import { usageRecorder } from './usage';

export type { Feature } from './env';

/**
 * The runtime entry of every handler: the environment read once, one Redis client per database
 * built once per cold start, the key builder. Module scope is the container's lifetime, so a
 * warm invocation reuses everything and makes no Secrets Manager call.
 *
 * @example
 * const redis = await redisFor('cache');
 * const keys = keyBuilder();
 * await redis.get(keys.key('cache', tenant, id));
 */

let env: RuntimeEnv | undefined;
let keys: KeyBuilder | undefined;
let clientOptions: ClientOptions = {};
const clients = new MemoMap<string, RedisLike & { close(): Promise<void> }>();
const routers = new Map<string, MigrationRouter>();

/**
 * A database's client. The databases of the deployment are metered (usage and cost metrics, by
 * database name); a migration's old Redis is not: Upstash does not bill it.
 */
const managed = (database: RuntimeDatabase, metered = true): Promise<ManagedRedisClient> =>
  createRedisClient(
    database,
    { load: () => loadCredentials(database), refresh: () => refreshCredentials(database) },
    metered ? { ...clientOptions, onRoundTrip: usageRecorder(database.name) } : clientOptions,
  );

// Loaded while a database migrates; left out of REST-only bundles (bundle-labels.ts).
let loadMigration: (() => Promise<typeof import('./migration')>) | undefined;
UPSTASH_TCP: loadMigration = () => import('./migration');

/**
 * The database's client: Upstash alone, or, while it is migrating in `shadow` or `rollout`, the
 * migration router over Upstash and the old Redis (its TCP credentials from the source secret).
 */
async function buildClient(database: RuntimeDatabase): Promise<RedisLike & { close(): Promise<void> }> {
  const migration = database.migration;
  if (!migration || migration.mode === 'off' || migration.mode === 'upstash') return managed(database);
  if (!loadMigration) throw tcpLeftOut(`database "${database.name}" (migrating)`);
  const { MigrationRouter } = await loadMigration();
  const source: RuntimeDatabase = {
    name: `${database.name}-source`,
    mode: 'tcp',
    ...(migration.sourceSecretArn ? { secretArn: migration.sourceSecretArn } : {}),
  };
  const [upstash, legacy] = await Promise.all([managed(database), managed(source, false)]);
  const router = new MigrationRouter({
    upstash,
    legacy,
    mode: migration.mode,
    rolloutPercent: migration.rolloutPercent,
    rolloutBy: migration.rolloutBy,
  });
  routers.set(database.name, router);
  return Object.assign(router, {
    close: async () => {
      await Promise.all([upstash.close(), legacy.close()]);
    },
  });
}

const direct = new MemoMap<string, ManagedRedisClient>();

/**
 * The Upstash client of a database, without the migration router even while it migrates: what
 * the key copy writes to. Memoized like {@link redisForDatabase}.
 */
export function upstashForDatabase(name: string): Promise<RedisLike> {
  const database = databaseConfig(name);
  if (!database.migration || database.migration.mode === 'off' || database.migration.mode === 'upstash') {
    return redisForDatabase(name);
  }
  return direct.get(name, () => managed(database));
}

/** The old Redis's URL of a migrating database, from its source secret (TCP credentials). */
export async function migrationSourceUrl(name: string): Promise<string> {
  const migration = databaseConfig(name).migration;
  if (!migration || migration.mode === 'off' || migration.mode === 'upstash') {
    throw new ConfigurationError(`database "${name}" is not migrating (mode shadow or rollout)`);
  }
  const credentials = await loadCredentials({
    name: `${name}-source`,
    mode: 'tcp',
    ...(migration.sourceSecretArn ? { secretArn: migration.sourceSecretArn } : {}),
  });
  if (credentials.mode !== 'tcp')
    throw new ConfigurationError(`the source of database "${name}" is not a Redis URL`);
  return credentials.url;
}

/** The migration routers of this container, by database (empty when nothing is migrating). */
export function migrationRouters(): ReadonlyMap<string, MigrationRouter> {
  return routers;
}

/** The validated environment (`UPSTASH_DATABASES`, `FEATURE_DATABASES`, `KEY_PREFIX`, `APP_CONFIG`), read once. */
export function runtimeEnv(): RuntimeEnv {
  env ??= readRuntimeEnv();
  return env;
}

/**
 * Name of the database that holds `feature`'s data.
 *
 * @throws ConfigurationError when the function was given no database for it (`FEATURE_DATABASES`)
 */
export function databaseFor(feature: Feature): string {
  const { features } = runtimeEnv();
  const database = features[feature];
  if (database === undefined) {
    const given = Object.keys(features);
    throw new ConfigurationError(
      `this function has no database for feature "${feature}" (FEATURE_DATABASES names ${given.length > 0 ? given.join(', ') : 'none'}): give its construct one in \`features\``,
    );
  }
  return database;
}

function databaseConfig(name: string): RuntimeDatabase {
  const database = runtimeEnv().databases[name];
  if (!database) throw new ConfigurationError(`unknown database "${name}"`);
  return database;
}

/**
 * The client of a database, built on first use and shared by every later call; concurrent cold
 * calls share one build (and one secret fetch). A failed build is forgotten so the next call
 * retries.
 */
export function redisForDatabase(name: string): Promise<RedisLike> {
  return clients.get(name, () => buildClient(databaseConfig(name)));
}

/**
 * The {@link RedisLike} for `feature`, on the database `FEATURE_DATABASES` assigns it.
 * Memoized per database: features sharing a database share a client (and its auto-pipeline).
 */
export function redisFor(feature: Feature): Promise<RedisLike> {
  return redisForDatabase(databaseFor(feature));
}

/** The one key builder, with the prefix from `KEY_PREFIX` (default `app`). */
export function keyBuilder(): KeyBuilder {
  keys ??= new KeyBuilder(runtimeEnv().keyPrefix);
  return keys;
}

/**
 * The non-secret configuration from `APP_CONFIG`, validated once per cold start against the
 * runtime schema (`lambda/shared/config.ts`), every default applied: typed, no casts.
 */
export function appConfig(): RuntimeConfig {
  return runtimeEnv().config;
}

/** Round-trip time of a PING to `database`, in ms. Throws like any command when it is down. */
export async function ping(database: string): Promise<number> {
  const redis = await redisForDatabase(database);
  const started = performance.now();
  await redis.ping();
  return Math.round((performance.now() - started) * 10) / 10;
}

/** One database's health, as `/health` reports it. */
export interface DatabaseHealth {
  readonly database: string;
  readonly ok: boolean;
  /** PING round trip in ms; `null` when it failed. */
  readonly latencyMs: number | null;
  /** Error code when not ok (`UPSTASH_UNAVAILABLE`, `CREDENTIALS_ERROR`, ...): never a message that could carry a secret. */
  readonly error?: string;
}

/** PINGs every database in parallel; never throws. */
export async function healthCheck(): Promise<DatabaseHealth[]> {
  return Promise.all(
    Object.keys(runtimeEnv().databases).map(async (database): Promise<DatabaseHealth> => {
      try {
        return { database, ok: true, latencyMs: await ping(database) };
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        return { database, ok: false, latencyMs: null, error: typeof code === 'string' ? code : 'UNKNOWN' };
      }
    }),
  );
}

/** Test-only tuning of a simulated container. */
export interface RuntimeTestOptions {
  /** Transport options of the clients built from now on. */
  readonly client?: ClientOptions;
  /**
   * Least time between two forced secret re-fetches, in ms.
   * @default 30_000
   */
  readonly refreshIntervalMs?: number;
}

/**
 * Test-only: forgets the environment, every client and every cached credential, as a new
 * container would (a cold start), and applies `options`. TCP connections are closed.
 */
export async function resetRuntimeForTests(options: RuntimeTestOptions = {}): Promise<void> {
  const built = [...clients.values(), ...direct.values()];
  clients.forget();
  direct.forget();
  routers.clear();
  env = undefined;
  keys = undefined;
  resetCredentialsForTests();
  clientOptions = options.client ?? {};
  if (options.refreshIntervalMs !== undefined)
    configureCredentials({ refreshIntervalMs: options.refreshIntervalMs });
  await Promise.all(built.map((client) => client.then((c) => c.close()).catch(() => {})));
}
