import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { DEFAULTS, FEATURES } from '../../../lambda/shared/config';
import { CredentialsError } from '../../../lambda/shared/errors';
import {
  appConfig,
  databaseFor,
  healthCheck,
  keyBuilder,
  redisFor,
  resetRuntimeForTests,
} from '../../../lambda/shared/runtime';
import { runScript } from '../../../lambda/shared/scripts';
import type { SecretsManagerEndpoint } from '../../../local/secrets-manager/server';
import { UpstashEndpoint } from '../../../local/upstash/server';
import { type CapturedOutput, captureOutput, leakedSecrets } from '../../helpers/output';
import { randomPrefix } from '../../helpers/redis';
import { startLocalSecretsManager } from '../../helpers/secrets-manager';

const newToken = () => `tok-${randomBytes(12).toString('hex')}`;

describe('runtime', () => {
  let secrets: SecretsManagerEndpoint;
  let upstash: UpstashEndpoint;
  let token: string;
  let stateArn: string;
  let output: CapturedOutput;
  /** Every token and secret value a test handled: none may appear in any output or error. */
  const sensitive: string[] = [];
  const errors: unknown[] = [];
  const prefix = randomPrefix();

  beforeAll(async () => {
    token = newToken();
    sensitive.push(token);
    secrets = await startLocalSecretsManager();
    upstash = await UpstashEndpoint.start({ databases: [{ token, redisUrl: inject('redisUrl') }] });
    stateArn = secrets.arn(secrets.create('upstash/state', JSON.stringify({ url: upstash.url, token })));
  });
  afterAll(async () => {
    await resetRuntimeForTests();
    await upstash.close();
    await secrets.close();
  });
  beforeEach(async () => {
    await resetRuntimeForTests();
    process.env.UPSTASH_DATABASES = JSON.stringify({ state: { secretArn: stateArn } });
    process.env.KEY_PREFIX = prefix;
    delete process.env.FEATURE_DATABASES;
    delete process.env.APP_CONFIG;
    secrets.resetCounts();
    output = captureOutput();
  });
  afterEach(() => {
    output.restore();
    expect(leakedSecrets(sensitive, output.text(), ...errors)).toEqual([]);
    errors.length = 0;
  });

  describe('redisFor', () => {
    it('fetches the secret once at cold start and never on 100 warm calls', async () => {
      const key = keyBuilder().key('cache', 'acme', 'warm');
      await (await redisFor('cache')).set(key, 'v');

      for (let i = 0; i < 100; i++) {
        expect(await (await redisFor('sessions')).get(key)).toBe('v');
      }

      expect(secrets.fetches('upstash/state')).toBe(1);
    });

    it('shares one fetch among 20 concurrent cold calls', async () => {
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, i) => redisFor(FEATURES[i % 5] ?? 'cache').then((r) => r.ping())),
      );

      expect(replies).toEqual(Array(20).fill('PONG'));
      expect(secrets.fetches('upstash/state')).toBe(1);
    });

    it('returns the same client for features on the same database', async () => {
      const [a, b] = await Promise.all([redisFor('cache'), redisFor('queue')]);

      expect(a).toBe(b);
      expect(a.kind).toBe('upstash');
      expect(databaseFor('locks')).toBe('state');
    });

    it('does not cache a failed fetch: the next call fetches again', async () => {
      process.env.UPSTASH_DATABASES = JSON.stringify({ state: { secretArn: 'upstash/later' } });

      const first = await redisFor('cache').catch((e) => e);
      errors.push(first);
      secrets.create('upstash/later', JSON.stringify({ url: upstash.url, token }));
      const second = await redisFor('cache');

      expect(first).toBeInstanceOf(CredentialsError);
      expect(await second.ping()).toBe('PONG');
      expect(secrets.fetches('upstash/later')).toBe(1);
      expect(secrets.totalFetches).toBe(2);
    });

    it('names the secret when it does not exist', async () => {
      const arn = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:upstash/missing-AbCdEf';
      process.env.UPSTASH_DATABASES = JSON.stringify({ state: { secretArn: arn } });

      const error = await redisFor('locks').catch((e) => e);
      errors.push(error);

      expect(error).toBeInstanceOf(CredentialsError);
      expect(error.message).toContain(`secret "${arn}"`);
      expect(error.message).toContain('ResourceNotFoundException');
    });

    it('names the secret and the missing field, never the value', async () => {
      const value = `sk-${randomBytes(8).toString('hex')}`;
      sensitive.push(value);
      secrets.create('upstash/no-token', JSON.stringify({ url: upstash.url, tokn: value }));
      process.env.UPSTASH_DATABASES = JSON.stringify({ state: { secretArn: 'upstash/no-token' } });

      const error = await redisFor('queue').catch((e) => e);
      errors.push(error);

      expect(error).toBeInstanceOf(CredentialsError);
      expect(error.message).toBe('secret "upstash/no-token" is missing field "token"');
    });
  });

  describe('token rotation', () => {
    it('survives a rotated token with exactly one extra fetch and no error', async () => {
      const redis = await redisFor('sessions');
      const key = keyBuilder().key('session', 'acme', 'rotate');
      await redis.set(key, 'before');
      const rotated = newToken();
      sensitive.push(rotated);

      secrets.put('upstash/state', JSON.stringify({ url: upstash.url, token: rotated }));
      upstash.rotateToken(token, rotated);
      // A burst right after rotation: the whole auto-pipelined batch gets 401, one refresh serves all.
      const replies = await Promise.all([redis.get(key), redis.set(key, 'after'), redis.exists([key])]);

      expect(replies).toEqual(['before', true, 1]);
      expect(await redis.get(key)).toBe('after');
      expect(secrets.fetches('upstash/state')).toBe(2);
      // Put the endpoint back for the other tests.
      secrets.put('upstash/state', JSON.stringify({ url: upstash.url, token }));
      upstash.rotateToken(rotated, token);
    });

    it('retries a script once after rotation, and it applies exactly once', async () => {
      const { defineScript } = await import('../../../lambda/shared/scripts');
      const incr = defineScript('incr', "return redis.call('INCR', KEYS[1])");
      const redis = await redisFor('rateLimit');
      const key = keyBuilder().key('ratelimit', 'acme', 'script');
      await runScript(redis, incr, [key], []);
      const rotated = newToken();
      sensitive.push(rotated);

      secrets.put('upstash/state', JSON.stringify({ url: upstash.url, token: rotated }));
      upstash.rotateToken(token, rotated);
      const counter = await runScript(redis, incr, [key], []);

      expect(counter).toBe(2);
      secrets.put('upstash/state', JSON.stringify({ url: upstash.url, token }));
      upstash.rotateToken(rotated, token);
    });

    it('re-fetches at most once per refresh interval, then reports the rejection', async () => {
      const redis = await redisFor('cache');
      const first = newToken();
      const second = newToken();
      sensitive.push(first, second);
      secrets.put('upstash/state', JSON.stringify({ url: upstash.url, token: first }));
      upstash.rotateToken(token, first);
      await redis.ping();

      // A second rotation inside the 30 s window: no new fetch, a typed error naming the secret.
      secrets.put('upstash/state', JSON.stringify({ url: upstash.url, token: second }));
      upstash.rotateToken(first, second);
      const error = await redis.ping().catch((e) => e);
      errors.push(error);

      expect(error).toBeInstanceOf(CredentialsError);
      expect(error.message).toContain(`secret "${stateArn}"`);
      expect(secrets.fetches('upstash/state')).toBe(2);
      secrets.put('upstash/state', JSON.stringify({ url: upstash.url, token }));
      upstash.rotateToken(second, token);
    });

    it('re-fetches again once the interval has passed', async () => {
      await resetRuntimeForTests({ refreshIntervalMs: 0 });
      const redis = await redisFor('cache');
      let current = token;
      for (let i = 0; i < 2; i++) {
        const rotated = newToken();
        sensitive.push(rotated);
        secrets.put('upstash/state', JSON.stringify({ url: upstash.url, token: rotated }));
        upstash.rotateToken(current, rotated);
        current = rotated;

        expect(await redis.ping()).toBe('PONG');
      }

      expect(secrets.fetches('upstash/state')).toBe(3);
      secrets.put('upstash/state', JSON.stringify({ url: upstash.url, token }));
      upstash.rotateToken(current, token);
    });
  });

  describe('local use', () => {
    it('uses UPSTASH_REDIS_REST_URL/TOKEN without a secret and fetches nothing', async () => {
      delete process.env.UPSTASH_DATABASES;
      process.env.UPSTASH_REDIS_REST_URL = upstash.url;
      process.env.UPSTASH_REDIS_REST_TOKEN = token;
      try {
        expect(await (await redisFor('cache')).ping()).toBe('PONG');
        expect(databaseFor('cache')).toBe('default');
        expect(secrets.totalFetches).toBe(0);
      } finally {
        delete process.env.UPSTASH_REDIS_REST_URL;
        delete process.env.UPSTASH_REDIS_REST_TOKEN;
      }
    });

    it('connects a tcp database from its secret with kind "redis"', async () => {
      secrets.create('redis/tcp', JSON.stringify({ redisUrl: inject('redisUrl') }));
      process.env.UPSTASH_DATABASES = JSON.stringify({ state: { secretArn: 'redis/tcp', mode: 'tcp' } });

      const redis = await redisFor('locks');

      expect(redis.kind).toBe('redis');
      expect(await redis.ping()).toBe('PONG');
    });
  });

  describe('appConfig and keyBuilder', () => {
    it('validates APP_CONFIG once, fills in the defaults, and builds keys under KEY_PREFIX', () => {
      process.env.APP_CONFIG = '{"cache":{"maxValueBytes":1024}}';

      expect(appConfig().cache).toEqual({ ...DEFAULTS.cache, maxValueBytes: 1024 });
      expect(appConfig().sessions).toEqual(DEFAULTS.sessions);
      expect(appConfig()).toBe(appConfig());
      expect(keyBuilder().key('cache', 'acme', 'x')).toBe(`${prefix}:cache:acme:x`);
    });
  });

  describe('healthCheck', () => {
    it('reports each database with its latency, or the error code', async () => {
      process.env.UPSTASH_DATABASES = JSON.stringify({
        state: { secretArn: stateArn },
        cache: { secretArn: 'upstash/absent' },
      });

      const health = await healthCheck();

      expect(health).toHaveLength(2);
      expect(health[0]).toMatchObject({ database: 'state', ok: true });
      expect(health[0]?.latencyMs).toBeGreaterThan(0);
      expect(health[1]).toEqual({
        database: 'cache',
        ok: false,
        latencyMs: null,
        error: 'CREDENTIALS_ERROR',
      });
    });
  });
});
