import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CacheService } from '../../../lambda/services/cache/cache-service';
import { RateLimiter } from '../../../lambda/services/rate-limit/rate-limiter';
import { createClient } from '../../../lambda/shared/client';
import { DEFAULTS } from '../../../lambda/shared/config';
import { ConfigurationError, UpstashUnavailableError } from '../../../lambda/shared/errors';
import { KeyBuilder } from '../../../lambda/shared/keys';
import { UpstashEndpoint } from '../../../local/upstash/server';
import { randomPrefix, sharedEndpoint } from '../../helpers/redis';
import { startLocalSecretsManager } from '../../helpers/secrets-manager';

/**
 * What a user of the package gets from the clients they pass to the services: a plain
 * `@upstash/redis` client has the documented outage behaviour (cache fallback, rate-limit outage
 * policy) because the services classify its failures; one that would change stored values is
 * refused; `createClient` builds the runtime's own client from a URL and token or a secret.
 */
describe('clients given to the services', () => {
  describe('a plain @upstash/redis client', () => {
    let endpoint: UpstashEndpoint;
    let plain: Redis;
    const keys = new KeyBuilder(randomPrefix());

    beforeAll(async () => {
      // An endpoint of the test's own over the shared Redis: closing it is the outage.
      const token = 'plain-client-token';
      endpoint = await UpstashEndpoint.start({ databases: [{ token, redisUrl: inject('redisUrl') }] });
      plain = new Redis({ url: endpoint.url, token, automaticDeserialization: false, retry: false });
    });
    afterAll(async () => {
      await endpoint.close().catch(() => {});
    });

    it('gets the cache fallback and the rate-limit outage policies, as documented', async () => {
      // Prepare: a value written while Upstash answers (mirrored into the container's LRU).
      const cache = new CacheService({ redis: plain, keys });
      const closed = new RateLimiter({
        redis: plain,
        keys,
        name: 'closed',
        algorithm: 'fixed-window',
        limit: 5,
        windowMs: 60_000,
        outage: 'closed',
      });
      expect(await cache.set('acme', 'page', { n: 1 })).toBe(true);
      expect((await closed.check('acme', 'u')).reason).toBe('allowed');

      // Act: Upstash becomes unreachable.
      await endpoint.close();

      // Assess: the cache serves its fallback; a failing check throws the typed outage error
      // until the circuit (shared by both services on this client) opens, then the policy decides.
      expect(await cache.get('acme', 'page')).toEqual({ value: { n: 1 }, backend: 'fallback' });
      const failures: unknown[] = [];
      for (let i = 0; i < 3 && cache.backend === 'upstash'; i++) {
        await closed.check('acme', 'u').catch((error: unknown) => failures.push(error));
      }
      expect(failures.every((e) => e instanceof UpstashUnavailableError)).toBe(true);
      expect(cache.backend).toBe('fallback');
      expect(await closed.check('acme', 'u')).toMatchObject({ success: false, reason: 'outage-closed' });
      const open = new RateLimiter({
        redis: plain,
        keys,
        name: 'open',
        algorithm: 'fixed-window',
        limit: 5,
        windowMs: 60_000,
        outage: 'open',
      });
      expect(await open.check('acme', 'u')).toMatchObject({ success: true, reason: 'outage-open' });
    });

    it('is refused, saying why, when it parses replies (the @upstash/redis default)', () => {
      const { url, token } = sharedEndpoint();
      const parsing = new Redis({ url, token });

      expect(() => new CacheService({ redis: parsing, keys })).toThrow(ConfigurationError);
      expect(() => new CacheService({ redis: parsing, keys })).toThrow(/automaticDeserialization: false/);
    });
  });

  describe('createClient', () => {
    it('builds the runtime client from a URL and token: stored text comes back as stored', async () => {
      const redis = await createClient(sharedEndpoint());
      const key = `${randomPrefix()}:text`;

      expect(await redis.set(key, 'null', { px: 60_000 })).toBe(true);
      expect(await redis.get(key)).toBe('null');
      expect(redis.kind).toBe('upstash');
    });

    it('builds a TCP client from a redis:// URL, ioredis loaded on first use', async () => {
      const redis = await createClient({ url: inject('redisUrl'), name: 'tcp' });
      try {
        expect(redis.kind).toBe('redis');
        expect(await redis.ping()).toBe('PONG');
      } finally {
        await redis.close();
      }
    });

    it('builds it from a secret, read once', async () => {
      const secrets = await startLocalSecretsManager({
        'app/cache': JSON.stringify(sharedEndpoint('cache')),
      });
      try {
        const redis = await createClient({ secretId: 'app/cache', name: 'page-cache' });

        expect(await redis.ping()).toBe('PONG');
        expect(secrets.fetches('app/cache')).toBe(1);
      } finally {
        await secrets.close();
      }
    });

    it('refuses a URL it cannot reach a database with, without quoting it', async () => {
      await expect(createClient({ url: 'ftp://user:secret@host' })).rejects.toThrow(ConfigurationError);
      await expect(createClient({ url: 'ftp://user:secret@host' })).rejects.not.toThrow(/secret/);
      await expect(createClient({ url: 'https://db.upstash.io' })).rejects.toThrow(/needs its token/);
    });
  });

  it('has the deployment defaults as the library defaults (one table)', () => {
    const { url, token } = sharedEndpoint();
    const keys = new KeyBuilder(randomPrefix());
    const redis = new Redis({ url, token, automaticDeserialization: false });

    expect(
      new RateLimiter({ redis, keys, name: 'd', algorithm: 'fixed-window', limit: 1, windowMs: 1_000 })
        .outage,
    ).toBe(DEFAULTS.rateLimit.outage);
  });
});
