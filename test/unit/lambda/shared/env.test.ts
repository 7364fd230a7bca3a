import { describe, expect, it } from 'vitest';
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
      expect(env.appConfig).toEqual({});
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

    it('passes APP_CONFIG through as a parsed object', () => {
      expect(readRuntimeEnv({ APP_CONFIG: '{"sessions":{"maxPerUser":20}}' }).appConfig).toEqual({
        sessions: { maxPerUser: 20 },
      });
    });
  });

  describe('errors', () => {
    it('names UPSTASH_DATABASES and the bad value when it is not JSON', () => {
      expect(failure({ UPSTASH_DATABASES: '{state:' }).message).toBe(
        'UPSTASH_DATABASES must be JSON, got "{state:"',
      );
    });

    it('rejects an empty or non-object UPSTASH_DATABASES', () => {
      expect(failure({ UPSTASH_DATABASES: '[]' }).message).toContain(
        'UPSTASH_DATABASES must be a non-empty JSON object',
      );
      expect(failure({ UPSTASH_DATABASES: '{}' }).message).toContain('got "{}"');
    });

    it('rejects a bad mode, naming the database', () => {
      expect(failure({ UPSTASH_DATABASES: '{"state":{"secretArn":"a","mode":"http"}}' }).message).toBe(
        'UPSTASH_DATABASES.state.mode must be "rest" or "tcp", got "\\"http\\""',
      );
    });

    it('rejects an empty secretArn and a bad database name', () => {
      expect(failure({ UPSTASH_DATABASES: '{"state":{"secretArn":""}}' }).message).toContain(
        'UPSTASH_DATABASES.state.secretArn must be a non-empty string',
      );
      expect(failure({ UPSTASH_DATABASES: '{"my db":{}}' }).message).toContain('got "my db"');
    });

    it('rejects an unknown feature and a database that does not exist', () => {
      expect(failure({ FEATURE_DATABASES: '{"cache":"c","search":"c"}' }).message).toBe(
        'FEATURE_DATABASES: unknown feature "search"; known: cache, sessions, rateLimit, locks, queue',
      );
      expect(
        failure({ UPSTASH_DATABASES: '{"state":{"secretArn":"a"}}', FEATURE_DATABASES: '{"cache":"cache"}' })
          .message,
      ).toBe(
        'FEATURE_DATABASES.cache names database "cache", which UPSTASH_DATABASES does not define (defined: state)',
      );
    });

    it('asks for FEATURE_DATABASES when several databases leave a feature unassigned', () => {
      expect(failure({ UPSTASH_DATABASES: '{"a":{"secretArn":"x"},"b":{"secretArn":"y"}}' }).message).toBe(
        'FEATURE_DATABASES must name the database of "cache" when there are several (a, b)',
      );
    });

    it('rejects a bad KEY_PREFIX and a non-object APP_CONFIG', () => {
      expect(failure({ KEY_PREFIX: 'my:app' }).message).toContain('KEY_PREFIX must be 1-32 characters');
      expect(failure({ KEY_PREFIX: 'my:app' }).message).toContain('got "my:app"');
      expect(failure({ APP_CONFIG: '[1,2]' }).message).toBe('APP_CONFIG must be a JSON object, got "[1,2]"');
    });

    it('cuts long bad values short', () => {
      const message = failure({ APP_CONFIG: `"${'x'.repeat(1000)}"` }).message;

      expect(message.length).toBeLessThan(300);
    });
  });
});
