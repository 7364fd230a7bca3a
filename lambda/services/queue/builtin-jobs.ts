import { ValidationError } from '../../shared/errors';
import type { KeyBuilder } from '../../shared/keys';
import type { RedisLike } from '../../shared/redis';
import type { JobRegistry } from './registry';

/** Type of the built-in job that deletes a tenant's cache keys by prefix. Payload `{ prefix }`. */
export const INVALIDATE_PREFIX = 'cache.invalidate-prefix';
/** Type of the built-in job that revokes every session of a user. Payload `{ userId }`. */
export const REVOKE_USER_SESSIONS = 'sessions.revoke-user';

/** Options of {@link invalidateByPrefix}. */
export interface InvalidateOptions {
  /** SCAN COUNT hint and UNLINK batch size. @default 1_000 */
  readonly batch?: number;
  /** Stops between batches; the job is then retried from the start (it is idempotent). @default - none */
  readonly signal?: AbortSignal;
}

/**
 * Deletes every cache key of `tenant` whose id starts with `prefix`: SCAN MATCH in steps and
 * UNLINK per step, never KEYS (which blocks the server for the whole keyspace). The pattern comes
 * from the key builder, whose id rules forbid glob characters, so it cannot reach beyond the
 * prefix or the tenant. Cost: one SCAN per `batch` keys of the whole database, plus one UNLINK per
 * step that found keys.
 *
 * @returns the number of keys deleted
 */
export async function invalidateByPrefix(
  redis: RedisLike,
  keys: KeyBuilder,
  tenant: string,
  prefix: string,
  options: InvalidateOptions = {},
): Promise<number> {
  const pattern = keys.pattern('cache', tenant, prefix);
  const batch = options.batch ?? 1_000;
  let cursor = '0';
  let deleted = 0;
  do {
    options.signal?.throwIfAborted();
    const [next, found] = await redis.scan(cursor, pattern, batch);
    // SCAN may return a key twice; UNLINK counts only what it removed, so `deleted` stays exact.
    if (found.length > 0) deleted += await redis.unlink(found);
    cursor = next;
  } while (cursor !== '0');
  return deleted;
}

/** Dependencies of the built-in jobs. */
export interface BuiltinJobsOptions {
  /** The cache database (it may differ from the queue's). */
  readonly cacheRedis: RedisLike;
  readonly keys: KeyBuilder;
  /**
   * Revokes every session of a user (the session service's `revokeAll`).
   * @default - `sessions.revoke-user` is not registered
   */
  readonly revokeUserSessions?: (tenant: string, userId: string) => Promise<unknown>;
}

/**
 * Registers `cache.invalidate-prefix` and, when a revoke function is given,
 * `sessions.revoke-user`. The tenant always comes from the job, never from its payload.
 */
export function registerBuiltinJobs(registry: JobRegistry, options: BuiltinJobsOptions): JobRegistry {
  registry.register(INVALIDATE_PREFIX, async (job, { signal }) => {
    const prefix = (job.payload as { prefix?: unknown } | null)?.prefix;
    if (typeof prefix !== 'string')
      throw new ValidationError(`${INVALIDATE_PREFIX} needs payload { prefix: string }`);
    await invalidateByPrefix(options.cacheRedis, options.keys, job.tenant, prefix, { signal });
  });
  const revoke = options.revokeUserSessions;
  if (revoke) {
    registry.register(REVOKE_USER_SESSIONS, async (job) => {
      const userId = (job.payload as { userId?: unknown } | null)?.userId;
      if (typeof userId !== 'string' || userId === '') {
        throw new ValidationError(`${REVOKE_USER_SESSIONS} needs payload { userId: string }`);
      }
      await revoke(job.tenant, userId);
    });
  }
  return registry;
}
