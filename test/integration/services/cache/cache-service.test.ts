import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CacheService } from '../../../../lambda/services/cache/cache-service';
import { CircuitBreaker } from '../../../../lambda/shared/circuit-breaker';
import { ManagedRedisClient } from '../../../../lambda/shared/client';
import {
  PayloadTooLargeError,
  UpstashUnavailableError,
  ValidationError,
} from '../../../../lambda/shared/errors';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import { UpstashRedisClient } from '../../../../lambda/shared/redis';
import { UpstashEndpoint } from '../../../../local/upstash/server';
import { startStalledServer } from '../../../helpers/net';
import {
  privateEndpoint,
  randomPrefix,
  sharedEndpoint,
  sharedRedis,
  upstashClient,
} from '../../../helpers/redis';
import { mapNetworkErrors } from '../../../helpers/workers/cache-unavailable-redis';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('CacheService', () => {
  const redis = sharedRedis('cache');
  const cache = (options: Partial<ConstructorParameters<typeof CacheService>[0]> = {}) =>
    new CacheService({ redis, keys: new KeyBuilder(randomPrefix()), ...options });

  describe('get / set', () => {
    it('round-trips any JSON value and tells a cached null from a miss', async () => {
      const c = cache();
      for (const value of [null, 0, '', false, 'text', [1, { a: null }], { nested: { deep: [true] } }]) {
        await c.set('acme', 'k', value);
        expect(await c.get('acme', 'k')).toEqual({ value, backend: 'upstash' });
      }
      expect(await c.get('acme', 'missing')).toBeNull();
      expect(c.stats()).toMatchObject({ hits: 7, misses: 1, sets: 7 });
    });

    it('honours ttl, nx and xx', async () => {
      const c = cache();
      // TTLs long enough that the key outlives the calls however slow the machine; the TTL
      // given (not the 5 min default) is read back as PTTL.
      expect(await c.set('acme', 'k', 1, { xx: true })).toBe(false);
      expect(await c.set('acme', 'k', 1, { nx: true, ttlMs: 60_000 })).toBe(true);
      expect(await c.set('acme', 'k', 2, { nx: true })).toBe(false);
      expect(await c.set('acme', 'k', 3, { xx: true, ttlMs: 30_000 })).toBe(true);
      expect(await c.get('acme', 'k')).toEqual({ value: 3, backend: 'upstash' });
      const ttl = await c.ttl('acme', 'k');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(30_000);
      // And it goes when its TTL ends.
      expect(await c.set('acme', 'k', 4, { xx: true, ttlMs: 1 })).toBe(true);
      await expect.poll(() => c.get('acme', 'k'), { timeout: 10_000, interval: 20 }).toBeNull();
      expect(await c.ttl('acme', 'k')).toBeNull();
    });

    it('deletes and reports existence', async () => {
      const c = cache();
      await c.set('acme', 'k', 'v');
      expect(await c.exists('acme', 'k')).toBe(true);
      expect(await c.delete('acme', 'k')).toBe(true);
      expect(await c.delete('acme', 'k')).toBe(false);
      expect(await c.exists('acme', 'k')).toBe(false);
    });

    it('rejects values above maxValueBytes with PAYLOAD_TOO_LARGE and writes nothing', async () => {
      const c = cache({ maxValueBytes: 1024 });
      const error = await c.set('acme', 'big', 'x'.repeat(2000)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PayloadTooLargeError);
      expect((error as PayloadTooLargeError).code).toBe('PAYLOAD_TOO_LARGE');
      expect(await c.exists('acme', 'big')).toBe(false);
      await expect(
        c.mset('acme', [
          { key: 'a', value: 1 },
          { key: 'b', value: 'x'.repeat(2000) },
        ]),
      ).rejects.toBeInstanceOf(PayloadTooLargeError);
      expect(await c.exists('acme', 'a')).toBe(false);
    });

    it('rejects what is not JSON', async () => {
      const c = cache();
      await expect(c.set('acme', 'k', undefined)).rejects.toBeInstanceOf(ValidationError);
      await expect(c.set('acme', 'k', 10n)).rejects.toBeInstanceOf(ValidationError);
    });
  });

  describe('mget / mset', () => {
    it('writes and reads several values in order', async () => {
      const c = cache();
      await c.mset(
        'acme',
        [
          { key: 'a', value: 1 },
          { key: 'b', value: null },
        ],
        { ttlMs: 60_000 },
      );
      expect(await c.mget('acme', ['a', 'missing', 'b'])).toEqual([
        { value: 1, backend: 'upstash' },
        null,
        { value: null, backend: 'upstash' },
      ]);
    });
  });

  describe('tenant isolation', () => {
    const inputs = [
      '*',
      '?',
      '[',
      '..',
      ':',
      'a\u0000b',
      'tab\there',
      '\u007f',
      'üñí©ødé 🚀',
      'x'.repeat(1024 * 1024),
      '',
      'a:b:c',
      '../acme:v:x',
    ];

    it.each(inputs.map((input) => [JSON.stringify(input).slice(0, 40), input]))(
      'key %s works within its tenant only or throws ValidationError',
      async (_, input) => {
        const c = cache();
        let written = false;
        try {
          await c.set('acme', input, 'secret');
          written = true;
        } catch (error) {
          expect(error).toBeInstanceOf(ValidationError);
        }
        if (written) {
          expect(await c.get('acme', input)).toEqual({ value: 'secret', backend: 'upstash' });
          expect(await c.get('globex', input)).toBeNull();
          expect(await c.exists('globex', input)).toBe(false);
        } else {
          await expect(c.get('acme', input)).rejects.toBeInstanceOf(ValidationError);
        }
      },
    );

    it('rejects tenants that could escape their segment', async () => {
      const c = cache();
      for (const tenant of ['', 'a:b', '*', '_', 'x'.repeat(65)]) {
        await expect(c.get(tenant, 'k')).rejects.toBeInstanceOf(ValidationError);
      }
    });
  });

  describe('commands and round trips', () => {
    it('a hit is 1 command in 1 round trip, a delete too, mset n commands in 1 round trip', async () => {
      const { endpoint, redis: own, token } = await privateEndpoint();
      try {
        const c = new CacheService({ redis: own, keys: new KeyBuilder(randomPrefix()) });
        await c.set('acme', 'k', { a: 1 });
        endpoint.resetStats();
        expect(await c.get('acme', 'k')).toEqual({ value: { a: 1 }, backend: 'upstash' });
        expect(endpoint.stats(token)).toMatchObject({ requests: 1, commands: 1, byCommand: { GETEX: 1 } });
        endpoint.resetStats();
        await c.delete('acme', 'k');
        expect(endpoint.stats(token)).toMatchObject({ requests: 1, commands: 1 });
        endpoint.resetStats();
        await c.mset(
          'acme',
          Array.from({ length: 5 }, (_, i) => ({ key: `m${i}`, value: i })),
        );
        expect(endpoint.stats(token)).toMatchObject({ requests: 1, commands: 5 });
        endpoint.resetStats();
        await c.mget('acme', ['m0', 'm1', 'm2']);
        expect(endpoint.stats(token)).toMatchObject({ requests: 1, commands: 1 });
      } finally {
        await endpoint.close();
      }
    });
  });

  describe('getOrSet', () => {
    it('loads once on a miss, then serves the cached value', async () => {
      const c = cache();
      let loads = 0;
      const loader = async () => {
        loads += 1;
        return { n: loads };
      };
      expect(await c.getOrSet('acme', 'k', loader)).toEqual({ n: 1 });
      expect(await c.getOrSet('acme', 'k', loader)).toEqual({ n: 1 });
      expect(loads).toBe(1);
    });

    it('caches a null the loader returns', async () => {
      const c = cache();
      let loads = 0;
      const loader = () => {
        loads += 1;
        return null;
      };
      expect(await c.getOrSet('acme', 'k', loader)).toBeNull();
      expect(await c.getOrSet('acme', 'k', loader)).toBeNull();
      expect(loads).toBe(1);
    });

    it('releases the lock when the loader fails, so the next caller loads', async () => {
      const keys = new KeyBuilder(randomPrefix());
      // A lock that would outlive b's wait if the failure left it behind.
      const a = new CacheService({ redis, keys, lockTtlMs: 60_000 });
      const b = new CacheService({ redis, keys, lockWaitMs: 30_000 });
      let loading: () => void = () => {};
      const aLoads = new Promise<void>((resolve) => {
        loading = resolve;
      });
      const failing = a.getOrSet('acme', 'k', async () => {
        loading(); // a holds the lock now: ordered by this, not by a sleep
        await sleep(100);
        throw new Error('source down');
      });
      await aLoads;
      const waiting = b.getOrSet('acme', 'k', () => 'from b');
      await expect(failing).rejects.toThrow('source down');
      const started = Date.now();
      expect(await waiting).toBe('from b');
      // Released, not waited out: b would otherwise wait its 30 s lockWaitMs.
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('runs the loader itself after lockWaitMs when the holder never delivers', async () => {
      const keys = new KeyBuilder(randomPrefix());
      const holder = new CacheService({ redis, keys, lockTtlMs: 10_000 });
      const waiter = new CacheService({ redis, keys, lockWaitMs: 300 });
      let holding: () => void = () => {};
      const held = new Promise<void>((resolve) => {
        holding = resolve;
      });
      void holder.getOrSet('acme', 'k', () => {
        holding();
        return new Promise(() => {}); // never settles
      });
      await held; // the holder has the lock before the waiter asks
      expect(await waiter.getOrSet('acme', 'k', () => 'mine')).toBe('mine');
    });

    it('refreshes early (XFetch) when expiry is near relative to the loader time', async () => {
      let now = 1_000_000;
      const c = cache({ now: () => now });
      let loads = 0;
      const loader = () => {
        loads += 1;
        now += 100; // the loader "takes" 100 ms
        return loads;
      };
      await c.getOrSet('acme', 'k', loader, { ttlMs: 60_000 });
      now += 60_000 - 5; // 5 ms before expiry, delta 100 ms: a refresh is all but certain
      expect(await c.getOrSet('acme', 'k', loader, { ttlMs: 60_000, beta: 10 })).toBe(2);
    });

    it('single-flights 50 concurrent callers over 2 processes into one loader run', async () => {
      const worker = fileURLToPath(
        new URL('../../../helpers/workers/cache-getorset-worker.ts', import.meta.url),
      );
      const { url, token } = sharedEndpoint('cache');
      const prefix = randomPrefix();
      const run = () => {
        const child: ChildProcess = spawn(
          process.execPath,
          ['--import', 'tsx', worker, url, token, prefix, '25'],
          {
            stdio: ['pipe', 'pipe', 'inherit'],
          },
        );
        let out = '';
        let markReady: () => void = () => {};
        const ready = new Promise<void>((resolve) => {
          markReady = resolve;
        });
        const done = new Promise<{ loads: number; values: unknown[] }>((resolve, reject) => {
          child.stdout?.on('data', (chunk: Buffer) => {
            out += chunk.toString();
            if (out.startsWith('ready\n')) markReady();
          });
          child.on('exit', (code) =>
            code === 0
              ? resolve(JSON.parse(out.slice('ready\n'.length)))
              : reject(new Error(`worker exited ${code}`)),
          );
        });
        return { child, ready, done };
      };
      const workers = [run(), run()];
      await Promise.all(workers.map((w) => w.ready));
      for (const w of workers) w.child.stdin?.write('go\n');
      const results = await Promise.all(workers.map((w) => w.done));
      expect(results.reduce((sum, r) => sum + r.loads, 0)).toBe(1);
      const values = results.flatMap((r) => r.values);
      expect(values).toHaveLength(50);
      expect(new Set(values.map((v) => JSON.stringify(v))).size).toBe(1);
    });
  });

  describe('fallback', () => {
    let endpoint: UpstashEndpoint;
    let port: number;
    const token = 'fallback-token';
    const start = (p = 0) =>
      UpstashEndpoint.start({ port: p, databases: [{ token, redisUrl: inject('redisUrl') }] });

    beforeAll(async () => {
      endpoint = await start();
      port = Number(new URL(endpoint.url).port);
    });
    afterAll(() => endpoint.close());

    it('without fallback, an outage propagates UpstashUnavailableError', async () => {
      const down = await start();
      const c = new CacheService({
        redis: mapNetworkErrors(new UpstashRedisClient(upstashClient(down.url, token))),
        keys: new KeyBuilder(randomPrefix()),
        fallback: false,
      });
      await down.close();
      await expect(c.get('acme', 'k')).rejects.toBeInstanceOf(UpstashUnavailableError);
    });

    it('serves reads from memory while the endpoint is closed, refuses writes and deletes (not applied), and recovers on a probe', async () => {
      const c = new CacheService({
        redis: mapNetworkErrors(new UpstashRedisClient(upstashClient(endpoint.url, token))),
        keys: new KeyBuilder(randomPrefix()),
        fallback: true,
        circuit: new CircuitBreaker({ firstProbeMs: 200 }),
      });
      expect(await c.set('acme', 'before', 'kept')).toBe(true);
      expect(c.backend).toBe('upstash');

      await endpoint.close();
      // A read is served from the container's memory, marked as such.
      expect(await c.get('acme', 'before')).toEqual({ value: 'kept', backend: 'fallback' });
      // A write that did not reach Upstash is never reported as stored.
      const write = await c.set('acme', 'during', 42).catch((e: unknown) => e);
      expect(write).toBeInstanceOf(UpstashUnavailableError);
      expect(await c.get('acme', 'during')).toBeNull();
      await c.get('acme', 'before'); // third failed round trip: the circuit opens
      expect(c.backend).toBe('fallback');
      // Open circuit: nothing is sent, so nothing can apply.
      for (const refused of [
        c.set('acme', 'during', 43),
        c.delete('acme', 'before'),
        c.mset('acme', [{ key: 'm', value: 1 }]),
      ]) {
        const error = await refused.catch((e: unknown) => e);
        expect(error).toBeInstanceOf(UpstashUnavailableError);
        expect((error as UpstashUnavailableError).outcome).toBe('not-applied');
      }
      expect(await c.get('acme', 'before')).toEqual({ value: 'kept', backend: 'fallback' });
      expect(c.stats().fallbackServed).toBeGreaterThanOrEqual(3);

      endpoint = await start(port);
      // The first probe is due 200 ms after opening; calls before it skip Upstash.
      await expect
        .poll(async () => (await c.get('acme', 'before'))?.backend, { timeout: 5_000, interval: 50 })
        .toBe('upstash');
      expect(c.backend).toBe('upstash');
      expect(await c.set('acme', 'after', 1)).toBe(true);
      expect(await c.delete('acme', 'before')).toBe(true);
    });

    it('with localWrites, answers "local" for writes while Upstash is away, but never deletes locally only', async () => {
      const down = await start();
      const c = new CacheService({
        redis: mapNetworkErrors(new UpstashRedisClient(upstashClient(down.url, token))),
        keys: new KeyBuilder(randomPrefix()),
        fallback: true,
        localWrites: true,
      });
      await down.close();
      expect(await c.set('acme', 'k', 'mine')).toBe('local');
      expect(await c.set('acme', 'k', 'other', { nx: true })).toBe(false);
      expect(await c.mset('acme', [{ key: 'm', value: 2 }])).toBe('local');
      expect(await c.get('acme', 'k')).toEqual({ value: 'mine', backend: 'fallback' });
      await expect(c.delete('acme', 'k')).rejects.toBeInstanceOf(UpstashUnavailableError);
    });

    it('counts one failed round trip once: a burst of commands in one slow answer does not open the circuit', async () => {
      const stalled = await startStalledServer();
      try {
        const client = await ManagedRedisClient.create(
          { name: 'cache', mode: 'rest' },
          {
            load: async () => ({ mode: 'rest', url: stalled.url, token }),
            refresh: async () => ({ mode: 'rest', url: stalled.url, token }),
          },
          { timeoutMs: 200 },
        );
        const c = new CacheService({ redis: client, keys: new KeyBuilder(randomPrefix()), fallback: true });
        // Twenty reads in one tick: one auto-pipelined request, one timeout.
        const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => c.get('acme', `k${i}`)));
        expect(burst).toEqual(Array.from({ length: 20 }, () => null));
        expect(stalled.requests).toBe(1);
        expect(c.backend).toBe('upstash');
        await c.get('acme', 'k'); // second failed round trip
        expect(c.backend).toBe('upstash');
        await c.get('acme', 'k'); // third in a row: now it is an outage
        expect(c.backend).toBe('fallback');
      } finally {
        await stalled.close();
      }
    });

    it('expires fallback entries on their TTL', async () => {
      const down = await start();
      const c = new CacheService({
        redis: mapNetworkErrors(new UpstashRedisClient(upstashClient(down.url, token))),
        keys: new KeyBuilder(randomPrefix()),
        fallback: true,
        localWrites: true,
      });
      await down.close();
      expect(await c.set('acme', 'k', 1, { ttlMs: 300 })).toBe('local');
      expect(await c.get('acme', 'k')).toEqual({ value: 1, backend: 'fallback' });
      await sleep(400);
      expect(await c.get('acme', 'k')).toBeNull();
    });
  });
});
