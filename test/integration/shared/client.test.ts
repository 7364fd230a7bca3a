import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { DEFAULT_TIMEOUT_MS, ManagedRedisClient } from '../../../lambda/shared/client';
import type { Credentials } from '../../../lambda/shared/credentials';
import { UpstashUnavailableError } from '../../../lambda/shared/errors';
import { defineScript, runScript } from '../../../lambda/shared/scripts';
import { freePort, startRedisServer } from '../../../local/redis-server';
import { UpstashEndpoint } from '../../../local/upstash/server';
import { startStalledServer } from '../../helpers/net';
import { type CapturedOutput, captureOutput, leakedSecrets } from '../../helpers/output';
import { randomPrefix } from '../../helpers/redis';
import { startSlowProxy } from '../../helpers/slow-proxy';

const TOKEN = 'client-test-token-7f3a9c';
const database = { name: 'state', mode: 'rest' as const };
const fixed = (credentials: Credentials) => ({
  load: async () => credentials,
  refresh: async () => credentials,
});
const rest = (url: string): Credentials => ({ mode: 'rest', url, token: TOKEN });
const incr = defineScript('incr', "return redis.call('INCR', KEYS[1])");

async function timed<T>(promise: Promise<T>): Promise<{ value: T | unknown; ms: number }> {
  const started = performance.now();
  const value = await promise.catch((error: unknown) => error);
  return { value, ms: performance.now() - started };
}

