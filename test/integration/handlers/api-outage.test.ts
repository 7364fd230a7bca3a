import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type * as ApiModule from '../../../lambda/handlers/api';
import { parseConfig, runtimeConfig } from '../../../lib/config';
import type { UpstashEndpoint } from '../../../local/upstash/server';
import { type ApiCall, apiEvent, bodyOf } from '../../helpers/http';
import { lambdaContext } from '../../helpers/lambda';
import { type StalledServer, startStalledServer } from '../../helpers/net';
import { type CapturedOutput, captureOutput, leakedSecrets } from '../../helpers/output';
import { privateEndpoint, randomPrefix } from '../../helpers/redis';

/**
 * The api function while Upstash is unreachable: every answer comes in bounded time, as a 503
 * with a JSON error (or the documented fallback), never a hang and never a token in the output.
 */
describe('api handler during an Upstash outage', () => {
  let endpoint: UpstashEndpoint;
  let token: string;
  let stalled: StalledServer;
  let api: typeof ApiModule;
  let output: CapturedOutput;

  const call = async (c: ApiCall) => {
    const started = performance.now();
    const response = await api.handler(
      apiEvent(c),
      lambdaContext({ functionName: 'api', remainingMs: 10_000 }),
    );
    return {
      status: response.statusCode,
      headers: response.headers,
      body: bodyOf(response),
      ms: performance.now() - started,
    };
  };

  /** A fresh container whose database URL is `url`. */
  async function container(url: string, config: Record<string, unknown>) {
    Object.assign(process.env, {
      UPSTASH_REDIS_REST_URL: url,
      UPSTASH_REDIS_REST_TOKEN: token,
      KEY_PREFIX: randomPrefix(),
      APP_CONFIG: JSON.stringify(
        runtimeConfig(parseConfig({ databases: { main: { secretName: 'm' } }, ...config })),
      ),
    });
    vi.resetModules();
    await (await import('../../../lambda/shared/runtime')).resetRuntimeForTests();
    api = await import('../../../lambda/handlers/api');
  }

  beforeAll(async () => {
    ({ endpoint, token } = await privateEndpoint(`outage-${randomBytes(4).toString('hex')}`));
    stalled = await startStalledServer();
    delete process.env.UPSTASH_DATABASES;
    delete process.env.FEATURE_DATABASES;
    process.env.POWERTOOLS_METRICS_NAMESPACE = 'ApiTest';
  });
  afterAll(async () => {
    await stalled.close();
    await endpoint.close();
  });
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => output.restore());

  it('answers 503 with Retry-After within about a second when Upstash stalls', async () => {
    await container(stalled.url, {
      rateLimits: { api: { algorithm: 'fixed-window', limit: 10, window: '60 s', outage: 'open' } },
    });
    const results = await Promise.all([
      call({ method: 'GET', path: '/sessions/'.concat('a'.repeat(43)), tenant: 'acme' }),
      call({ method: 'POST', path: '/sessions', body: { userId: 'u' }, tenant: 'acme' }),
      call({
        method: 'POST',
        path: '/jobs',
        body: { type: 'sessions.revoke-user', payload: { userId: 'u' } },
        tenant: 'acme',
      }),
    ]);
    for (const r of results) {
      expect(r.status).toBe(503);
      expect(r.headers['retry-after']).toBe('1');
      expect(r.body).toEqual({
        error: { code: 'UPSTASH_UNAVAILABLE', message: 'the data store is unavailable, retry shortly' },
      });
      expect(r.ms).toBeLessThan(2_500);
    }
    const health = await call({ method: 'GET', path: '/health' });
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({
      status: 'degraded',
      databases: [{ ok: false, error: 'UPSTASH_UNAVAILABLE' }],
    });
    expect(leakedSecrets([token], output.text())).toEqual([]);
  });

  it('refuses with 503 rather than guess when the api limit is fail-closed', async () => {
    await container('http://127.0.0.1:1', {
      rateLimits: { api: { algorithm: 'sliding-window', limit: 10, window: '60 s', outage: 'closed' } },
    });
    const r = await call({ method: 'GET', path: '/cache/a', tenant: 'acme' });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('UPSTASH_UNAVAILABLE');
  });

  it('serves cached values from the container fallback while Upstash is down', async () => {
    await container(endpoint.url, {
      rateLimits: { api: { algorithm: 'sliding-window', limit: 100, window: '60 s', outage: 'local' } },
      cache: { fallback: true },
    });
    expect((await call({ method: 'PUT', path: '/cache/menu', body: ['soup'], tenant: 'acme' })).status).toBe(
      200,
    );
    // Upstash goes away under the same container.
    const rotated = `gone-${randomBytes(4).toString('hex')}`;
    endpoint.rotateToken(token, rotated);
    try {
      const r = await call({ method: 'GET', path: '/cache/menu', tenant: 'acme' });
      // A rejected token is not an outage: the client re-reads its credentials, gets the same ones,
      // and reports a configuration error, never the value of either token.
      expect(r.status).toBe(500);
      expect(r.body.error.code).toBe('CREDENTIALS_ERROR');
    } finally {
      endpoint.rotateToken(rotated, token);
    }
    await endpoint.close();
    const down = await call({ method: 'GET', path: '/cache/menu', tenant: 'acme' });
    expect(down.status).toBe(200);
    expect(down.body.value).toEqual(['soup']);
    expect(down.headers['x-cache-backend']).toBe('fallback');
    ({ endpoint, token } = await privateEndpoint(token));
  });
});
