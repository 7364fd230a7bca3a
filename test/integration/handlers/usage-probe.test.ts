import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type * as ProbeModule from '../../../lambda/handlers/usage-probe';
import { lambdaContext, schedulerEvent } from '../../helpers/lambda';
import { emittedMetrics, emittedSum, metricKey } from '../../helpers/metrics-contract';
import { startStalledServer } from '../../helpers/net';
import { captureOutput, leakedSecrets } from '../../helpers/output';
import { randomPrefix, sharedEndpoint, sharedRedis } from '../../helpers/redis';

/** The usage probe as Lambda calls it, on the shared endpoint's two databases. */
describe('usage-probe handler', () => {
  const state = sharedEndpoint('state');
  const cache = sharedEndpoint('cache');
  const VARIABLES = [
    'UPSTASH_DATABASES',
    'UPSTASH_REDIS_REST_URL_STATE',
    'UPSTASH_REDIS_REST_TOKEN_STATE',
    'UPSTASH_REDIS_REST_URL_CACHE',
    'UPSTASH_REDIS_REST_TOKEN_CACHE',
  ];

  /** A fresh container with the two databases, the cache one at `cacheUrl`. */
  async function container(cacheUrl = cache.url): Promise<typeof ProbeModule.handler> {
    delete process.env.FEATURE_DATABASES;
    Object.assign(process.env, {
      UPSTASH_DATABASES: JSON.stringify({ state: {}, cache: {} }),
      UPSTASH_REDIS_REST_URL_STATE: state.url,
      UPSTASH_REDIS_REST_TOKEN_STATE: state.token,
      UPSTASH_REDIS_REST_URL_CACHE: cacheUrl,
      UPSTASH_REDIS_REST_TOKEN_CACHE: cache.token,
      POWERTOOLS_METRICS_NAMESPACE: 'ProbeTest',
    });
    vi.resetModules();
    await (await import('../../../lambda/shared/runtime')).resetRuntimeForTests();
    return (await import('../../../lambda/handlers/usage-probe')).handler;
  }

  beforeEach(async () => {
    // Each database holds a key of this test's own, so neither is empty.
    await sharedRedis('state').set(`${randomPrefix()}:k`, '1', { px: 60_000 });
    await sharedRedis('cache').set(`${randomPrefix()}:k`, '1', { px: 60_000 });
  });
  afterAll(() => {
    for (const name of VARIABLES) delete process.env[name];
  });

  it('publishes keys and data size per database, under exactly the dimensions the alarms read', async () => {
    const handler = await container();
    const output = captureOutput();
    let result: Awaited<ReturnType<typeof handler>>;
    try {
      result = await handler(schedulerEvent('usage-probe'), lambdaContext({ functionName: 'usage-probe' }));
    } finally {
      output.restore();
    }

    expect(result.map((r) => r.database)).toEqual(['state', 'cache']);
    for (const probe of result) {
      expect(probe).toMatchObject({
        ok: true,
        keys: expect.any(Number),
        usedMemoryBytes: expect.any(Number),
      });
      expect((probe as { keys: number }).keys).toBeGreaterThanOrEqual(1);
    }
    const keys = emittedMetrics(output.text()).map(metricKey);
    for (const database of ['state', 'cache']) {
      expect(keys).toContain(`ProbeTest UpstashKeys {database=${database}, service=usage-probe}`);
      expect(keys).toContain(`ProbeTest UpstashDataBytes {database=${database}, service=usage-probe}`);
      // Its own cost: DBSIZE and INFO, two commands per database.
      expect(emittedSum(output.text(), 'UpstashBilledCommands', { database, service: 'usage-probe' })).toBe(
        2,
      );
    }
    expect(leakedSecrets([state.token, cache.token], output.text())).toEqual([]);
  });

  it('publishes the databases it reached and then fails for the one it did not', async () => {
    const closed = await startStalledServer();
    await closed.close();
    const handler = await container(closed.url);
    const output = captureOutput();
    let error: unknown;
    try {
      await handler(schedulerEvent('usage-probe'), lambdaContext({ functionName: 'usage-probe' }));
    } catch (e) {
      error = e;
    } finally {
      output.restore();
    }

    expect((error as Error).message).toBe('usage probe failed for database(s) cache');
    const keys = emittedMetrics(output.text()).map(metricKey);
    expect(keys).toContain('ProbeTest UpstashKeys {database=state, service=usage-probe}');
    expect(keys.filter((k) => k.includes('UpstashKeys {database=cache'))).toEqual([]);
    expect(output.text()).toContain('"error":"UPSTASH_UNAVAILABLE"');
  });
});
