import type { CacheService } from '../cache/cache-service';
import { INVALIDATE_PREFIX_JOB, REVOKE_USER_SESSIONS_JOB } from './job-types';
import type { JobRegistry } from './registry';

/** Dependencies of the built-in jobs. */
export interface BuiltinJobsOptions {
  /**
   * The cache (on the cache database, which may differ from the queue's): the invalidation job
   * asks it to delete by prefix, since only the cache knows where its values live.
   */
  readonly cache: Pick<CacheService, 'invalidatePrefix'>;
  /**
   * Revokes every session of a user (the session service's `revokeAll`).
   * @default - `sessions.revoke-user` is not registered
   */
  readonly revokeUserSessions?: (tenant: string, userId: string) => Promise<unknown>;
  /** SCAN COUNT hint and UNLINK batch size of an invalidation. @default 1_000 */
  readonly invalidateBatch?: number;
}

/**
 * Registers the handlers of `cache.invalidate-prefix` and, when a revoke function is given,
 * `sessions.revoke-user`, bound to their definitions (which validate each payload first). The
 * tenant always comes from the job, never from its payload.
 */
export function registerBuiltinJobs(registry: JobRegistry, options: BuiltinJobsOptions): JobRegistry {
  // Each handler's result is kept with the job: what it deleted or ended.
  registry.register(INVALIDATE_PREFIX_JOB, async (job, { signal }) => ({
    deleted: await options.cache.invalidatePrefix(job.tenant, job.payload.prefix, {
      signal,
      ...(options.invalidateBatch !== undefined ? { batch: options.invalidateBatch } : {}),
    }),
  }));
  const revoke = options.revokeUserSessions;
  if (revoke) {
    registry.register(REVOKE_USER_SESSIONS_JOB, async (job) => ({
      revoked: await revoke(job.tenant, job.payload.userId),
    }));
  }
  return registry;
}
