import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatsService } from '../../../../lambda/services/stats/stats-service';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import type { UpstashRedisClient } from '../../../../lambda/shared/redis';
import type { UpstashEndpoint } from '../../../../local/upstash/server';
import { privateEndpoint, randomPrefix } from '../../../helpers/redis';

describe('StatsService', () => {
  let endpoint: UpstashEndpoint;
  let redis: UpstashRedisClient;
  let token: string;

  beforeAll(async () => {
    ({ endpoint, redis, token } = await privateEndpoint(`stats-${randomPrefix()}`));
  });
  afterAll(async () => {
    await endpoint.close();
  });

  it('counts reads in the container and adds them to Redis at most once per interval, in one command', async () => {
    let now = 1_000_000;
    const keys = new KeyBuilder(randomPrefix());
    const stats = new StatsService({ redis, keys, flushIntervalMs: 10_000, now: () => now });
    // Load the script on the server first (the first call pays NOSCRIPT + EVAL).
    stats.record('warm-up', true);
    now += 10_000;
    await stats.flush();
    stats.record('acme', true);
    stats.record('acme', true);
    stats.record('acme', false);

    endpoint.resetStats();
    now += 9_999;
    await stats.flush();
    expect(endpoint.stats(token).commands).toBe(0); // inside the interval: nothing sent

    now += 1;
    await stats.flush();
    expect(endpoint.stats(token)).toMatchObject({ requests: 1, commands: 1 });

    // Another container sees the totals; this one adds what it has not flushed yet.
    const other = new StatsService({ redis, keys });
    expect(await other.cacheTotals('acme')).toEqual({ hits: 2, misses: 1, hitRate: 2 / 3 });
    stats.record('acme', false);
    expect(await stats.cacheTotals('acme')).toEqual({ hits: 2, misses: 2, hitRate: 0.5 });
    expect(await other.cacheTotals('globex')).toEqual({ hits: 0, misses: 0, hitRate: null });
  });

  it('keeps the counts of a failed flush for the next one', async () => {
    let now = 0;
    const keys = new KeyBuilder(randomPrefix());
    // The same client, but its scripts fail until `down` is cleared (an Upstash outage).
    let down = true;
    const flaky = Object.create(redis) as UpstashRedisClient;
    flaky.evalsha = (...args) => (down ? Promise.reject(new Error('unavailable')) : redis.evalsha(...args));
    const stats = new StatsService({ redis: flaky, keys, flushIntervalMs: 10, now: () => now });
    stats.record('acme', true);
    now += 10;
    await expect(stats.flush()).resolves.toBeUndefined();
    const other = new StatsService({ redis, keys });
    expect(await other.cacheTotals('acme')).toMatchObject({ hits: 0 });

    down = false;
    now += 10;
    await stats.flush();
    expect(await other.cacheTotals('acme')).toMatchObject({ hits: 1, misses: 0 });
  });
});
