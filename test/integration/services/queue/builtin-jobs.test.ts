import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheService } from '../../../../lambda/services/cache/cache-service';
import {
  INVALIDATE_PREFIX,
  INVALIDATE_PREFIX_JOB,
  JobQueue,
  JobRegistry,
  REVOKE_USER_SESSIONS,
  registerBuiltinJobs,
} from '../../../../lambda/services/queue';
import { ValidationError } from '../../../../lambda/shared/errors';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import { type OwnDatabase, ownDatabase, randomPrefix, sharedRedis } from '../../../helpers/redis';

/**
 * The built-in jobs over the cache and session services. Values are written and read back
 * through `CacheService` only: the test knows nothing of where the cache keeps them.
 */
describe('built-in jobs', () => {
  const keys = new KeyBuilder(randomPrefix());
  // A cache database of this file's own: its SCANs walk the whole database, 20,000 values of it.
  let own: OwnDatabase;
  let cache: CacheService;

  beforeAll(async () => {
    own = await ownDatabase();
    cache = new CacheService({ redis: own.redis, keys, defaultTtlMs: 600_000 });
  });

  afterAll(async () => {
    await own?.close();
  });

  /** Writes `count` values for `tenant` under `idPrefix`, 1,000 per MSET (one round trip each). */
  async function seed(tenant: string, idPrefix: string, count: number): Promise<void> {
    for (let start = 0; start < count; start += 1_000) {
      const entries = Array.from({ length: Math.min(1_000, count - start) }, (_, i) => ({
        key: `${idPrefix}${start + i}`,
        value: 'v',
      }));
      await cache.mset(tenant, entries);
    }
  }

  /** How many of `idPrefix`0..`count`-1 of `tenant` still read as hits. */
  async function hits(tenant: string, idPrefix: string, count: number): Promise<number> {
    let n = 0;
    for (let start = 0; start < count; start += 100) {
      const batch = Array.from({ length: Math.min(100, count - start) }, (_, i) => `${idPrefix}${start + i}`);
      n += (await cache.mget(tenant, batch)).filter((hit) => hit !== null).length;
    }
    return n;
  }

  describe('CacheService.invalidatePrefix', () => {
    it("removes exactly one prefix's 20,000 values in many SCAN steps, not a neighbour prefix's nor another tenant's", async () => {
      // Prepare: the target, a neighbour that shares the first letters, and the same prefix elsewhere.
      await seed('acme', 'user:', 20_000);
      await seed('acme', 'users', 500);
      await seed('acme', 'use', 500);
      await seed('globex', 'user:', 500);

      // Act: 200 per step, so the SCAN walks the keyspace in many steps.
      const deleted = await cache.invalidatePrefix('acme', 'user:', { batch: 200 });

      // Assess
      expect(deleted).toBe(20_000);
      expect(await hits('acme', 'user:', 20_000)).toBe(0);
      expect(await hits('acme', 'users', 500)).toBe(500);
      expect(await hits('acme', 'use', 500)).toBe(500);
      expect(await hits('globex', 'user:', 500)).toBe(500);
      expect(await cache.invalidatePrefix('acme', '')).toBe(1_000);
      expect(await cache.invalidatePrefix('globex', '')).toBe(500);
    }, 60_000);

    it('stops between steps when its signal aborts', async () => {
      await seed('acme', 'stop:', 10);
      const controller = new AbortController();
      controller.abort(new Error('worker deadline'));
      await expect(cache.invalidatePrefix('acme', 'stop:', { signal: controller.signal })).rejects.toThrow(
        'worker deadline',
      );
      expect(await hits('acme', 'stop:', 10)).toBe(10);
      await cache.invalidatePrefix('acme', 'stop:');
    });
  });

  describe('registerBuiltinJobs', () => {
    it('runs cache.invalidate-prefix for the tenant of the job, and dead-letters a payload naming another', async () => {
      await seed('acme', 'page:', 10);
      await seed('globex', 'page:', 10);
      const registry = registerBuiltinJobs(new JobRegistry(), { cache });
      const queue = new JobQueue({ redis: sharedRedis(), keys });
      await queue.enqueue({ tenant: 'acme', type: INVALIDATE_PREFIX, payload: { prefix: 'page:' } });
      await queue.enqueue({
        tenant: 'acme',
        type: INVALIDATE_PREFIX,
        payload: { prefix: 'page:', tenant: 'globex' },
      });
      const signal = new AbortController().signal;

      const first = await queue.dequeue({ leaseMs: 10_000 });
      await registry.get(INVALIDATE_PREFIX)?.(first as NonNullable<typeof first>, { signal });
      const second = await queue.dequeue({ leaseMs: 10_000 });
      const refused = registry.get(INVALIDATE_PREFIX)?.(second as NonNullable<typeof second>, { signal });

      await expect(refused).rejects.toBeInstanceOf(ValidationError);
      expect(await hits('acme', 'page:', 10)).toBe(0);
      expect(await hits('globex', 'page:', 10)).toBe(10);
      await cache.invalidatePrefix('globex', 'page:');
    });

    it('runs sessions.revoke-user through the injected function, and skips it without one', async () => {
      const calls: Array<[string, string]> = [];
      const registry = registerBuiltinJobs(new JobRegistry(), {
        cache,
        revokeUserSessions: async (tenant, userId) => {
          calls.push([tenant, userId]);
        },
      });
      const job = {
        id: 'j',
        tenant: 'acme',
        type: REVOKE_USER_SESSIONS,
        payload: { userId: 'u-1' },
        priority: 'normal' as const,
        attempts: 1,
        maxAttempts: 3,
        createdAt: 0,
        lease: 'l',
        leaseUntil: 0,
      };

      await registry.get(REVOKE_USER_SESSIONS)?.(job, { signal: new AbortController().signal });

      expect(calls).toEqual([['acme', 'u-1']]);
      expect(registerBuiltinJobs(new JobRegistry(), { cache }).types()).toEqual([INVALIDATE_PREFIX]);
    });

    it('validates a payload with the same definition the api function checks at enqueue', () => {
      expect(INVALIDATE_PREFIX_JOB.payload({ prefix: 'a:' })).toEqual({ prefix: 'a:' });
      for (const bad of [null, {}, { prefix: 1 }, { prefix: 'a*' }, { prefix: 'a', x: 1 }]) {
        expect(() => INVALIDATE_PREFIX_JOB.payload(bad), JSON.stringify(bad)).toThrow(ValidationError);
      }
    });
  });
});
