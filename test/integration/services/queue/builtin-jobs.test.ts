import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  INVALIDATE_PREFIX,
  invalidateByPrefix,
  JobQueue,
  JobRegistry,
  REVOKE_USER_SESSIONS,
  registerBuiltinJobs,
} from '../../../../lambda/services/queue';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import type { UpstashRedisClient } from '../../../../lambda/shared/redis';
import {
  type OwnDatabase,
  ownDatabase,
  randomPrefix,
  sharedRedis,
  upstashClient,
} from '../../../helpers/redis';

describe('built-in jobs', () => {
  // A cache database of this file's own: 100,000 keys, and SCANs that walk a whole database.
  let own: OwnDatabase;
  let cache: UpstashRedisClient;
  let raw: ReturnType<typeof upstashClient>;
  const keys = new KeyBuilder(randomPrefix());

  beforeAll(async () => {
    own = await ownDatabase();
    cache = own.redis;
    raw = upstashClient(own.url, own.token);
  });

  /** Writes `count` cache keys for `tenant` under `idPrefix`, 5,000 per MSET. */
  async function seed(tenant: string, idPrefix: string, count: number): Promise<void> {
    for (let start = 0; start < count; start += 5_000) {
      const entries: Record<string, string> = {};
      for (let i = start; i < Math.min(count, start + 5_000); i++)
        entries[keys.key('cache', tenant, `${idPrefix}${i}`)] = 'v';
      await raw.mset(entries);
    }
  }

  const count = async (pattern: string) => {
    let cursor = '0';
    let n = 0;
    do {
      const [next, found] = await cache.scan(cursor, pattern, 5_000);
      n += found.length;
      cursor = next;
    } while (cursor !== '0');
    return n;
  };

  afterAll(async () => {
    await own?.close();
  });

  describe('invalidateByPrefix', () => {
    it("removes exactly one prefix's 100,000 keys, not a neighbour prefix's nor another tenant's", async () => {
      // Prepare: the target, a neighbour that shares the first letters, and the same prefix elsewhere.
      await seed('acme', 'user:', 100_000);
      await seed('acme', 'users', 1_000);
      await seed('acme', 'use', 1_000);
      await seed('globex', 'user:', 1_000);

      // Act
      const deleted = await invalidateByPrefix(cache, keys, 'acme', 'user:');

      // Assess
      expect(deleted).toBe(100_000);
      expect(await count(keys.pattern('cache', 'acme', 'user:'))).toBe(0);
      expect(await count(keys.pattern('cache', 'acme', 'users'))).toBe(1_000);
      expect(await count(keys.pattern('cache', 'acme', 'use'))).toBe(2_000);
      expect(await count(keys.pattern('cache', 'globex', 'user:'))).toBe(1_000);
    }, 60_000);
  });

  describe('registerBuiltinJobs', () => {
    it('runs cache.invalidate-prefix for the tenant of the job, whatever the payload says', async () => {
      await seed('acme', 'page:', 10);
      await seed('globex', 'page:', 10);
      const registry = registerBuiltinJobs(new JobRegistry(), { cacheRedis: cache, keys });
      const queue = new JobQueue({ redis: sharedRedis(), keys });
      await queue.enqueue({
        tenant: 'acme',
        type: INVALIDATE_PREFIX,
        payload: { prefix: 'page:', tenant: 'globex' },
      });
      const job = await queue.dequeue({ leaseMs: 10_000 });
      if (!job) throw new Error('no job');

      await registry.get(INVALIDATE_PREFIX)?.(job, { signal: new AbortController().signal });

      expect(await count(keys.pattern('cache', 'acme', 'page:'))).toBe(0);
      expect(await count(keys.pattern('cache', 'globex', 'page:'))).toBe(10);
    });

    it('runs sessions.revoke-user through the injected function, and skips it without one', async () => {
      const calls: Array<[string, string]> = [];
      const registry = registerBuiltinJobs(new JobRegistry(), {
        cacheRedis: cache,
        keys,
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
      expect(registerBuiltinJobs(new JobRegistry(), { cacheRedis: cache, keys }).types()).toEqual([
        INVALIDATE_PREFIX,
      ]);
    });
  });
});
