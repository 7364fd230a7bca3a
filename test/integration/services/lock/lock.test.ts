import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GLOBAL, LockLostError, LockService } from '../../../../lambda/services/lock';
import { ValidationError } from '../../../../lambda/shared/errors';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import type { UpstashRedisClient } from '../../../../lambda/shared/redis';
import type { UpstashEndpoint } from '../../../../local/upstash/server';
import { privateEndpoint, randomPrefix, sharedRedis } from '../../../helpers/redis';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Tracks every timer the lock module starts (by call stack) and whether it fired or was cleared,
 * so a test can assert none is left pending regardless of other timers in the process.
 */
function trackLockTimers() {
  const live = new Set<unknown>();
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const setSpy = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
    const fromLock = /lambda[\\/]services[\\/]lock[\\/]/.test(new Error().stack ?? '');
    const handle: unknown = realSet(() => {
      live.delete(handle);
      fn();
    }, ms);
    if (fromLock) live.add(handle);
    return handle;
  }) as typeof setTimeout);
  const clearSpy = vi.spyOn(globalThis, 'clearTimeout').mockImplementation(((handle?: NodeJS.Timeout) => {
    live.delete(handle);
    realClear(handle);
  }) as typeof clearTimeout);
  return {
    pending: () => live.size,
    restore: () => {
      setSpy.mockRestore();
      clearSpy.mockRestore();
    },
  };
}