describe('ManagedRedisClient', () => {
  let output: CapturedOutput;
  const errors: unknown[] = [];

  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => {
    output.restore();
    expect(leakedSecrets([TOKEN], output.text(), ...errors)).toEqual([]);
    errors.length = 0;
  });

  it('fails fast with UpstashUnavailableError when nothing listens', async () => {
    const client = await ManagedRedisClient.create(
      database,
      fixed(rest(`http://127.0.0.1:${await freePort()}`)),
    );

    const get = await timed(client.get('k'));
    const script = await timed(runScript(client, incr, ['k'], []));
    errors.push(get.value, script.value);

    expect(get.value).toBeInstanceOf(UpstashUnavailableError);
    expect((get.value as Error).message).toBe('database "state" is unavailable (ECONNREFUSED)');
    expect(script.value).toBeInstanceOf(UpstashUnavailableError);
    // At once, not after a retry schedule (@upstash/redis's default backoff alone is about 4.3 s).
    expect(get.ms).toBeLessThan(2_000);
  });

  it('cuts a stalled endpoint off at the default timeout, for reads and scripts alike', async () => {
    const stalled = await startStalledServer();
    try {
      const client = await ManagedRedisClient.create(database, fixed(rest(stalled.url)));

      // Concurrent calls share one auto-pipelined request (the cache read is a GETEX, batched
      // with the writes).
      const [read, script] = await Promise.all([
        timed(client.get('k')),
        timed(client.evalsha('0'.repeat(40), ['k'], [])),
      ]);
      errors.push(read.value, script.value);

      for (const call of [read, script]) {
        expect(call.value).toBeInstanceOf(UpstashUnavailableError);
        expect((call.value as Error).message).toBe('database "state" is unavailable (timeout)');
        expect(call.ms).toBeGreaterThanOrEqual(DEFAULT_TIMEOUT_MS - 50);
        // Generous above: a loaded machine fires timers late; a retry would show in `requests`.
        expect(call.ms).toBeLessThan(DEFAULT_TIMEOUT_MS * 3);
      }
      // No retry after a timeout: the one auto-pipelined request, nothing re-sent.
      expect(stalled.requests).toBe(1);
    } finally {
      await stalled.close();
    }
  });

  it('honours a shorter configured timeout', async () => {
    const stalled = await startStalledServer();
    try {
      const client = await ManagedRedisClient.create(database, fixed(rest(stalled.url)), { timeoutMs: 200 });

      const call = await timed(client.ping());
      errors.push(call.value);

      expect(call.value).toBeInstanceOf(UpstashUnavailableError);
      expect(call.ms).toBeGreaterThanOrEqual(150);
      expect(call.ms).toBeLessThan(DEFAULT_TIMEOUT_MS); // the configured 200 ms, not the default
    } finally {
      await stalled.close();
    }
  });

  it('does not take its own busy time for server silence: an answer that came while this process was busy is read', async () => {
    // The answer comes 100 ms after the request, from another thread, while this one is busy.
    const proxy = await startSlowProxy(Number(new URL(inject('upstashUrl')).port), 100);
    try {
      const shared = { mode: 'rest' as const, url: proxy.url, token: inject('stateToken') };
      const client = await ManagedRedisClient.create(database, fixed(shared));
      expect(await client.ping()).toBe('PONG'); // connection open
      const pending = client.ping().catch((e: unknown) => e);
      await new Promise((resolve) => setTimeout(resolve, 20)); // the request is on its way
      // Busy outside the timers phase, as request handling is (I/O callbacks): the next loop turn
      // runs due timers before it reads sockets.
      await new Promise((resolve) => setImmediate(resolve));
      const until = performance.now() + 1.5 * DEFAULT_TIMEOUT_MS; // our own CPU load
      while (performance.now() < until) {
        // busy, as a process serving a burst of requests is
      }
      // A wall-clock timer fires before the answer waiting in the socket is read.
      expect(await pending).toBe('PONG');
    } finally {
      await proxy.close();
    }
  });

  it('still gives up after maxTimeoutMs of wall time, however busy this process stays', async () => {
    const stalled = await startStalledServer();
    try {
      const client = await ManagedRedisClient.create(database, fixed(rest(stalled.url)), {
        timeoutMs: 200,
        maxTimeoutMs: 400,
      });
      const started = performance.now();
      let settledAfter = Number.POSITIVE_INFINITY;
      const pending = client.ping().then(
        () => undefined,
        (e: unknown) => {
          settledAfter = performance.now() - started;
          return e;
        },
      );
      // Busy almost all the time (20 ms slices, timers still run between them): idle time hardly
      // grows, so only the wall-clock ceiling can end the wait.
      while (settledAfter === Number.POSITIVE_INFINITY && performance.now() - started < 5_000) {
        const slice = performance.now() + 20;
        while (performance.now() < slice) {
          // busy
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      const error = await pending;
      errors.push(error);
      expect(error).toBeInstanceOf(UpstashUnavailableError);
      expect((error as UpstashUnavailableError).outcome).toBe('unknown');
      expect(settledAfter).toBeLessThan(2_500);
    } finally {
      await stalled.close();
    }
  });

  it('works again once the endpoint is back on the same port', async () => {
    const port = await freePort();
    const databases = [{ token: TOKEN, redisUrl: inject('redisUrl') }];
    const first = await UpstashEndpoint.start({ databases, port });
    const client = await ManagedRedisClient.create(database, fixed(rest(first.url)));
    const key = `${randomPrefix()}:restart`;
    await client.set(key, 'v', { px: 60_000 });

    await first.close();
    const down = await client.get(key).catch((e) => e);
    errors.push(down);
    const second = await UpstashEndpoint.start({ databases, port });
    try {
      expect(down).toBeInstanceOf(UpstashUnavailableError);
      expect(await client.get(key)).toBe('v');
    } finally {
      await client.del([key]);
      await second.close();
    }
  });

  it('maps a 5xx from the endpoint (its Redis is down) to UpstashUnavailableError', async () => {
    const redis = await startRedisServer();
    const endpoint = await UpstashEndpoint.start({ databases: [{ token: TOKEN, redisUrl: redis.url }] });
    try {
      const client = await ManagedRedisClient.create(database, fixed(rest(endpoint.url)));
      expect(await client.ping()).toBe('PONG');

      await redis.stop();
      const [get, scan] = await Promise.all([
        client.get('k').catch((e) => e),
        client.scan('0', '*', 10).catch((e) => e),
      ]);
      errors.push(get, scan);

      expect(get).toBeInstanceOf(UpstashUnavailableError);
      expect(get.message).toBe('database "state" is unavailable (server error)');
      expect(scan).toBeInstanceOf(UpstashUnavailableError);
    } finally {
      await endpoint.close();
      await redis.stop();
    }
  });

  it('passes Redis error replies through unchanged', async () => {
    const endpoint = await UpstashEndpoint.start({
      databases: [{ token: TOKEN, redisUrl: inject('redisUrl') }],
    });
    try {
      const client = await ManagedRedisClient.create(database, fixed(rest(endpoint.url)));

      const error = (await client.evalsha('0'.repeat(40), [], []).catch((e: unknown) => e)) as Error;

      expect(error).not.toBeInstanceOf(UpstashUnavailableError);
      expect(error.message).toContain('NOSCRIPT');
    } finally {
      await endpoint.close();
    }
  });
});
