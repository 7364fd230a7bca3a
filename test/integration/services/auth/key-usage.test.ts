import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyUsage } from '../../../../lambda/services/auth/key-usage';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import type { UpstashRedisClient } from '../../../../lambda/shared/redis';
import type { UpstashEndpoint } from '../../../../local/upstash/server';
import { faultyRedis } from '../../../helpers/fault-redis';
import { privateEndpoint, randomPrefix } from '../../../helpers/redis';

describe('ApiKeyUsage (last-used days)', () => {
  let endpoint: UpstashEndpoint;
  let redis: UpstashRedisClient;
  beforeAll(async () => {
    ({ endpoint, redis } = await privateEndpoint('key-usage'));
  });
  afterAll(() => endpoint.close());

  it('writes a key’s day once per day per container, and never moves a day back', async () => {
    const keys = new KeyBuilder(randomPrefix());
    let clock = Date.parse('2026-11-24T10:00:00Z');
    const a = new ApiKeyUsage({ redis, keys, now: () => clock });
    const b = new ApiKeyUsage({ redis, keys, now: () => clock - 86_400_000 });
    await new ApiKeyUsage({ redis, keys }).touch('k_warm'); // loads the script
    endpoint.resetStats();
    await a.touch('k_1');
    expect(a.touch('k_1')).toBeNull();
    expect(endpoint.stats().requests).toBe(1);
    clock += 86_400_000;
    await a.touch('k_1');
    // A container whose clock says yesterday does not move the day back.
    await b.touch('k_1');
    await b.touch('k_2');
    const days = await a.lastUsed();
    expect(days.get('k_1')).toBe('2026-11-25');
    expect(days.get('k_2')).toBe('2026-11-24');
  });

  it('tries again on the next request when a write was lost, and never throws', async () => {
    const faulty = faultyRedis(redis);
    const usage = new ApiKeyUsage({ redis: faulty, keys: new KeyBuilder(randomPrefix()) });
    faulty.mode = 'down';
    await expect(usage.touch('k_1')).resolves.toBeUndefined();
    faulty.mode = 'up';
    const retried = usage.touch('k_1');
    expect(retried).not.toBeNull();
    await retried;
    expect((await usage.lastUsed()).has('k_1')).toBe(true);
  });
});
