import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { CacheService } from '../../../lambda/services/cache/cache-service';
import { RateLimiter } from '../../../lambda/services/rate-limit/rate-limiter';
import { SessionService } from '../../../lambda/services/sessions/session-service';
import { DEFAULTS, RuntimeConfigSchema } from '../../../lambda/shared/config';
import { PayloadTooLargeError } from '../../../lambda/shared/errors';
import { KeyBuilder } from '../../../lambda/shared/keys';
import { parseConfig, runtimeConfig } from '../../../lib/config';
import { randomPrefix, sharedRedis } from '../../helpers/redis';

/**
 * One table of defaults: a deployment that sets nothing, a function without APP_CONFIG and a
 * service built with no options behave alike (the library used to default to a closed rate-limit
 * outage and no cache fallback where the deployment had `local` and a fallback).
 */
describe('DEFAULTS', () => {
  const deployed = runtimeConfig(parseConfig({ databases: { main: {} } }));

  it('is what a deployment that sets nothing hands its functions, and what a function without APP_CONFIG reads', () => {
    expect(deployed).toEqual(v.parse(RuntimeConfigSchema, {}));
    expect(deployed.cache).toEqual(DEFAULTS.cache);
    expect(deployed.sessions).toEqual(DEFAULTS.sessions);
    expect(deployed.api.maxBodyBytes).toBe(DEFAULTS.api.maxBodyBytes);
    expect(deployed.rateLimits.api?.outage).toBe(DEFAULTS.rateLimit.outage);
    expect(deployed.auth).toEqual({
      type: 'api-key',
      revocationDelayMs: DEFAULTS.auth.revocationDelayMs,
      cacheTtlMs: DEFAULTS.auth.cacheTtlMs,
      keySetMaxAgeMs: DEFAULTS.auth.keySetMaxAgeMs,
    });
  });

  it('is what the services do when given no options', async () => {
    const redis = sharedRedis();
    const keys = new KeyBuilder(randomPrefix());

    const limiter = new RateLimiter({
      redis,
      keys,
      name: 'api',
      algorithm: 'sliding-window',
      limit: 1,
      windowMs: 1_000,
    });
    expect(limiter.outage).toBe(deployed.rateLimits.api?.outage);

    const cache = new CacheService({ redis, keys });
    // A JSON string of n characters is n + 2 bytes.
    const largest = 'x'.repeat(deployed.cache.maxValueBytes - 2);
    expect(await cache.set('acme', 'largest', largest)).toBe(true);
    await expect(cache.set('acme', 'larger', `${largest}x`)).rejects.toThrow(PayloadTooLargeError);
    expect(await cache.ttl('acme', 'largest')).toBeGreaterThan(deployed.cache.defaultTtlMs - 60_000);
    expect(await cache.ttl('acme', 'largest')).toBeLessThanOrEqual(deployed.cache.defaultTtlMs);

    const sessions = new SessionService({ redis, keys });
    const session = await sessions.create('acme', 'u1');
    expect(session.expiresAt - session.createdAt).toBe(deployed.sessions.absoluteTtlMs);
  });
});
