import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type * as AuthorizerModule from '../../../lambda/handlers/authorizer';
import { mintApiKey, parseApiKeySet, serializeApiKeySet } from '../../../lambda/shared/api-keys';
import type { SecretsManagerEndpoint } from '../../../local/secrets-manager/server';
import { lambdaContext } from '../../helpers/lambda';
import { logLines } from '../../helpers/logs';
import { type CapturedOutput, captureOutput, leakedSecrets } from '../../helpers/output';
import { startLocalSecretsManager } from '../../helpers/secrets-manager';

/** The event API Gateway sends a payload 2.0 Lambda authorizer for `x-api-key: key`. */
const authEvent = (key?: string): APIGatewayRequestAuthorizerEventV2 =>
  ({
    version: '2.0',
    type: 'REQUEST',
    routeArn: 'arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/cache/a',
    identitySource: key === undefined ? [] : [key],
    routeKey: 'GET /cache/{key}',
    rawPath: '/cache/a',
    rawQueryString: '',
    headers: key === undefined ? {} : { 'x-api-key': key },
    requestContext: { http: { method: 'GET', path: '/cache/a' } },
  }) as unknown as APIGatewayRequestAuthorizerEventV2;

describe('authorizer handler', () => {
  let sm: SecretsManagerEndpoint;
  let auth: typeof AuthorizerModule;
  let output: CapturedOutput;
  const acme = mintApiKey('acme', ['cache:read']);
  const globex = mintApiKey('globex');
  const expiring = mintApiKey('initech', ['*'], new Date(), {
    label: 'a contractor',
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  // Expired: minted with an expiry, then the time passed (as the secret would hold it).
  const minted = mintApiKey('initech', ['*'], new Date(), { expiresAt: new Date(Date.now() + 1_000) });
  const expired = {
    ...minted,
    record: { ...minted.record, expiresAt: new Date(Date.now() - 1_000).toISOString() },
  };
  const secretName = 'upstash/api-keys';

  beforeAll(async () => {
    sm = await startLocalSecretsManager({
      [secretName]: serializeApiKeySet({
        keys: [acme.record, globex.record, expiring.record, expired.record],
      }),
    });
    process.env.API_KEYS_SECRET_ARN = sm.arn(secretName);
    vi.resetModules();
    auth = await import('../../../lambda/handlers/authorizer');
  });
  afterAll(async () => {
    await sm.close();
  });
  beforeEach(() => {
    process.env.API_KEYS_SECRET_ARN = sm.arn(secretName);
    auth.resetAuthorizerForTests();
    sm.resetCounts();
    output = captureOutput();
  });
  afterEach(() => output.restore());

  it('lets a known key through with its tenant, scopes and id as context', async () => {
    const result = await auth.handler(authEvent(acme.key), lambdaContext({ functionName: 'authorizer' }));
    expect(result).toEqual({
      isAuthorized: true,
      context: { tenant: 'acme', scopes: 'cache:read', keyId: acme.record.id },
    });
    expect((await auth.handler(authEvent(globex.key))).context?.tenant).toBe('globex');
  });

  it("passes a key's expiry in its context (the api function enforces it) and denies an expired key", async () => {
    expect(await auth.handler(authEvent(expiring.key))).toEqual({
      isAuthorized: true,
      context: {
        tenant: 'initech',
        scopes: '*',
        keyId: expiring.record.id,
        expiresAt: Date.parse(expiring.record.expiresAt as string),
      },
    });
    expect(await auth.handler(authEvent(expired.key))).toEqual({ isAuthorized: false });
    expect(leakedSecrets([expired.key, expiring.key], output.text())).toEqual([]);
  });

  it('denies a missing, empty, wrong or truncated key, and never logs it', async () => {
    for (const key of [
      undefined,
      '',
      `${acme.key}x`,
      acme.key.slice(0, -1),
      acme.record.hash,
      'x'.repeat(5000),
    ]) {
      expect(await auth.handler(authEvent(key))).toEqual({ isAuthorized: false });
    }
    expect(leakedSecrets([acme.key, acme.key.slice(0, -1), acme.record.hash], output.text())).toEqual([]);
  });

  it('reads the secret once per cold start, for any number of concurrent and later calls', async () => {
    await Promise.all(Array.from({ length: 20 }, () => auth.handler(authEvent(acme.key))));
    for (let i = 0; i < 20; i++) await auth.handler(authEvent(globex.key));
    expect(sm.fetches(secretName)).toBe(1);
  });

  it('accepts a key minted after the cold start, re-reading at most once per interval', async () => {
    expect((await auth.handler(authEvent(acme.key))).isAuthorized).toBe(true);
    const late = mintApiKey('initech');
    const set = parseApiKeySet(serializeApiKeySet({ keys: [acme.record, globex.record, late.record] }));
    sm.put(secretName, serializeApiKeySet(set));

    // Within the refresh interval of the cold-start read, an unknown key does not re-read.
    expect((await auth.handler(authEvent(late.key))).isAuthorized).toBe(false);
    expect(sm.fetches(secretName)).toBe(1);

    vi.useFakeTimers({ now: Date.now() + 1_100, toFake: ['Date'] });
    try {
      expect((await auth.handler(authEvent(late.key))).isAuthorized).toBe(true);
      // A flood of wrong keys right after costs no more reads.
      for (let i = 0; i < 50; i++) await auth.handler(authEvent(`usk_wrong${i}`));
      expect(sm.fetches(secretName)).toBe(2);
    } finally {
      vi.useRealTimers();
      sm.put(secretName, serializeApiKeySet({ keys: [acme.record, globex.record] }));
    }
  });

  it('logs a failure to read the key set at ERROR and throws (never a cached denial), never the key', async () => {
    sm.put(secretName, '{"keys": not json');
    try {
      await expect(auth.handler(authEvent(acme.key))).rejects.toThrow(/not JSON/);
    } finally {
      sm.put(secretName, serializeApiKeySet({ keys: [acme.record, globex.record] }));
    }
    const failed = logLines(output, 'authorizer failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      level: 'ERROR',
      code: 'VALIDATION_ERROR',
      routeKey: 'GET /cache/{key}',
    });
    expect(leakedSecrets([acme.key, acme.record.hash], output.text())).toEqual([]);
  });

  it('stops accepting a revoked key once its key set is API_KEYS_MAX_AGE_MS old', async () => {
    process.env.API_KEYS_MAX_AGE_MS = '60000';
    auth.resetAuthorizerForTests();
    try {
      expect((await auth.handler(authEvent(acme.key))).isAuthorized).toBe(true);
      sm.put(secretName, serializeApiKeySet({ keys: [globex.record] })); // acme revoked
      const start = Date.now();
      vi.useFakeTimers({ now: start + 59_000, toFake: ['Date'] });
      expect((await auth.handler(authEvent(acme.key))).isAuthorized).toBe(true); // still the cached set
      vi.setSystemTime(start + 60_500);
      expect((await auth.handler(authEvent(acme.key))).isAuthorized).toBe(false);
      expect(sm.fetches(secretName)).toBe(2);
    } finally {
      vi.useRealTimers();
      delete process.env.API_KEYS_MAX_AGE_MS;
      sm.put(secretName, serializeApiKeySet({ keys: [acme.record, globex.record] }));
    }
  });

  it('denies everything while the secret has no value yet (a new deployment)', async () => {
    process.env.API_KEYS_SECRET_ARN = 'upstash/never-filled';
    auth.resetAuthorizerForTests();
    expect(await auth.handler(authEvent(acme.key))).toEqual({ isAuthorized: false });
  });
});
