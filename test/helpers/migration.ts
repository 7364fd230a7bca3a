import { Redis as IORedis } from 'ioredis';
import { type RedisServer, startRedisServer } from '../../local/redis-server';
import { sharedEndpoint } from './redis';

/** The environment variables {@link migratingDatabase} sets, removed again by `stop()`. */
const VARIABLES = [
  'UPSTASH_DATABASES',
  'UPSTASH_REDIS_REST_URL_MAIN',
  'UPSTASH_REDIS_REST_TOKEN_MAIN',
  'REDIS_URL_MAIN_SOURCE',
] as const;

/** An old Redis of the test's own and the environment of a database `main` migrating from it. */
export interface MigratingDatabase {
  readonly old: RedisServer;
  /** A plain client of the old Redis, to seed it and look inside. */
  readonly oldRaw: IORedis;
  /** Closes the client, stops the old Redis and removes the variables. */
  stop(): Promise<void>;
}

/**
 * Starts an old Redis and sets the function environment the stacks would set for a database
 * `main` in migration `mode` (`UPSTASH_DATABASES` with `migration`), with local credentials: the
 * shared Upstash endpoint for `main`, the old Redis for its source. Reset the runtime after this.
 */
export async function migratingDatabase(
  mode: 'shadow' | 'rollout',
  env: Record<string, string> = {},
): Promise<MigratingDatabase> {
  const old = await startRedisServer();
  const oldRaw = new IORedis(old.url);
  const { url, token } = sharedEndpoint();
  delete process.env.FEATURE_DATABASES;
  Object.assign(process.env, {
    UPSTASH_DATABASES: JSON.stringify({ main: { migration: { mode } } }),
    UPSTASH_REDIS_REST_URL_MAIN: url,
    UPSTASH_REDIS_REST_TOKEN_MAIN: token,
    REDIS_URL_MAIN_SOURCE: old.url,
    ...env,
  });
  return {
    old,
    oldRaw,
    async stop() {
      oldRaw.disconnect();
      await old.stop();
      for (const name of VARIABLES) delete process.env[name];
    },
  };
}
