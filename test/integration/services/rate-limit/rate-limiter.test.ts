import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Algorithm, RateLimiter } from '../../../../lambda/services/rate-limit/rate-limiter';
import { CircuitBreaker } from '../../../../lambda/shared/circuit-breaker';
import { DEFAULTS } from '../../../../lambda/shared/config';
import { UpstashUnavailableError, ValidationError } from '../../../../lambda/shared/errors';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import { UpstashRedisClient } from '../../../../lambda/shared/redis';
import { type RedisServer, startRedisServer } from '../../../../local/redis-server';
import { UpstashEndpoint } from '../../../../local/upstash/server';
import { faultyRedis } from '../../../helpers/fault-redis';
import {
  privateEndpoint,
  randomPrefix,
  sharedEndpoint,
  sharedRedis,
  upstashClient,
} from '../../../helpers/redis';
import { mapNetworkErrors } from '../../../helpers/workers/cache-unavailable-redis';

const ALGORITHMS: Algorithm[] = ['fixed-window', 'sliding-window', 'token-bucket'];
const HOUR = 3_600_000;

describe('RateLimiter', () => {
  const redis = sharedRedis();

  const limiter = (
    algorithm: Algorithm,
    limit: number,
    extra: Partial<ConstructorParameters<typeof RateLimiter>[0]> = {},
  ) =>
    new RateLimiter({
      redis,
      keys: new KeyBuilder(randomPrefix()),
      name: 'api',
      algorithm,
      limit,
      windowMs: HOUR,
      refillRate: 1,
      ...extra,
    });

  describe.each(ALGORITHMS)('%s', (algorithm) => {
    it('admits up to the limit and refuses the rest without consuming', async () => {
      const rl = limiter(algorithm, 3, { blockedCacheSize: 0 });
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await rl.check('acme', 'u1'));
      expect(results.map((r) => r.success)).toEqual([true, true, true, false, false]);
      expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0, 0]);
      expect(results[3]?.reason).toBe('limited');
      expect(results[3]?.reset).toBeGreaterThan(Date.now());
    });

    it('checks the cost against what remains before consuming anything', async () => {
      const rl = limiter(algorithm, 10);
      expect((await rl.check('acme', 'u1', { cost: 8 })).remaining).toBe(2);
      const tooBig = await rl.check('acme', 'u1', { cost: 5 });
      expect(tooBig).toMatchObject({ success: false, remaining: 2, reason: 'limited' });
      expect(await rl.check('acme', 'u1', { cost: 2 })).toMatchObject({ success: true, remaining: 0 });
    });

    it('refunds with a negative cost, never above the limit', async () => {
      const rl = limiter(algorithm, 5);
      await rl.check('acme', 'u1', { cost: 5 });
      expect((await rl.check('acme', 'u1')).success).toBe(false);
      expect(await rl.refund('acme', 'u1', 2)).toMatchObject({ success: true, remaining: 2 });
      expect((await rl.check('acme', 'u1', { cost: -50 })).remaining).toBe(5);
    });

    it('peeks without consuming and resets', async () => {
      const rl = limiter(algorithm, 4);
      await rl.check('acme', 'u1', { cost: 3 });
      expect(await rl.peek('acme', 'u1')).toMatchObject({ success: true, remaining: 1 });
      expect(await rl.peek('acme', 'u1')).toMatchObject({ success: true, remaining: 1 });
      await rl.reset('acme', 'u1');
      expect((await rl.peek('acme', 'u1')).remaining).toBe(4);
    });

    it('keeps identifiers and tenants apart', async () => {
      const rl = limiter(algorithm, 1);
      expect((await rl.check('acme', 'u1')).success).toBe(true);
      expect((await rl.check('acme', 'u1')).success).toBe(false);
      expect((await rl.check('acme', 'u2')).success).toBe(true);
      expect((await rl.check('globex', 'u1')).success).toBe(true);
    });
  });

  describe('sliding-window', () => {
    it('weighs the previous window by how much of it still overlaps', async () => {
      let now = 10 * HOUR; // the start of a window
      const rl = limiter('sliding-window', 10, { now: () => now, blockedCacheSize: 0 });
      await rl.check('acme', 'u1', { cost: 10 });
      now += HOUR + HOUR / 4; // a quarter into the next window: 75% of the previous still counts
      expect(await rl.peek('acme', 'u1')).toMatchObject({ remaining: 3 });
      const refused = await rl.check('acme', 'u1', { cost: 4 });
      expect(refused.success).toBe(false);
      now += HOUR / 2; // three quarters in: 25% of the previous window (2.5, floored) counts
      expect(await rl.check('acme', 'u1', { cost: 8 })).toMatchObject({ success: true, remaining: 0 });
    });
  });

  describe('blocked cache', () => {
    it('answers a known-blocked identifier without a command until its reset', async () => {
      const { endpoint, redis: own, token } = await privateEndpoint();
      try {
        const rl = new RateLimiter({
          redis: own,
          keys: new KeyBuilder(randomPrefix()),
          name: 'api',
          algorithm: 'fixed-window',
          limit: 1,
          windowMs: HOUR,
        });
        await rl.check('acme', 'u1');
        endpoint.resetStats();
        const blocked = await rl.check('acme', 'u1');
        expect(blocked).toMatchObject({ success: false, reason: 'blocked-cache', remaining: 0 });
        expect(endpoint.stats(token).commands).toBe(0);
        await rl.refund('acme', 'u1');
        expect((await rl.check('acme', 'u1')).reason).toBe('allowed');
      } finally {
        await endpoint.close();
      }
    });
  });

  describe('checkAll', () => {
    it('consumes every limit when all pass and none when one refuses', async () => {
      const keys = new KeyBuilder(randomPrefix());
      const perKey = new RateLimiter({
        redis,
        keys,
        name: 'key',
        algorithm: 'fixed-window',
        limit: 5,
        windowMs: HOUR,
      });
      // No blocked cache: the refusal must come from the script, not from memory.
      const perRoute = new RateLimiter({
        redis,
        keys,
        name: 'route',
        algorithm: 'token-bucket',
        limit: 2,
        windowMs: HOUR,
        blockedCacheSize: 0,
      });
      const perUser = new RateLimiter({
        redis,
        keys,
        name: 'user',
        algorithm: 'sliding-window',
        limit: 9,
        windowMs: HOUR,
      });
      const all = () =>
        RateLimiter.checkAll([
          { limiter: perKey, tenant: 'acme', identifier: 'k1' },
          { limiter: perRoute, tenant: 'acme', identifier: 'search' },
          { limiter: perUser, tenant: 'acme', identifier: 'alice', cost: 3 },
        ]);
      expect(await all()).toMatchObject({ success: true, remaining: 1, limit: 2 });
      expect((await all()).success).toBe(true);
      const refused = await all();
      expect(refused).toMatchObject({ success: false, reason: 'limited', limit: 2 });
      expect((await perKey.peek('acme', 'k1')).remaining).toBe(3);
      expect((await perUser.peek('acme', 'alice')).remaining).toBe(3);
    });

    it('refuses limiters on different clients', async () => {
      const keys = new KeyBuilder(randomPrefix());
      const a = new RateLimiter({
        redis,
        keys,
        name: 'a',
        algorithm: 'fixed-window',
        limit: 1,
        windowMs: HOUR,
      });
      const b = new RateLimiter({
        redis: sharedRedis(),
        keys,
        name: 'b',
        algorithm: 'fixed-window',
        limit: 1,
        windowMs: HOUR,
      });
      await expect(
        RateLimiter.checkAll([
          { limiter: a, tenant: 'acme', identifier: 'x' },
          { limiter: b, tenant: 'acme', identifier: 'x' },
        ]),
      ).rejects.toBeInstanceOf(ValidationError);
    });
  });

  describe('commands and round trips', () => {
    it.each(ALGORITHMS)('%s: a warm check is 1 command in 1 round trip', async (algorithm) => {
      const { endpoint, redis: own, token } = await privateEndpoint();
      try {
        const rl = new RateLimiter({
          redis: own,
          keys: new KeyBuilder(randomPrefix()),
          name: 'api',
          algorithm,
          limit: 100,
          windowMs: HOUR,
        });
        await rl.check('acme', 'warm-up');
        endpoint.resetStats();
        await rl.check('acme', 'u1');
        expect(endpoint.stats(token)).toMatchObject({ requests: 1, commands: 1, byCommand: { EVALSHA: 1 } });
      } finally {
        await endpoint.close();
      }
    });
  });

  describe('billed commands (INFO commandstats on a private Redis)', () => {
    let server: RedisServer;
    let endpoint: UpstashEndpoint;
    let probe: IORedis;
    let own: UpstashRedisClient;

    beforeAll(async () => {
      server = await startRedisServer();
      endpoint = await UpstashEndpoint.start({ databases: [{ token: 'billed', redisUrl: server.url }] });
      probe = new IORedis(server.url);
      own = new UpstashRedisClient(upstashClient(endpoint.url, 'billed'));
    });
    afterAll(async () => {
      probe.disconnect();
      await endpoint.close();
      await server.stop();
    });

    const billed = async (run: () => Promise<unknown>): Promise<number> => {
      const total = async () => {
        const info = await probe.info('commandstats');
        let sum = 0;
        for (const m of info.matchAll(/^cmdstat_(\w+(?:\|\w+)?):calls=(\d+)/gm)) {
          if (!['info', 'ping', 'select', 'client', 'script', 'eval'].includes(m[1] ?? ''))
            sum += Number(m[2]);
        }
        return sum;
      };
      const before = await total();
      await run();
      return (await total()) - before;
    };

    // Upstash's anchors for @upstash/ratelimit: [first, later, refused].
    it.each([
      ['fixed-window', [3, 2, 3]],
      ['sliding-window', [3, 3, 2]],
      ['token-bucket', [3, 3, 2]],
    ] as const)('%s costs %j billed commands (first, later, refused)', async (algorithm, expected) => {
      const rl = new RateLimiter({
        redis: own,
        keys: new KeyBuilder(randomPrefix()),
        name: 'api',
        algorithm,
        limit: 2,
        windowMs: HOUR,
        blockedCacheSize: 0,
      });
      await rl.check('acme', 'warm-up');
      const first = await billed(() => rl.check('acme', 'u1'));
      const later = await billed(() => rl.check('acme', 'u1'));
      const refused = await billed(() => rl.check('acme', 'u1'));
      expect([first, later, refused]).toEqual(expected);
    });
  });

  describe('exactness across processes', () => {
    const worker = fileURLToPath(new URL('../../../helpers/workers/ratelimit-worker.ts', import.meta.url));

    const run = (
      args: string[],
    ): { child: ChildProcess; ready: Promise<void>; done: Promise<{ allowed: number }> } => {
      const child = spawn(process.execPath, ['--import', 'tsx', worker, ...args], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      let out = '';
      let signalReady: () => void = () => {};
      const ready = new Promise<void>((resolve) => {
        signalReady = resolve;
      });
      const done = new Promise<{ allowed: number }>((resolve, reject) => {
        child.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.startsWith('ready\n')) signalReady();
        });
        child.on('exit', (code) =>
          code === 0
            ? resolve(JSON.parse(out.slice('ready\n'.length)))
            : reject(new Error(`worker exited ${code}`)),
        );
      });
      return { child, ready, done };
    };

    it.each(ALGORITHMS)(
      '%s: 1,000 concurrent checks from 2 processes admit exactly 100',
      async (algorithm) => {
        // Epoch-aligned hour windows: do not start within 30 s of a boundary.
        const toBoundary = HOUR - (Date.now() % HOUR);
        if (toBoundary < 30_000) await new Promise((r) => setTimeout(r, toBoundary + 100));
        const { url, token } = sharedEndpoint();
        const prefix = randomPrefix();
        const workers = [
          run([url, token, prefix, algorithm, '100', '500']),
          run([url, token, prefix, algorithm, '100', '500']),
        ];
        await Promise.all(workers.map((w) => w.ready));
        for (const w of workers) w.child.stdin?.write('go\n');
        const results = await Promise.all(workers.map((w) => w.done));
        expect(results.reduce((sum, r) => sum + r.allowed, 0)).toBe(100);
      },
      // Up to 30 s of waiting out an hour boundary, then two processes' start and 1,000 checks.
      120_000,
    );
  });

  describe('outage policies', () => {
    let server: RedisServer;
    let endpoint: UpstashEndpoint;
    let down: ReturnType<typeof mapNetworkErrors>;

    beforeAll(async () => {
      server = await startRedisServer();
      endpoint = await UpstashEndpoint.start({ databases: [{ token: 'outage', redisUrl: server.url }] });
      down = mapNetworkErrors(new UpstashRedisClient(upstashClient(endpoint.url, 'outage')));
      await endpoint.close();
    });
    afterAll(async () => {
      await server.stop();
    });

    /** A limiter on the unreachable endpoint whose circuit is already open (one failure opens it). */
    const outage = async (policy: 'open' | 'closed' | 'local', name = 'api', circuit = openCircuit()) =>
      new RateLimiter({
        redis: down,
        keys: new KeyBuilder('p'),
        name,
        algorithm: 'fixed-window',
        limit: 2,
        windowMs: HOUR,
        outage: policy,
        circuit: await circuit,
      });
    async function openCircuit(): Promise<CircuitBreaker> {
      const circuit = new CircuitBreaker({ failureThreshold: 1, firstProbeMs: HOUR });
      circuit.failure(new UpstashUnavailableError('down'));
      return circuit;
    }

    it('a check that fails while the circuit is closed is not an outage yet: it throws, until the circuit opens', async () => {
      const rl = new RateLimiter({
        redis: down,
        keys: new KeyBuilder('p'),
        name: 'api',
        algorithm: 'fixed-window',
        limit: 2,
        windowMs: HOUR,
        outage: 'local',
        circuit: new CircuitBreaker({ failureThreshold: 3, firstProbeMs: HOUR }),
      });
      for (let i = 0; i < 2; i++) {
        const error = await rl.check('acme', 'u1').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(UpstashUnavailableError);
      }
      expect(rl.circuit.isOpen).toBe(false);
      // The third failed round trip in a row opens the circuit: this check is decided locally.
      expect(await rl.check('acme', 'u1')).toMatchObject({ success: true, reason: 'outage-local' });
      expect(rl.circuit.isOpen).toBe(true);
    });

    it('open admits with reason outage-open', async () => {
      expect(await (await outage('open')).check('acme', 'u1')).toMatchObject({
        success: true,
        reason: 'outage-open',
      });
    });

    it('closed refuses with reason outage-closed; the default is local, as deployed', async () => {
      expect(await (await outage('closed')).check('acme', 'u1')).toMatchObject({
        success: false,
        reason: 'outage-closed',
      });
      const byDefault = new RateLimiter({
        redis: down,
        keys: new KeyBuilder('p'),
        name: 'd',
        algorithm: 'token-bucket',
        limit: 2,
        windowMs: HOUR,
        circuit: await openCircuit(),
      });
      expect(byDefault.outage).toBe(DEFAULTS.rateLimit.outage);
      expect((await byDefault.check('acme', 'u1')).reason).toBe('outage-local');
    });

    it('local decides in memory with reason outage-local', async () => {
      const rl = await outage('local');
      const results = [
        await rl.check('acme', 'u1'),
        await rl.check('acme', 'u1'),
        await rl.check('acme', 'u1'),
      ];
      expect(results.map((r) => [r.success, r.reason])).toEqual([
        [true, 'outage-local'],
        [true, 'outage-local'],
        [false, 'outage-local'],
      ]);
    });

    it('checkAll applies the strictest policy', async () => {
      const circuit = openCircuit();
      const open = await outage('open', 'o', circuit);
      const local = await outage('local', 'l', circuit);
      const closed = await outage('closed', 'c', circuit);
      const both = await RateLimiter.checkAll([
        { limiter: open, tenant: 'acme', identifier: 'u1' },
        { limiter: local, tenant: 'acme', identifier: 'u1', cost: 2 },
      ]);
      expect(both).toMatchObject({ success: true, reason: 'outage-local' });
      expect(both.results.map((r) => r.reason)).toEqual(['outage-open', 'outage-local']);
      const withClosed = await RateLimiter.checkAll([
        { limiter: local, tenant: 'acme', identifier: 'u9' },
        { limiter: closed, tenant: 'acme', identifier: 'u9' },
      ]);
      expect(withClosed).toMatchObject({ success: false, reason: 'outage-closed' });
    });

    it.each(ALGORITHMS)(
      '%s: the local policy continues from what Redis last said and raises Redis after the outage: never over the limit',
      async (algorithm) => {
        const faulty = faultyRedis(sharedRedis());
        let clock = 0;
        const rl = new RateLimiter({
          redis: faulty,
          keys: new KeyBuilder(randomPrefix()),
          name: 'api',
          algorithm,
          limit: 5,
          windowMs: HOUR,
          refillRate: 1,
          outage: 'local',
          blockedCacheSize: 0,
          circuit: new CircuitBreaker({ failureThreshold: 1, firstProbeMs: 1_000, now: () => clock }),
        });
        const decide = async () => (await rl.check('acme', 'u')).success;
        const admitted: string[] = [];
        for (let i = 0; i < 3; i++) if (await decide()) admitted.push('redis');
        faulty.mode = 'down';
        for (let i = 0; i < 4; i++) if (await decide()) admitted.push('local');
        expect(admitted).toEqual(['redis', 'redis', 'redis', 'local', 'local']);
        // Back: the first call after the probe wait raises Redis to what was used meanwhile.
        faulty.mode = 'up';
        clock += 1_000;
        for (let i = 0; i < 3; i++) if (await decide()) admitted.push('after');
        expect(admitted).toHaveLength(5);
        expect(rl.circuit.isOpen).toBe(false);
        expect(await rl.peek('acme', 'u')).toMatchObject({ remaining: 0, reason: 'allowed' });
      },
    );
  });
});
