import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CacheService } from '../../../lambda/services/cache/cache-service';
import { LockService } from '../../../lambda/services/lock';
import { JobQueue } from '../../../lambda/services/queue';
import { RateLimiter } from '../../../lambda/services/rate-limit/rate-limiter';
import { SessionService } from '../../../lambda/services/sessions/session-service';
import { ManagedRedisClient } from '../../../lambda/shared/client';
import type { Credentials } from '../../../lambda/shared/credentials';
import { KeyBuilder } from '../../../lambda/shared/keys';
import type { RedisLike } from '../../../lambda/shared/redis';
import { randomPrefix, sharedEndpoint } from '../../helpers/redis';

/**
 * Every service over both transports against the same Redis: Upstash REST through @upstash/redis
 * and the TCP mode through ioredis give the same results, scripts included (each with its own
 * shebang variant).
 */
const managed = (name: string, credentials: Credentials) =>
  ManagedRedisClient.create(
    { name, mode: credentials.mode },
    { load: async () => credentials, refresh: async () => credentials },
  );

const transports: Array<[string, () => Promise<RedisLike & { close(): Promise<void> }>]> = [
  ['REST', () => managed('rest', { mode: 'rest', ...sharedEndpoint('state') })],
  ['TCP', () => managed('tcp', { mode: 'tcp', url: inject('redisUrl') })],
];

describe.each(transports)('services over %s', (_name, connect) => {
  let redis: RedisLike & { close(): Promise<void> };
  const keys = new KeyBuilder(randomPrefix());

  beforeAll(async () => {
    redis = await connect();
  });
  afterAll(async () => {
    await redis.close();
  });

  it('cache: set, get, miss, mget, delete, TTL', async () => {
    const cache = new CacheService({ redis, keys });
    expect(await cache.set('acme', 'a', { n: 1 }, { ttlMs: 60_000 })).toBe(true);
    expect(await cache.set('acme', 'a', 2, { nx: true })).toBe(false);
    expect(await cache.get('acme', 'a')).toEqual({ value: { n: 1 }, backend: 'upstash' });
    expect(await cache.get('acme', 'missing')).toBeNull();
    expect(await cache.mget('acme', ['a', 'missing'])).toEqual([
      { value: { n: 1 }, backend: 'upstash' },
      null,
    ]);
    expect(await cache.ttl('acme', 'a')).toBeGreaterThan(59_000);
    expect(await cache.delete('acme', 'a')).toBe(true);
    expect(await cache.get('acme', 'a')).toBeNull();
  });

  it('sessions: create, sliding get, update, list, revoke all', async () => {
    const sessions = new SessionService({ redis, keys, idleTtlMs: 60_000, absoluteTtlMs: 120_000 });
    const s = await sessions.create('acme', 'u1', { theme: 'dark' });
    expect((await sessions.get('acme', s.id))?.data).toEqual({ theme: 'dark' });
    expect((await sessions.update('acme', s.id, { cart: [1] }))?.data).toEqual({ theme: 'dark', cart: [1] });
    await sessions.create('acme', 'u1');
    expect(await sessions.list('acme', 'u1')).toHaveLength(2);
    expect(await sessions.revokeAll('acme', 'u1')).toBe(2);
    expect(await sessions.get('acme', s.id)).toBeNull();
  });

  it('rate limits: each algorithm admits exactly its limit', async () => {
    for (const algorithm of ['fixed-window', 'sliding-window', 'token-bucket'] as const) {
      const limiter = new RateLimiter({
        redis,
        keys,
        name: algorithm,
        algorithm,
        limit: 3,
        windowMs: 3_600_000, // an hour: no window boundary falls inside the test
      });
      const results = await Promise.all(Array.from({ length: 5 }, () => limiter.check('acme', 'u')));
      expect(
        results.filter((r) => r.success),
        algorithm,
      ).toHaveLength(3);
    }
  });

  it('locks: one holder, fencing tokens increase, only the holder releases', async () => {
    const locks = new LockService({ redis, keys });
    const first = await locks.acquire('acme', 'report', { leaseMs: 5_000, retry: { attempts: 1 } });
    expect(first).not.toBeNull();
    expect(await locks.acquire('acme', 'report', { retry: { attempts: 1 } })).toBeNull();
    expect(await locks.release({ ...(first as NonNullable<typeof first>), token: 'not-the-holder' })).toBe(
      false,
    );
    expect(await locks.release(first as NonNullable<typeof first>)).toBe(true);
    const second = await locks.acquire('acme', 'report', { retry: { attempts: 1 } });
    expect(second?.fencingToken).toBeGreaterThan(first?.fencingToken as number);
  });

  it('queue: enqueue, dequeue by priority, ack, status', async () => {
    const queue = new JobQueue({ redis, keys, name: 'transports' });
    const low = await queue.enqueue({ tenant: 'acme', type: 't', priority: 'low' });
    const high = await queue.enqueue({ tenant: 'acme', type: 't', priority: 'high' });
    const job = await queue.dequeue({ leaseMs: 30_000 });
    expect(job?.id).toBe(high.id);
    expect(await queue.ack(job as NonNullable<typeof job>)).toBe(true);
    expect((await queue.status('acme', high.id))?.state).toBe('done');
    expect((await queue.status('acme', low.id))?.state).toBe('ready');
  });
});
