import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../../local/redis-server';
import { expectAnswersMatchOpenApi } from '../helpers/openapi';
import { type StackProcess, startStackProcess } from '../helpers/stack-process';

/**
 * The per-tenant `api` limit (cdk.json: sliding window, 100 per 60 s, outage policy `local`)
 * through `npm start`, under a burst that loads this machine: every request is decided by Redis,
 * none by the in-container limiter, so the tenant gets exactly its figure whatever its keys.
 * (Before the fix: 106 admitted, most requests decided in memory after 1 s timeouts.)
 */

const LIMIT = 100;
const WINDOW_MS = 60_000;
const BURST = 600;

describe('the api limit under a burst (npm start)', () => {
  let redis: RedisServer;
  let stack: StackProcess;
  const dir = mkdtempSync(join(tmpdir(), 'api-limit-'));

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await startStackProcess({ redisUrl: redis.url, dir });
  }, 90_000);
  afterAll(async () => {
    await stack?.stop();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`admits exactly ${LIMIT} of ${BURST} concurrent requests over 3 keys of one tenant, each decided by Redis`, async () => {
    const keys: string[] = [];
    for (let i = 0; i < 3; i++) keys.push(await stack.mintKey('burst'));
    // A burst that crossed a window boundary would rightly admit a little more (the sliding
    // window weighs the previous window): start it early in a window.
    if (Date.now() % WINDOW_MS > WINDOW_MS - 20_000) {
      await new Promise((resolve) => setTimeout(resolve, WINDOW_MS - (Date.now() % WINDOW_MS) + 50));
    }
    // One request per key: the gateway's authorizer decision is cached from then on.
    const warm = await Promise.all(keys.map((key) => stack.call('GET', '/cache/x', key)));
    expect(warm.map((r) => r.status)).toEqual([404, 404, 404]);

    const burst = await Promise.all(
      Array.from({ length: BURST }, (_, i) => stack.call('GET', '/cache/x', keys[i % 3] as string)),
    );

    const admitted = burst.filter((r) => r.status === 404);
    const refused = burst.filter((r) => r.status === 429);
    const failed = burst.filter((r) => r.status === 503);
    expect(admitted.length + refused.length + failed.length).toBe(BURST);
    // Exact: the tenant gets its figure, never more. A check whose answer was lost (only when
    // this machine is so loaded that a round trip outlasts the client's 5 s ceiling) is
    // answered 503 "not-applied", never decided in memory; it may have used a token.
    expect(admitted.length + warm.length).toBeLessThanOrEqual(LIMIT);
    expect(admitted.length + warm.length + failed.length).toBeGreaterThanOrEqual(LIMIT);
    for (const r of failed) expect(r.json()).toMatchObject({ error: { outcome: 'not-applied' } });
    // Each admission was counted by Redis, one after the other: what remained after each is a
    // distinct number. The in-container limiter would repeat them.
    const remaining = admitted.map((r) => Number(r.headers['ratelimit-remaining']));
    expect(new Set(remaining).size).toBe(admitted.length);
    expect(Math.max(...remaining)).toBeLessThan(LIMIT - warm.length);
    // Nor did the burst open the cache's circuit (it used to, from timeouts alone).
    const health = await stack.call('GET', '/health', keys[0] as string);
    expect(health.json()).toMatchObject({ status: 'ok', cacheBackend: 'upstash' });
  }, 120_000);

  // Last in the file: every answer of the tests above, against the document this stack serves.
  it('answered every request as GET /openapi.json describes it (status and body), every route listed', async () => {
    await expectAnswersMatchOpenApi(stack.url);
  });
});
