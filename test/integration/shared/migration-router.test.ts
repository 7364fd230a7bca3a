import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CacheService } from '../../../lambda/services/cache/cache-service';
import { RateLimiter } from '../../../lambda/services/rate-limit/rate-limiter';
import { SessionService } from '../../../lambda/services/sessions/session-service';
import { KeyBuilder } from '../../../lambda/shared/keys';
import { MigrationRouter, rolloutBucket } from '../../../lambda/shared/migration';
import { TcpRedisClient } from '../../../lambda/shared/redis-tcp';
import { type RedisServer, startRedisServer } from '../../../local/redis-server';
import { randomPrefix, sharedRedis } from '../../helpers/redis';

/**
 * The migration router with the unchanged services on top, against two real Redis servers: the
 * old one over TCP and the shared one behind the local Upstash endpoint.
 */
describe('MigrationRouter', () => {
  let old: RedisServer;
  let legacy: TcpRedisClient;
  let oldRaw: IORedis;
  let upstashRaw: IORedis;
  const upstash = sharedRedis();

  beforeAll(async () => {
    old = await startRedisServer();
    legacy = await TcpRedisClient.connect(old.url, { database: 'old' });
    oldRaw = new IORedis(old.url);
    upstashRaw = new IORedis(inject('redisUrl'));
  });
  afterAll(async () => {
    await legacy.close();
    oldRaw.disconnect();
    upstashRaw.disconnect();
    await old.stop();
  });

  describe('shadow', () => {
    it('writes to both, reads the old Redis, and counts a divergence by key pattern', async () => {
      const patterns: string[] = [];
      const router = new MigrationRouter({
        upstash,
        legacy,
        mode: 'shadow',
        onMismatch: (p) => patterns.push(p),
      });
      const keys = new KeyBuilder(randomPrefix());
      const cache = new CacheService({ redis: router, keys });
      const sessions = new SessionService({ redis: router, keys });

      await cache.set('acme', 'profile', { name: 'Ada' });
      const session = await sessions.create('acme', 'u1', { cart: [1] });
      const cacheKey = cache.keyOf('acme', 'profile');
      expect(await oldRaw.exists(cacheKey)).toBe(1);
      expect(await upstashRaw.exists(cacheKey)).toBe(1);
      expect(await oldRaw.get(cacheKey)).toBe(await upstashRaw.get(cacheKey));
      expect((await sessions.get('acme', session.id))?.data).toEqual({ cart: [1] });

      expect((await cache.get('acme', 'profile'))?.value).toEqual({ name: 'Ada' });
      await router.settle();
      expect(router.stats()).toMatchObject({ mismatches: 0, routedUpstash: 0 });

      // A divergence injected on the Upstash side: the read still answers from the old Redis.
      await upstashRaw.set(cacheKey, (await upstashRaw.get(cacheKey))?.replace('Ada', 'Eve') ?? '');
      expect((await cache.get('acme', 'profile'))?.value).toEqual({ name: 'Ada' });
      await router.settle();
      expect(router.stats()).toMatchObject({ compared: 2, mismatches: 1 });
      expect(patterns).toEqual([`${keys.prefix}:cache:acme:*`]);
      expect(patterns.join()).not.toContain('Ada');
    });

    it('counts TTLs a moment apart as equal, and a lost TTL as a mismatch', async () => {
      const router = new MigrationRouter({ upstash, legacy, mode: 'shadow' });
      const keys = new KeyBuilder(randomPrefix());
      const cache = new CacheService({ redis: router, keys });
      await cache.set('acme', 'ttl', 1, { ttlMs: 600_000 });
      const key = cache.keyOf('acme', 'ttl');
      // The copy wrote Upstash's TTL a moment after the old Redis's: 300 ms less is still equal.
      await upstashRaw.pexpire(key, (await oldRaw.pttl(key)) - 300);
      expect(await cache.ttl('acme', 'ttl')).toBeGreaterThan(590_000);
      await router.settle();
      expect(router.stats()).toMatchObject({ compared: 1, mismatches: 0 });
      await upstashRaw.persist(key);
      await cache.ttl('acme', 'ttl');
      await router.settle();
      expect(router.stats()).toMatchObject({ compared: 2, mismatches: 1 });
    });

    it('runs each script on both sides, loading it where it is missing without running it twice', async () => {
      const router = new MigrationRouter({ upstash, legacy, mode: 'shadow' });
      const keys = new KeyBuilder(randomPrefix());
      const limiter = new RateLimiter({
        redis: router,
        keys,
        name: 'api',
        algorithm: 'fixed-window',
        limit: 5,
        windowMs: 3_600_000, // an hour: no window boundary falls inside the test
      });
      await oldRaw.script('FLUSH');
      const results = [];
      for (let i = 0; i < 6; i++) results.push((await limiter.check('acme', 'u')).success);
      expect(results).toEqual([true, true, true, true, true, false]);
      const [counterKey] = await oldRaw.keys(`${keys.prefix}:ratelimit:*`);
      expect(counterKey).toBeDefined();
      expect(await oldRaw.get(counterKey as string)).toBe('5');
      expect(await upstashRaw.get(counterKey as string)).toBe('5');
    });
  });

  describe('rollout', () => {
    it('serves 25 % ± 2 % of 10,000 keys from Upstash, each key always on the same side', async () => {
      const a = new MigrationRouter({ upstash, legacy, mode: 'rollout', rolloutPercent: 25 });
      const b = new MigrationRouter({ upstash, legacy, mode: 'rollout', rolloutPercent: 25 }); // another container
      const prefix = randomPrefix();
      const keys = Array.from({ length: 10_000 }, (_, i) => `${prefix}:cache:t${i % 97}:item-${i}`);
      const sides = keys.map((k) => a.servesFromUpstash(k));
      const share = sides.filter(Boolean).length / keys.length;
      expect(share).toBeGreaterThanOrEqual(0.23);
      expect(share).toBeLessThanOrEqual(0.27);
      expect(keys.map((k) => b.servesFromUpstash(k))).toEqual(sides);
      expect(keys.map((k) => a.servesFromUpstash(k))).toEqual(sides);

      // Reads follow the routing: counted per side.
      const sample = keys.slice(0, 400);
      for (const k of sample) await a.get(k);
      expect(a.stats().routedUpstash).toBe(sides.slice(0, 400).filter(Boolean).length);
      expect(a.stats().routedLegacy).toBe(400 - a.stats().routedUpstash);
    });

    it('moves whole tenants when rolling out by tenant', () => {
      const r = new MigrationRouter({
        upstash,
        legacy,
        mode: 'rollout',
        rolloutPercent: 50,
        rolloutBy: 'tenant',
      });
      const tenantSide = (t: string) => r.servesFromUpstash(`app:cache:${t}:x`);
      for (const t of ['acme', 'globex', 'initech']) {
        for (let i = 0; i < 20; i++)
          expect(r.servesFromUpstash(`app:session:${t}:s${i}`)).toBe(tenantSide(t));
      }
      expect(rolloutBucket('app:cache:acme:1', 'tenant')).toBe(rolloutBucket('app:queue:acme:2', 'tenant'));
    });

    it('falls back to the old Redis on an Upstash miss', async () => {
      const r = new MigrationRouter({ upstash, legacy, mode: 'rollout', rolloutPercent: 100 });
      const key = `${randomPrefix()}:cache:acme:only-old`;
      await oldRaw.set(key, 'from-old');
      expect(await r.get(key)).toBe('from-old');
      expect(r.stats()).toMatchObject({ routedUpstash: 1, legacyFallbacks: 1 });
    });
  });

  describe('the old Redis going down', () => {
    it('costs no failed request in rollout (nor in upstash mode, which never touches it)', async () => {
      const server = await startRedisServer();
      const doomed = await TcpRedisClient.connect(server.url, { database: 'doomed', timeoutMs: 2_000 });
      const keys = new KeyBuilder(randomPrefix());
      const routers = {
        rollout: new MigrationRouter({ upstash, legacy: doomed, mode: 'rollout', rolloutPercent: 25 }),
        upstash, // mode upstash: the runtime builds no router at all
      };
      const failures: string[] = [];
      let served = 0;
      const traffic = async (round: number) => {
        for (const [mode, redis] of Object.entries(routers)) {
          const cache = new CacheService({ redis, keys });
          const sessions = new SessionService({ redis, keys });
          const limiter = new RateLimiter({
            redis,
            keys,
            name: mode,
            algorithm: 'sliding-window',
            limit: 1000,
            windowMs: 60_000,
          });
          try {
            await cache.set('acme', `k${round}`, { round });
            const hit = await cache.get('acme', `k${round}`);
            if ((hit?.value as { round: number } | undefined)?.round !== round)
              throw new Error('lost a write');
            const s = await sessions.create('acme', `u${round}`, { n: round });
            if ((await sessions.get('acme', s.id))?.data.n !== round) throw new Error('lost a session');
            if (!(await limiter.check('acme', 'u')).success) throw new Error('limited');
            served += 1;
          } catch (error) {
            failures.push(`${mode} round ${round}: ${(error as Error).message}`);
          }
        }
      };
      for (let round = 0; round < 6; round++) await traffic(round);
      await server.stop(); // mid-test
      for (let round = 6; round < 12; round++) await traffic(round);
      await doomed.close();

      expect(failures).toEqual([]);
      expect(served).toBe(24);
      // The circuit opened after 3 failures in a row: the rest skipped the old Redis instead of
      // each waiting for its timeout (counted, not timed: a loaded machine stretches time; the 2 s
      // timeout keeps a slow answer from a live Redis from counting as a failure).
      const stats = routers.rollout.stats();
      expect(stats.legacyFailures).toBeGreaterThanOrEqual(3);
      expect(stats.legacyFailures).toBeLessThanOrEqual(6);
      expect(stats.legacySkipped).toBeGreaterThan(20);
    }, 60_000);

    it('probes the old Redis again after the cooldown and uses it once it is back', async () => {
      const first = await startRedisServer();
      const port = first.port;
      const client = await TcpRedisClient.connect(first.url, { database: 'flaky', timeoutMs: 2_000 });
      let clock = 1_000_000;
      const router = new MigrationRouter({
        upstash,
        legacy: client,
        mode: 'rollout',
        rolloutPercent: 0, // every read is the old Redis's
        legacyCooldownMs: 30_000,
        now: () => clock,
      });
      const key = `${randomPrefix()}:cache:acme:k`;
      await router.set(key, 'both');
      await first.stop();
      for (let i = 0; i < 3; i++) expect(await router.get(key)).toBe('both'); // from Upstash
      expect(router.stats()).toMatchObject({ legacyFailures: 3, legacySkipped: 0 });
      expect(await router.get(key)).toBe('both');
      expect(router.stats().legacySkipped).toBe(1); // circuit open: not even tried

      const again = await startRedisServer({ port });
      try {
        const raw = new IORedis(again.url);
        await raw.set(key, 'old-only');
        raw.disconnect();
        // Each poll after a cooldown: the probe reaches the old Redis once the client reconnected.
        await expect
          .poll(
            () => {
              clock += 30_000;
              return router.get(key);
            },
            { timeout: 30_000, interval: 200 },
          )
          .toBe('old-only');
        const skipped = router.stats().legacySkipped;
        expect(await router.get(key)).toBe('old-only'); // closed again: served by the old Redis
        expect(router.stats().legacySkipped).toBe(skipped);
      } finally {
        await client.close();
        await again.stop();
      }
    }, 60_000);
  });
});
