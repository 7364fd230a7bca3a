import { describe, expect, it } from 'vitest';
import { credentialsFromEnv, parseSecret } from '../../../../lambda/shared/credentials';
import { ConfigurationError, CredentialsError } from '../../../../lambda/shared/errors';

const ID = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:upstash/state-AbCdEf';
const TOKEN = 'AXyzSecretTokenValue0123456789';

const parseError = (text: string | undefined, mode: 'rest' | 'tcp' = 'rest'): CredentialsError => {
  try {
    parseSecret(ID, mode, text);
  } catch (error) {
    expect(error).toBeInstanceOf(CredentialsError);
    return error as CredentialsError;
  }
  throw new Error('expected a CredentialsError');
};

describe('parseSecret', () => {
  it.each([
    ['url/token', { url: 'https://eu1.upstash.io', token: TOKEN }],
    [
      'UPSTASH_REDIS_REST_*',
      { UPSTASH_REDIS_REST_URL: 'https://eu1.upstash.io', UPSTASH_REDIS_REST_TOKEN: TOKEN },
    ],
    ['rest_url/rest_token', { rest_url: 'https://eu1.upstash.io', rest_token: TOKEN }],
  ])('accepts the %s spelling', (_spelling, secret) => {
    expect(parseSecret(ID, 'rest', JSON.stringify(secret))).toEqual({
      mode: 'rest',
      url: 'https://eu1.upstash.io',
      token: TOKEN,
    });
  });

  it('names the secret and the missing field, never the value', () => {
    const error = parseError(JSON.stringify({ url: 'https://eu1.upstash.io', tokne: TOKEN }));

    expect(error.message).toBe(`secret "${ID}" is missing field "token"`);
    expect(JSON.stringify(error)).not.toContain(TOKEN);
  });

  it('reports the missing half of the other spellings', () => {
    expect(parseError(JSON.stringify({ UPSTASH_REDIS_REST_TOKEN: TOKEN })).message).toBe(
      `secret "${ID}" is missing field "UPSTASH_REDIS_REST_URL"`,
    );
    expect(parseError(JSON.stringify({ other: TOKEN })).message).toContain(
      'is missing fields "url" and "token"',
    );
  });

  it('does not quote the text when it is not JSON', () => {
    const error = parseError(`token=${TOKEN}`);

    expect(error.message).toBe(`secret "${ID}" is not valid JSON; expected an object like {"url","token"}`);
    expect(error.cause).toBeUndefined();
  });

  it('rejects empty secrets, non-objects, bad URLs and empty tokens', () => {
    expect(parseError(undefined).message).toContain('has no SecretString');
    expect(parseError(`"${TOKEN}"`).message).toContain('must hold a JSON object');
    expect(parseError(JSON.stringify({ url: 'eu1.upstash.io', token: TOKEN })).message).toBe(
      `secret "${ID}": field "url" must be an https:// URL`,
    );
    expect(parseError(JSON.stringify({ url: 'https://a', token: ' ' })).message).toContain(
      '"token" must be a non-empty',
    );
  });

  it('reads a redis:// or rediss:// URL for tcp databases, without quoting it', () => {
    expect(parseSecret(ID, 'tcp', '{"redisUrl":"rediss://default:pw@x.upstash.io:6379"}')).toEqual({
      mode: 'tcp',
      url: 'rediss://default:pw@x.upstash.io:6379',
    });
    expect(parseSecret(ID, 'tcp', '{"url":"redis://127.0.0.1:6379"}').url).toBe('redis://127.0.0.1:6379');
    expect(parseError('{"url":"https://pw@x"}', 'tcp').message).toBe(
      `secret "${ID}": field "url" must be a redis:// or rediss:// URL`,
    );
    expect(parseError('{"token":"x"}', 'tcp').message).toContain('missing field "redisUrl"');
  });
});

describe('credentialsFromEnv', () => {
  const state = { name: 'state', mode: 'rest' as const };

  it('prefers the per-database variables over the standard ones', () => {
    const env = {
      UPSTASH_REDIS_REST_URL: 'http://standard',
      UPSTASH_REDIS_REST_TOKEN: 'standard-token',
      UPSTASH_REDIS_REST_URL_STATE: 'http://state',
      UPSTASH_REDIS_REST_TOKEN_STATE: 'state-token',
    };

    expect(credentialsFromEnv(state, env)).toEqual({
      mode: 'rest',
      url: 'http://state',
      token: 'state-token',
    });
    expect(credentialsFromEnv({ name: 'cache', mode: 'rest' }, env)).toEqual({
      mode: 'rest',
      url: 'http://standard',
      token: 'standard-token',
    });
  });

  it('upper-cases the database name and turns dashes into underscores', () => {
    const env = {
      UPSTASH_REDIS_REST_URL_RATE_LIMITS: 'http://rl',
      UPSTASH_REDIS_REST_TOKEN_RATE_LIMITS: 't',
    };

    expect(credentialsFromEnv({ name: 'rate-limits', mode: 'rest' }, env).url).toBe('http://rl');
  });

  it('names the variables it needs when they are missing, never a token', () => {
    const error = (() => {
      try {
        credentialsFromEnv(state, {
          UPSTASH_REDIS_REST_URL: 'http://a',
          UPSTASH_REDIS_REST_TOKEN_CACHE: TOKEN,
        });
      } catch (e) {
        return e as Error;
      }
    })();

    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error?.message).toBe(
      'database "state" has no secretArn in UPSTASH_DATABASES, so it needs UPSTASH_REDIS_REST_TOKEN_STATE or UPSTASH_REDIS_REST_TOKEN',
    );
  });

  it('reads REDIS_URL_<DB> then REDIS_URL for tcp databases', () => {
    const tcp = { name: 'state', mode: 'tcp' as const };

    expect(credentialsFromEnv(tcp, { REDIS_URL: 'redis://a:1', REDIS_URL_STATE: 'redis://b:2' }).url).toBe(
      'redis://b:2',
    );
    expect(credentialsFromEnv(tcp, { REDIS_URL: 'redis://a:1' }).url).toBe('redis://a:1');
    expect(() => credentialsFromEnv(tcp, { REDIS_URL: 'http://:pw@a' })).toThrow(
      'REDIS_URL must be a redis:// or rediss:// URL',
    );
  });
});
