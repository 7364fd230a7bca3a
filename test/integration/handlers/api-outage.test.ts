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
  afterEach(() => {
    output.restore();
    vi.unstubAllEnvs();
  });

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
      // The limit is checked first and could not be: the route did not run.
      expect(r.body).toEqual({
        error: {
          code: 'UPSTASH_UNAVAILABLE',
          message: 'the data store is unavailable, retry shortly',
          outcome: 'not-applied',
        },
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

  it.each([
    ['where invocations share a process (async context)', {}],
    ['in the Lambda runtime (the deadline in a slot)', { AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001' }],
  ])(
    'answers before its own deadline %s: no Upstash request outlives the invocation',
    async (_where, env) => {
      for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
      await container(stalled.url, {
        rateLimits: { api: { algorithm: 'fixed-window', limit: 10, window: '60 s', outage: 'open' } },
      });
      // 1.3 s left: 1 s is kept for the answer, so the stalled check is cut off at 0.3 s, before
      // its own 1 s timeout.
      const started = performance.now();
      const response = await api.handler(
        apiEvent({ method: 'POST', path: '/sessions', body: { userId: 'u' }, tenant: 'acme' }),
        lambdaContext({ functionName: 'api', remainingMs: 1_300 }),
      );
      expect(response.statusCode).toBe(503);
      expect(performance.now() - started).toBeLessThan(900);
    },
  );

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
    // Until the circuit opens (3 failed round trips in a row) a failure is not an outage yet:
    // the limit cannot be checked, so 503, nothing applied. The third failure opens it, and that
    // request is the first the outage policy and the fallback serve.
    for (let i = 0; i < 2; i++) {
      const early = await call({ method: 'GET', path: '/cache/menu', tenant: 'acme' });
      expect(early.status).toBe(503);
      expect(early.body.error.outcome).toBe('not-applied');
    }
    const down = await call({ method: 'GET', path: '/cache/menu', tenant: 'acme' });
    expect(down.status).toBe(200);
    expect(down.body.value).toEqual(['soup']);
    expect(down.headers['x-cache-backend']).toBe('fallback');
    // A write that cannot reach Upstash is never acknowledged; a delete neither.
    for (const write of [
      { method: 'PUT', path: '/cache/menu', body: ['stew'] },
      { method: 'DELETE', path: '/cache/menu' },
      { method: 'POST', path: '/cache/batch', body: { set: [{ key: 'menu', value: 1 }] } },
    ] as const) {
      const refused = await call({ ...write, tenant: 'acme' });
      expect(refused.status).toBe(503);
      expect(refused.body.error).toMatchObject({ code: 'UPSTASH_UNAVAILABLE', outcome: 'not-applied' });
    }
    expect((await call({ method: 'GET', path: '/cache/menu', tenant: 'acme' })).body.value).toEqual(['soup']);
    // Each 5xx was logged once, as a WARN with its code and route.
    const failures = output
      .text()
      .split('\n')
      .filter((line) => line.includes('"request failed"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(failures).toHaveLength(6);
    const [rejectedToken, ...outage] = failures;
    expect(rejectedToken).toMatchObject({ level: 'ERROR', status: 500, code: 'CREDENTIALS_ERROR' });
    for (const line of outage) {
      expect(line).toMatchObject({ level: 'WARN', status: 503, code: 'UPSTASH_UNAVAILABLE' });
    }
    expect(failures.map((l) => l.routeKey)).toContain('PUT /cache/{key}');
    ({ endpoint, token } = await privateEndpoint(token));
  });
  it('with cache.localWrites, answers stored "local" from the fallback while Upstash is down', async () => {
    await container(endpoint.url, {
      rateLimits: { api: { algorithm: 'sliding-window', limit: 100, window: '60 s', outage: 'local' } },
      cache: { fallback: true, localWrites: true },
    });
    const up = await call({ method: 'PUT', path: '/cache/menu', body: ['soup'], tenant: 'acme' });
    expect(up.body).toEqual({ key: 'menu', stored: true });
    expect(up.headers['x-cache-backend']).toBe('upstash');
    await endpoint.close();
    try {
      for (let i = 0; i < 2; i++) await call({ method: 'GET', path: '/cache/menu', tenant: 'acme' });
      const local = await call({ method: 'PUT', path: '/cache/menu', body: ['stew'], tenant: 'acme' });
      expect(local.status).toBe(200);
      expect(local.body).toEqual({ key: 'menu', stored: 'local' });
      expect(local.headers['x-cache-backend']).toBe('fallback');
      const read = await call({ method: 'GET', path: '/cache/menu', tenant: 'acme' });
      expect(read.body.value).toEqual(['stew']);
      expect(read.headers['x-cache-backend']).toBe('fallback');
      // Deletes and invalidations never succeed locally only.
      expect((await call({ method: 'DELETE', path: '/cache/menu', tenant: 'acme' })).status).toBe(503);
    } finally {
      ({ endpoint, token } = await privateEndpoint(token));
    }
  });
});
