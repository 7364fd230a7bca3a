import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis as IORedis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { LockService } from '../../../lambda/services/lock';
import { JobQueue } from '../../../lambda/services/queue';
import { RateLimiter } from '../../../lambda/services/rate-limit/rate-limiter';
import { createRedisClient, createUpstashRedis } from '../../../lambda/shared/client';
import { KeyBuilder } from '../../../lambda/shared/keys';
import { UpstashRedisClient } from '../../../lambda/shared/redis';
import type { RoundTrip } from '../../../lambda/shared/usage';
import { type RedisServer, startRedisServer } from '../../../local/redis-server';
import { randomPrefix, sharedEndpoint } from '../../helpers/redis';

/**
 * The meter of each transport against what really crossed the wire: REST bodies counted by a
 * proxy in front of the local endpoint, TCP commands counted by Redis's own INFO commandstats.
 */

/** An HTTP proxy that forwards to `target` and counts requests and body bytes each way. */
async function countingProxy(target: string): Promise<{
  url: string;
  counts: { requests: number; requestBytes: number; responseBytes: number };
  close(): Promise<void>;
}> {
  const counts = { requests: 0, requestBytes: 0, responseBytes: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      counts.requests += 1;
      counts.requestBytes += body.length;
      const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
        const back: Buffer[] = [];
        up.on('data', (c: Buffer) => back.push(c));
        up.on('end', () => {
          const answer = Buffer.concat(back);
          counts.responseBytes += answer.length;
          res.writeHead(up.statusCode ?? 502, up.headers).end(answer);
        });
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Some work of every kind: plain commands, scripts (first call: NOSCRIPT then EVAL), auto-pipelined batches. */
async function work(redis: UpstashRedisClient | Awaited<ReturnType<typeof createRedisClient>>) {
  const keys = new KeyBuilder(randomPrefix());
  const limiter = new RateLimiter({
    redis,
    keys,
    name: 'u',
    algorithm: 'sliding-window',
    limit: 5,
    windowMs: 60_000,
  });
  const queue = new JobQueue({ redis, keys });
  const locks = new LockService({ redis, keys });
  await redis.set(keys.key('cache', 't', 'a'), 'żółw 🐢', { px: 60_000 });
  await Promise.all([redis.get(keys.key('cache', 't', 'a')), redis.mget([keys.key('cache', 't', 'a'), 'x'])]);
  for (let i = 0; i < 7; i++) await limiter.check('t', 'id');
  const job = await queue.enqueue({ tenant: 't', type: 'x', payload: { n: 1 } });
  await Promise.all([queue.dequeue({ leaseMs: 1000 }), queue.status('t', job.id), redis.ping()]);
  const lock = await locks.acquire('t', 'r');
  if (lock) await locks.release(lock);
}

const sum = (trips: RoundTrip[], field: keyof RoundTrip) => trips.reduce((n, t) => n + t[field], 0);

describe('usage meter over REST', () => {
  it('counts the round trips and the request bytes the proxy saw, and the response bytes within 2 per trip', async () => {
    const { url, token } = sharedEndpoint();
    const proxy = await countingProxy(url);
    try {
      const trips: RoundTrip[] = [];
      const redis = new UpstashRedisClient(
        createUpstashRedis({ mode: 'rest', url: proxy.url, token }, { onRoundTrip: (t) => trips.push(t) }),
      );
      await work(redis);

      expect(trips.length).toBe(proxy.counts.requests);
      expect(sum(trips, 'requestBytes')).toBe(proxy.counts.requestBytes);
      // Measured back from the decoded replies: exact against this endpoint; Upstash sends a
      // top-level OK unencoded, 2 bytes shorter.
      expect(Math.abs(sum(trips, 'responseBytes') - proxy.counts.responseBytes)).toBeLessThanOrEqual(
        2 * trips.length,
      );
      expect(trips.every((t) => t.latencyMs >= 0 && t.billed >= t.commands)).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});

describe('usage meter over TCP', () => {
  let server: RedisServer;
  let direct: IORedis;
  beforeAll(async () => {
    server = await startRedisServer();
    direct = new IORedis(server.url);
  });
  afterAll(async () => {
    direct?.disconnect();
    await server?.stop();
  });

  it('counts each command, and billed commands equal to what INFO commandstats says Redis ran', async () => {
    const trips: RoundTrip[] = [];
    const redis = await createRedisClient(
      { name: 'tcp', mode: 'tcp' },
      {
        load: async () => ({ mode: 'tcp', url: server.url }),
        refresh: async () => ({ mode: 'tcp', url: server.url }),
      },
      { onRoundTrip: (t) => trips.push(t) },
    );
    try {
      await redis.ping(); // connected, so the client's set-up is not in the counts
      trips.length = 0;
      await direct.call('CONFIG', 'RESETSTAT');
      await work(redis);
      const info = String(await direct.call('INFO', 'commandstats'));
      let ran = 0;
      for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
        if (!['config|resetstat', 'info'].includes(match[1] as string)) ran += Number(match[2]);
      }
      const scripts = trips.filter((t) => t.billed > 1).length;
      expect(scripts).toBeGreaterThan(5);
      expect(sum(trips, 'commands')).toBe(trips.length);
      expect(sum(trips, 'billed')).toBe(ran);
    } finally {
      await redis.close();
    }
  });
});

/** A proxy to `target` that holds the answer to any request whose body contains `held` until released. */
async function holdingProxy(target: string, held: string) {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
        const back: Buffer[] = [];
        up.on('data', (c: Buffer) => back.push(c));
        up.on('end', async () => {
          if (body.toString('utf8').includes(held)) await released;
          res.writeHead(up.statusCode ?? 502, up.headers).end(Buffer.concat(back));
        });
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    release: () => release(),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe.each([
  ['in the Lambda runtime (a slot: one invocation at a time)', { AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001' }],
  ['where invocations share a process (async context)', {}],
])('usage per invocation %s', (_where, env) => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it('counts a round trip to the invocation that sent it, also when its answer arrives during the next', async () => {
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    // Fresh modules: each picks its kind of store from the environment on first use.
    vi.resetModules();
    const { InvocationUsage, usageRecorder } = await import('../../../lambda/shared/usage');
    const client = await import('../../../lambda/shared/client');
    const { url, token } = sharedEndpoint();
    const held = `${randomPrefix()}:held`;
    const proxy = await holdingProxy(url, held);
    try {
      const redis = new UpstashRedisClient(
        client.createUpstashRedis(
          { mode: 'rest', url: proxy.url, token },
          { onRoundTrip: usageRecorder('db') },
        ),
      );
      const first = new InvocationUsage();
      const second = new InvocationUsage();
      let late: Promise<unknown> = Promise.resolve();
      await first.run(async () => {
        late = redis.get(held); // still under way when the invocation ends
        await new Promise((resolve) => setImmediate(resolve)); // sent in its own round trip
        await redis.ping();
      });
      await second.run(async () => {
        proxy.release();
        await late;
        await redis.ping();
      });
      expect(first.logFields()).toMatchObject({ commands: 2, roundTrips: 2 });
      expect(second.logFields()).toMatchObject({ commands: 1, roundTrips: 1 });
    } finally {
      await proxy.close();
    }
  });
});
