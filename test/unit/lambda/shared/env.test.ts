import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, RuntimeConfigSchema } from '../../../../lambda/shared/config';
import { readRuntimeEnv } from '../../../../lambda/shared/env';
import { ConfigurationError } from '../../../../lambda/shared/errors';

const ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:upstash/state-AbCdEf';

const failure = (env: NodeJS.ProcessEnv): ConfigurationError => {
  try {
    readRuntimeEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
};

describe('readRuntimeEnv', () => {
  describe('defaults', () => {
    it('puts every feature on one implied database with prefix "app" when nothing is set', () => {
      const env = readRuntimeEnv({});

      expect(env.databases).toEqual({ default: { name: 'default', mode: 'rest' } });
      expect(Object.values(env.features)).toEqual(['default', 'default', 'default', 'default', 'default']);
      expect(env.keyPrefix).toBe('app');
      // No APP_CONFIG: the one table of defaults, the same the services and a deployment use.
      expect(env.config).toEqual(v.parse(RuntimeConfigSchema, {}));
      expect(env.config.cache.fallback).toBe(DEFAULTS.cache.fallback);
    });

    it('puts every feature on the single database UPSTASH_DATABASES defines', () => {
      const env = readRuntimeEnv({ UPSTASH_DATABASES: JSON.stringify({ main: { secretArn: ARN } }) });

      expect(env.databases.main).toEqual({ name: 'main', mode: 'rest', secretArn: ARN });
      expect(env.features).toEqual({
        cache: 'main',
        sessions: 'main',
        rateLimit: 'main',
        locks: 'main',
        queue: 'main',
      });
    });

    it('uses the cache/state split when both databases exist and FEATURE_DATABASES is unset', () => {
      const env = readRuntimeEnv({
        UPSTASH_DATABASES: JSON.stringify({
          cache: { secretArn: 'a' },
          state: { secretArn: 'b', mode: 'tcp' },
        }),
      });

      expect(env.features).toEqual({
        cache: 'cache',
        sessions: 'state',
        rateLimit: 'state',
        locks: 'state',
        queue: 'state',
      });
      expect(env.databases.state?.mode).toBe('tcp');
    });

    it('derives local databases from FEATURE_DATABASES without UPSTASH_DATABASES', () => {
      const env = readRuntimeEnv({
        FEATURE_DATABASES:
          '{"cache":"cache","sessions":"state","rateLimit":"state","locks":"state","queue":"state"}',
      });

      expect(Object.keys(env.databases).sort()).toEqual(['cache', 'state']);
      expect(env.databases.cache?.secretArn).toBeUndefined();
    });

    it('validates APP_CONFIG and applies the defaults to what it leaves out', () => {
      const { config } = readRuntimeEnv({ APP_CONFIG: '{"sessions":{"maxPerUser":5}}' });

      expect(config.sessions).toEqual({ ...DEFAULTS.sessions, maxPerUser: 5 });
      expect(config.rateLimits).toEqual({
        api: { ...DEFAULTS.rateLimits.api, refillRate: 100, outage: DEFAULTS.rateLimit.outage },
      });
    });

    it('leaves a feature without a database when FEATURE_DATABASES names others (it fails on use)', () => {
      const env = readRuntimeEnv({
        UPSTASH_DATABASES: JSON.stringify({ 'page-cache': { secretArn: 'a' }, limits: { secretArn: 'b' } }),
        FEATURE_DATABASES: JSON.stringify({ cache: 'page-cache', rateLimit: 'limits' }),
      });

      expect(env.features).toEqual({ cache: 'page-cache', rateLimit: 'limits' });
    });
  });

  describe('errors', () => {
    it('names UPSTASH_DATABASES and the bad value when it is not JSON', () => {
      expect(failure({ UPSTASH_DATABASES: '{state:' }).message).toBe(
        'UPSTASH_DATABASES must be JSON, got "{state:"',
      );
    });

    it('rejects an empty or non-object UPSTASH_DATABASES', () => {
      expect(failure({ UPSTASH_DATABASES: '[]' }).message).toBe(
        'UPSTASH_DATABASES must be a JSON object {"<db>": {"secretArn": "...", "mode": "rest"}}, got Array',
      );
      expect(failure({ UPSTASH_DATABASES: '{}' }).message).toBe(
        'UPSTASH_DATABASES must name at least one database, got {}',
      );
    });

    it('rejects a bad mode, naming the database', () => {
      expect(failure({ UPSTASH_DATABASES: '{"state":{"secretArn":"a","mode":"http"}}' }).message).toBe(
        'UPSTASH_DATABASES.state.mode must be one of rest, tcp, got "http"',
      );
    });

    it('rejects an empty secretArn and a bad database name', () => {
      expect(failure({ UPSTASH_DATABASES: '{"state":{"secretArn":""}}' }).message).toContain(
        'UPSTASH_DATABASES.state.secretArn must be a non-empty string',
      );
      expect(failure({ UPSTASH_DATABASES: '{"my db":{}}' }).message).toContain('got "my db"');
      expect(
        failure({ UPSTASH_DATABASES: '{"state":{"secretArn":"a","mode":"http","region":1}}' }).message,
      ).toBe(
        [
          'UPSTASH_DATABASES.state.mode must be one of rest, tcp, got "http"',
          'UPSTASH_DATABASES.state.region is not a known setting (known: secretArn, mode, migration)',
        ].join('\n'),
      );
    });

    it('rejects an unknown feature and a database that does not exist', () => {
      expect(failure({ FEATURE_DATABASES: '{"cache":"c","search":"c"}' }).message).toBe(
        'FEATURE_DATABASES.search is not a known setting (known: cache, sessions, rateLimit, locks, queue)',
      );
      expect(
        failure({ UPSTASH_DATABASES: '{"state":{"secretArn":"a"}}', FEATURE_DATABASES: '{"cache":"cache"}' })
          .message,
      ).toBe(
        'FEATURE_DATABASES.cache names database "cache", which UPSTASH_DATABASES does not define (defined: state)',
      );
    });

    it('rejects a bad KEY_PREFIX and a non-object APP_CONFIG', () => {
      expect(failure({ KEY_PREFIX: 'my:app' }).message).toBe(
        'KEY_PREFIX must be letters, digits, _ or -, at most 32, got "my:app"',
      );
      expect(failure({ APP_CONFIG: '[1,2]' }).message).toBe('APP_CONFIG must be an object, got Array');
      expect(failure({ APP_CONFIG: '{"cache":{"fallback":"yes"},"sessions":{"idelTtlMs":1}}' }).message).toBe(
        [
          'APP_CONFIG.sessions.idelTtlMs is not a known setting (known: idleTtlMs, absoluteTtlMs, maxPerUser)',
          'APP_CONFIG.cache.fallback must be true or false, got "yes"',
        ].join('\n'),
      );
    });

    it('cuts long bad values short', () => {
      const message = failure({ APP_CONFIG: `"${'x'.repeat(1000)}"` }).message;

      expect(message.length).toBeLessThan(300);
    });
  });
});