describe('LockService', () => {
  const redis = sharedRedis();
  const keys = new KeyBuilder(randomPrefix());
  const locks = new LockService({ redis, keys });
  const noRetry = { retry: { attempts: 1 } };
  let n = 0;
  const resource = () => `res-${++n}`;

  describe('acquire', () => {
    it('takes a free lock with a random token and a fencing token', async () => {
      const lock = await locks.acquire('acme', resource(), { leaseMs: 5_000 });

      expect(lock).not.toBeNull();
      expect(lock?.token).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(lock?.fencingToken).toBe(1);
      expect(await redis.get(lock?.key ?? '')).toBe(lock?.token);
      const pttl = await redis.pttl(lock?.key ?? '');
      expect(pttl).toBeGreaterThan(4_000);
      expect(pttl).toBeLessThanOrEqual(5_000);
    });

    it('returns null while someone else holds the lock', async () => {
      const name = resource();
      await locks.acquire('acme', name);

      expect(await locks.acquire('acme', name, noRetry)).toBeNull();
    });

    it('hands out strictly increasing fencing tokens across holders', async () => {
      const name = resource();
      const tokens: number[] = [];
      for (let i = 0; i < 5; i++) {
        const lock = await locks.acquire(GLOBAL, name);
        tokens.push(lock?.fencingToken ?? -1);
        if (lock) await locks.release(lock);
      }

      expect(tokens).toEqual([1, 2, 3, 4, 5]);
    });

    it('keeps tenants and the global scope apart', async () => {
      const name = resource();
      expect(await locks.acquire('acme', name)).not.toBeNull();

      expect(await locks.acquire('globex', name, noRetry)).not.toBeNull();
      expect(await locks.acquire(GLOBAL, name, noRetry)).not.toBeNull();
    });

    it('waits with retries until the holder releases', async () => {
      const name = resource();
      const first = await locks.acquire('acme', name);
      setTimeout(() => void (first && locks.release(first)), 150);

      // Room for as many retries as a loaded machine needs to see the release.
      const second = await locks.acquire('acme', name, {
        retry: { attempts: 400, delayMs: 25, jitterMs: 10 },
      });

      expect(second?.fencingToken).toBe(2);
    });

    it('lets the next holder in once a lease expires', async () => {
      const name = resource();
      const stale = await locks.acquire('acme', name, { leaseMs: 100 });
      await sleep(150);

      const next = await locks.acquire('acme', name, noRetry);

      expect(next).not.toBeNull();
      expect(next?.fencingToken).toBeGreaterThan(stale?.fencingToken ?? 0);
    });

    it('rejects a lease that is not a positive integer of ms', async () => {
      await expect(locks.acquire('acme', resource(), { leaseMs: 0 })).rejects.toThrow(ValidationError);
      await expect(locks.acquire('acme', resource(), { leaseMs: 1.5 })).rejects.toThrow(ValidationError);
    });

    it('rejects resource names that could widen a key pattern', async () => {
      await expect(locks.acquire('acme', 'a*')).rejects.toThrow(ValidationError);
    });

    it('stops waiting when its signal aborts', async () => {
      const name = resource();
      await locks.acquire('acme', name);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const startedAt = Date.now();

      const lock = await locks.acquire('acme', name, {
        signal: controller.signal,
        retry: { attempts: 100, delayMs: 30_000 },
      });

      expect(lock).toBeNull();
      // Well before the first 30 s retry delay ends, whatever the load.
      expect(Date.now() - startedAt).toBeLessThan(10_000);
    });
  });

  describe('release', () => {
    it('releases a lock its holder still holds', async () => {
      const lock = await locks.acquire('acme', resource());
      if (!lock) throw new Error('not acquired');

      expect(await locks.release(lock)).toBe(true);
      expect(await redis.get(lock.key)).toBeNull();
    });

    it('refuses a non-holder and leaves the lock in place', async () => {
      const lock = await locks.acquire('acme', resource());
      if (!lock) throw new Error('not acquired');

      expect(await locks.release({ ...lock, token: 'forged' })).toBe(false);
      expect(await redis.get(lock.key)).toBe(lock.token);
    });

    it('refuses a holder whose lease expired, so the successor keeps its lock', async () => {
      const name = resource();
      const stale = await locks.acquire('acme', name, { leaseMs: 50 });
      await sleep(80);
      const successor = await locks.acquire('acme', name, noRetry);
      if (!stale || !successor) throw new Error('not acquired');

      expect(await locks.release(stale)).toBe(false);
      expect(await redis.get(successor.key)).toBe(successor.token);
    });
  });

  describe('extend', () => {
    it('resets the lease of its holder, in milliseconds', async () => {
      const lock = await locks.acquire('acme', resource(), { leaseMs: 1_000 });
      if (!lock) throw new Error('not acquired');

      expect(await locks.extend(lock, 60_500)).toBe(true);
      const pttl = await redis.pttl(lock.key);
      expect(pttl).toBeGreaterThan(59_000);
      expect(pttl).toBeLessThanOrEqual(60_500);
    });

    it('refuses a non-holder and leaves the lease alone', async () => {
      const lock = await locks.acquire('acme', resource(), { leaseMs: 1_000 });
      if (!lock) throw new Error('not acquired');

      expect(await locks.extend({ ...lock, token: 'forged' }, 60_000)).toBe(false);
      expect(await redis.pttl(lock.key)).toBeLessThanOrEqual(1_000);
    });

    it('does not take back an expired lock', async () => {
      const lock = await locks.acquire('acme', resource(), { leaseMs: 50 });
      if (!lock) throw new Error('not acquired');
      await sleep(80);

      expect(await locks.extend(lock)).toBe(false);
      expect(await redis.get(lock.key)).toBeNull();
    });
  });

  describe('withLock', () => {
    it('renews the lease while fn runs longer than it', async () => {
      const name = resource();
      let abortedInside = false;

      const result = await locks.withLock(
        'acme',
        name,
        async ({ signal, lock }) => {
          await sleep(4_500);
          abortedInside = signal.aborted;
          return redis.get(lock.key);
        },
        // Renewed every 667 ms, lost only if none is confirmed within 2 s: room for a loaded
        // machine's late timers and slow round trips.
        { leaseMs: 2_000 },
      );

      expect(result.acquired && result.lost).toBe(false);
      expect(abortedInside).toBe(false);
      // Still held after 4.5 s on a 2 s lease, so renewals happened.
      expect(result.acquired && typeof result.value).toBe('string');
    });

    it('releases the lock when fn returns', async () => {
      const name = resource();
      await locks.withLock('acme', name, async () => 'done');

      expect(await locks.acquire('acme', name, noRetry)).not.toBeNull();
    });

    it('aborts the signal with LockLostError when someone else takes the lock, without taking it back', async () => {
      const name = resource();
      let reason: unknown;

      const result = await locks.withLock(
        'acme',
        name,
        async ({ signal, lock }) => {
          // Someone else takes over, as after a pause past the lease.
          await redis.set(lock.key, 'intruder', { px: 10_000 });
          await new Promise<void>((resolve) =>
            signal.addEventListener('abort', () => resolve(), { once: true }),
          );
          reason = signal.reason;
          return 'stopped';
        },
        { leaseMs: 300 },
      );

      expect(reason).toBeInstanceOf(LockLostError);
      expect(result).toMatchObject({ acquired: true, value: 'stopped', lost: true });
      // The intruder keeps the lock: no silent re-acquire, and the release did not delete it.
      expect(await redis.get(keys.internal('lock', 'acme', 'held', name))).toBe('intruder');
    });

    it('releases the lock and rethrows when fn throws', async () => {
      const name = resource();

      await expect(
        locks.withLock('acme', name, async () => {
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await locks.acquire('acme', name, noRetry)).not.toBeNull();
    });

    it('reports acquired: false when the lock is held', async () => {
      const name = resource();
      await locks.acquire('acme', name);
      let ran = false;

      const result = await locks.withLock(
        'acme',
        name,
        async () => {
          ran = true;
        },
        noRetry,
      );

      expect(result).toEqual({ acquired: false });
      expect(ran).toBe(false);
    });

    it('leaves no timer pending when it returns, whether fn succeeds, throws or loses the lock', async () => {
      const timers = trackLockTimers();
      try {
        await locks.withLock('acme', resource(), () => sleep(250), { leaseMs: 150 });
        expect(timers.pending()).toBe(0);

        await locks
          .withLock('acme', resource(), () => Promise.reject(new Error('x')), { leaseMs: 150 })
          .catch(() => {});
        expect(timers.pending()).toBe(0);

        await locks.withLock(
          'acme',
          resource(),
          async ({ signal, lock }) => {
            await redis.del([lock.key]);
            await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          },
          { leaseMs: 150 },
        );
        expect(timers.pending()).toBe(0);
      } finally {
        timers.restore();
      }
    });

    it('forwards the caller signal to fn', async () => {
      const controller = new AbortController();
      const result = await locks.withLock(
        'acme',
        resource(),
        async ({ signal }) => {
          controller.abort(new Error('deadline'));
          return signal.aborted;
        },
        { signal: controller.signal },
      );

      expect(result).toMatchObject({ acquired: true, value: true, lost: false });
    });
  });
});

describe('LockService costs', () => {
  let endpoint: UpstashEndpoint;
  let redis: UpstashRedisClient;
  let token: string;
  let locks: LockService;

  beforeAll(async () => {
    ({ endpoint, redis, token } = await privateEndpoint());
    locks = new LockService({ redis, keys: new KeyBuilder(randomPrefix()) });
    // Load the scripts so every call below is one EVALSHA.
    const warm = await locks.acquire('acme', 'warm-up');
    if (warm) await locks.extend(warm);
    if (warm) await locks.release(warm);
  });

  afterAll(() => endpoint.close());

  it('acquire costs one command in one round trip, taken or refused', async () => {
    endpoint.resetStats();
    await locks.acquire('acme', 'counted');
    expect(endpoint.stats(token)).toMatchObject({ requests: 1, commands: 1, byCommand: { EVALSHA: 1 } });

    endpoint.resetStats();
    expect(await locks.acquire('acme', 'counted', { retry: { attempts: 1 } })).toBeNull();
    expect(endpoint.stats(token)).toMatchObject({ requests: 1, commands: 1, byCommand: { EVALSHA: 1 } });
  });

  it('release and extend cost one command in one round trip each', async () => {
    const lock = await locks.acquire('acme', 'counted-2');
    if (!lock) throw new Error('not acquired');

    endpoint.resetStats();
    await locks.extend(lock);
    expect(endpoint.stats(token)).toMatchObject({ requests: 1, commands: 1 });

    endpoint.resetStats();
    await locks.release(lock);
    expect(endpoint.stats(token)).toMatchObject({ requests: 1, commands: 1 });
  });
});
