import { randomBytes } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type * as ApiModule from '../../../lambda/handlers/api';
import { CacheService } from '../../../lambda/services/cache/cache-service';
import { KeyBuilder } from '../../../lambda/shared/keys';
import { UpstashRedisClient } from '../../../lambda/shared/redis';
import { ROUTES, routeKey } from '../../../lambda/shared/routes';
import { parseConfig, runtimeConfig } from '../../../lib/config';
import type { UpstashEndpoint } from '../../../local/upstash/server';
import { type ApiCall, apiEvent, bodyOf } from '../../helpers/http';
import { lambdaContext } from '../../helpers/lambda';
import { type CapturedOutput, captureOutput, leakedSecrets } from '../../helpers/output';
import { privateEndpoint, randomPrefix, upstashClient } from '../../helpers/redis';

const API_LIMIT = 30;

/** The configuration of these tests: one database, a small api limit and body cap. */
const APP_CONFIG = runtimeConfig(
  parseConfig({
    databases: { main: { secretName: 'upstash/main' } },
    rateLimits: {
      api: { algorithm: 'sliding-window', limit: API_LIMIT, window: '1 h' },
      search: { algorithm: 'token-bucket', limit: 3, window: '1 h' },
    },
    cache: { defaultTtl: '5 m', maxValueBytes: 2048, fallback: false },
    api: { maxBodyBytes: 4096, corsAllowOrigins: ['https://app.example.com'] },
  }),
);

const tenant = () => `t${randomBytes(4).toString('hex')}`;

describe('api handler', () => {
  let endpoint: UpstashEndpoint;
  let token: string;
  let api: typeof ApiModule;
  let context: Context;
  let output: CapturedOutput;

  const call = async (c: ApiCall) => {
    const response = await api.handler(apiEvent(c), context);
    return { status: response.statusCode, headers: response.headers, body: bodyOf(response) };
  };

  beforeAll(async () => {
    ({ endpoint, token } = await privateEndpoint(`api-${randomBytes(4).toString('hex')}`));
    delete process.env.UPSTASH_DATABASES;
    delete process.env.FEATURE_DATABASES;
    Object.assign(process.env, {
      UPSTASH_REDIS_REST_URL: endpoint.url,
      UPSTASH_REDIS_REST_TOKEN: token,
      KEY_PREFIX: randomPrefix(),
      APP_CONFIG: JSON.stringify(APP_CONFIG),
      POWERTOOLS_METRICS_NAMESPACE: 'ApiTest',
    });
    vi.resetModules();
    const runtime = await import('../../../lambda/shared/runtime');
    await runtime.resetRuntimeForTests();
    api = await import('../../../lambda/handlers/api');
  });
  afterAll(async () => {
    await endpoint.close();
  });
  beforeEach(() => {
    context = lambdaContext({ functionName: 'api', remainingMs: 10_000 });
    output = captureOutput();
  });
  afterEach(() => output.restore());

  it('serves every route of the route table', () => {
    expect([...api.HANDLED_ROUTES].sort()).toEqual(ROUTES.map(routeKey).sort());
  });

  describe('cache routes', () => {
    it('writes, reads and deletes a JSON value; a miss is 404', async () => {
      const t = tenant();
      const put = await call({
        method: 'PUT',
        path: '/cache/greeting?ttlMs=60000',
        body: { hello: 'world' },
        tenant: t,
      });
      expect(put).toMatchObject({ status: 200, body: { key: 'greeting', stored: true } });

      const get = await call({ method: 'GET', path: '/cache/greeting', tenant: t });
      expect(get).toMatchObject({ status: 200, body: { key: 'greeting', value: { hello: 'world' } } });
      expect(get.headers['content-type']).toBe('application/json');

      const del = await call({ method: 'DELETE', path: '/cache/greeting', tenant: t });
      expect(del.body).toEqual({ key: 'greeting', deleted: true });
      const miss = await call({ method: 'GET', path: '/cache/greeting', tenant: t });
      expect(miss).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    });

    it('keeps a TTL given in the x-ttl-ms header and honours mode=nx', async () => {
      const t = tenant();
      await call({ method: 'PUT', path: '/cache/k', body: 1, headers: { 'x-ttl-ms': '30000' }, tenant: t });
      // The header's TTL, not the 5 min default, read back as PTTL through the cache service: no
      // sleeping past a short TTL, which a loaded machine can stretch before the next call.
      const cache = new CacheService({
        redis: new UpstashRedisClient(upstashClient(endpoint.url, token)),
        keys: new KeyBuilder(process.env.KEY_PREFIX as string),
      });
      const ttl = await cache.ttl(t, 'k');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(30_000);
      const again = await call({ method: 'PUT', path: '/cache/k?mode=nx', body: 2, tenant: t });
      expect(again.body.stored).toBe(false);
      expect((await call({ method: 'GET', path: '/cache/k', tenant: t })).body.value).toBe(1);
      expect((await call({ method: 'DELETE', path: '/cache/k', tenant: t })).body.deleted).toBe(true);
      expect((await call({ method: 'PUT', path: '/cache/k?mode=nx', body: 3, tenant: t })).body.stored).toBe(
        true,
      );
    });

    it('reads and writes batches, keeping order and telling hits from misses', async () => {
      const t = tenant();
      const set = await call({
        method: 'POST',
        path: '/cache/batch',
        body: {
          set: [
            { key: 'a', value: 1 },
            { key: 'b', value: null },
          ],
          ttlMs: 60_000,
        },
        tenant: t,
      });
      expect(set.body).toEqual({ stored: 2 });
      const get = await call({
        method: 'POST',
        path: '/cache/batch',
        body: { get: ['b', 'x', 'a'] },
        tenant: t,
      });
      expect(get.body.items).toEqual([
        { key: 'b', hit: true, value: null },
        { key: 'x', hit: false },
        { key: 'a', hit: true, value: 1 },
      ]);
    });

    it('enqueues a prefix invalidation and answers 202 with the job', async () => {
      const t = tenant();
      const res = await call({
        method: 'POST',
        path: '/cache/invalidate',
        body: { prefix: 'user:' },
        tenant: t,
      });
      expect(res.status).toBe(202);
      expect(res.headers.location).toBe(`/jobs/${res.body.jobId}`);
      const job = await call({ method: 'GET', path: `/jobs/${res.body.jobId}`, tenant: t });
      expect(job.body).toMatchObject({ type: 'cache.invalidate-prefix', state: 'ready' });
    });
  });

  describe('costs', () => {
    it('answers an authenticated cache read with 2 commands in 1 round trip (limit check + GET)', async () => {
      const t = tenant();
      await call({ method: 'PUT', path: '/cache/hot', body: 'v', tenant: t });
      await call({ method: 'GET', path: '/cache/hot', tenant: t }); // scripts are loaded now
      endpoint.resetStats();

      const res = await call({ method: 'GET', path: '/cache/hot', tenant: t });

      expect(res.status).toBe(200);
      expect(endpoint.stats(token)).toMatchObject({ requests: 1, commands: 2 });
    });
  });

  describe('rate limit', () => {
    it('sends RateLimit headers on every limited route and 429 with Retry-After past the limit', async () => {
      const t = tenant();
      const first = await call({ method: 'GET', path: '/cache/x', tenant: t });
      expect(first.headers['ratelimit-limit']).toBe(String(API_LIMIT));
      expect(first.headers['ratelimit-remaining']).toBe(String(API_LIMIT - 1));
      expect(Number(first.headers['ratelimit-reset'])).toBeGreaterThan(0);

      // Real concurrency: the rest of the budget and 10 more, all at once.
      const burst = await Promise.all(
        Array.from({ length: API_LIMIT + 9 }, () => call({ method: 'GET', path: '/cache/x', tenant: t })),
      );
      const refused = burst.filter((r) => r.status === 429);
      expect(refused).toHaveLength(10);
      expect(burst.filter((r) => r.status === 404)).toHaveLength(API_LIMIT - 1);
      for (const r of refused) {
        expect(r.body.error.code).toBe('RATE_LIMITED');
        expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
        expect(r.headers['ratelimit-remaining']).toBe('0');
      }
      // Another tenant has its own budget.
      expect((await call({ method: 'GET', path: '/cache/x', tenant: tenant() })).status).toBe(404);
    });

    it('checks a named limit as a service, and 404s an unknown one', async () => {
      const t = tenant();
      const results = [];
      for (let i = 0; i < 4; i++) {
        results.push(
          await call({
            method: 'POST',
            path: '/rate-limits/search/check',
            body: { identifier: 'u1' },
            tenant: t,
          }),
        );
      }
      expect(results.map((r) => r.body.success)).toEqual([true, true, true, false]);
      // Refused by Redis, or by the container's cache of identifiers it already refused.
      expect(results[3]?.body).toMatchObject({ name: 'search', identifier: 'u1', remaining: 0 });
      expect(results[3]?.body.reason).toMatch(/^(limited|blocked-cache)$/);
      const unknown = await call({
        method: 'POST',
        path: '/rate-limits/nope/check',
        body: { identifier: 'u' },
        tenant: t,
      });
      expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    });
  });

  describe('sessions', () => {
    it('creates, reads, patches, lists and deletes sessions of a user', async () => {
      const t = tenant();
      const created = await call({
        method: 'POST',
        path: '/sessions',
        body: { userId: 'u1', data: { cart: [1], theme: 'dark' } },
        tenant: t,
      });
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const patched = await call({
        method: 'PATCH',
        path: `/sessions/${id}`,
        body: { data: { cart: [1, 2] }, remove: ['theme'] },
        tenant: t,
      });
      expect(patched.body.data).toEqual({ cart: [1, 2] });
      expect((await call({ method: 'GET', path: `/sessions/${id}`, tenant: t })).body.data).toEqual({
        cart: [1, 2],
      });

      await call({ method: 'POST', path: '/sessions', body: { userId: 'u1' }, tenant: t });
      const list = await call({ method: 'GET', path: '/users/u1/sessions', tenant: t });
      expect(list.body.sessions).toHaveLength(2);

      expect((await call({ method: 'DELETE', path: `/sessions/${id}`, tenant: t })).body).toEqual({
        deleted: true,
      });
      expect((await call({ method: 'GET', path: `/sessions/${id}`, tenant: t })).status).toBe(404);
      expect((await call({ method: 'DELETE', path: '/users/u1/sessions', tenant: t })).body).toEqual({
        userId: 'u1',
        revoked: 1,
      });
    });

    it('answers 404 for forged and truncated session ids', async () => {
      const t = tenant();
      const { body } = await call({ method: 'POST', path: '/sessions', body: { userId: 'u' }, tenant: t });
      const id = body.id as string;
      // The last character changed to another one (never to itself, which would be the real id).
      const altered = `${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`;
      for (const forged of [id.slice(0, -1), altered, 'x'.repeat(43), 'abc']) {
        expect((await call({ method: 'GET', path: `/sessions/${forged}`, tenant: t })).status).toBe(404);
      }
    });
  });

  describe('jobs and stats', () => {
    it('enqueues a job, deduplicates by idempotency key, and reports its status', async () => {
      const t = tenant();
      const body = { type: 'sessions.revoke-user', payload: { userId: 'u-11' }, idempotencyKey: 'nov' };
      const first = await call({ method: 'POST', path: '/jobs', body, tenant: t });
      expect(first).toMatchObject({ status: 202, body: { duplicate: false } });
      const second = await call({ method: 'POST', path: '/jobs', body, tenant: t });
      expect(second).toMatchObject({ status: 200, body: { id: first.body.id, duplicate: true } });
      const status = await call({ method: 'GET', path: `/jobs/${first.body.id}`, tenant: t });
      expect(status.body).toMatchObject({
        id: first.body.id,
        type: 'sessions.revoke-user',
        state: 'ready',
        attempts: 0,
      });
    });

    it('reports the tenant cache hit rate and the queue', async () => {
      const t = tenant();
      await call({ method: 'PUT', path: '/cache/s', body: 1, tenant: t });
      await call({ method: 'GET', path: '/cache/s', tenant: t });
      await call({ method: 'GET', path: '/cache/s', tenant: t });
      await call({ method: 'GET', path: '/cache/none', tenant: t });
      const stats = await call({ method: 'GET', path: '/stats', tenant: t });
      expect(stats.body).toMatchObject({ tenant: t, cache: { hits: 2, misses: 1 } });
      expect(stats.body.cache.hitRate).toBeCloseTo(2 / 3);
      expect(stats.body.queue).toMatchObject({ ready: expect.any(Object), deadLetters: expect.any(Number) });
    });
  });

  describe('isolation and access', () => {
    it('never shows one tenant the cache, sessions or jobs of another', async () => {
      const [a, b] = [tenant(), tenant()];
      await call({ method: 'PUT', path: '/cache/shared-name', body: 'secret-of-a', tenant: a });
      const session = await call({ method: 'POST', path: '/sessions', body: { userId: 'u' }, tenant: a });
      const job = await call({
        method: 'POST',
        path: '/jobs',
        body: { type: 'sessions.revoke-user', payload: { userId: 'u' } },
        tenant: a,
      });

      expect((await call({ method: 'GET', path: '/cache/shared-name', tenant: b })).status).toBe(404);
      expect((await call({ method: 'GET', path: `/sessions/${session.body.id}`, tenant: b })).status).toBe(
        404,
      );
      expect((await call({ method: 'GET', path: '/users/u/sessions', tenant: b })).body.sessions).toEqual([]);
      expect((await call({ method: 'GET', path: `/jobs/${job.body.id}`, tenant: b })).status).toBe(404);
      expect(
        (await call({ method: 'DELETE', path: `/sessions/${session.body.id}`, tenant: b })).body.deleted,
      ).toBe(false);
      expect((await call({ method: 'GET', path: '/cache/shared-name', tenant: a })).body.value).toBe(
        'secret-of-a',
      );
    });

    it('answers 401 without an authorizer context and 403 without the scope', async () => {
      const none = await call({ method: 'GET', path: '/cache/a', tenant: null });
      expect(none).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
      const t = tenant();
      const readOnly = { tenant: t, scopes: ['cache:read'] };
      expect((await call({ method: 'GET', path: '/cache/a', ...readOnly })).status).toBe(404);
      const write = await call({ method: 'PUT', path: '/cache/a', body: 1, ...readOnly });
      expect(write).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
      const batchWrite = await call({
        method: 'POST',
        path: '/cache/batch',
        body: { set: [{ key: 'a', value: 1 }] },
        ...readOnly,
      });
      expect(batchWrite.status).toBe(403);
      expect((await call({ method: 'GET', path: '/cache/a', ...readOnly })).status).toBe(404);
    });

    it('takes the tenant from a JWT authorizer claim, and scopes from the token when it has ours', async () => {
      const t = tenant();
      const jwtEvent = (c: ApiCall, claims: Record<string, unknown>, scopes?: string[]) => {
        const event = apiEvent({ ...c, tenant: null });
        (event.requestContext as unknown as Record<string, unknown>).authorizer = {
          jwt: { claims, scopes: scopes ?? null },
        };
        return event;
      };
      const put = await api.handler(
        jwtEvent({ method: 'PUT', path: '/cache/j', body: 1 }, { sub: 'user-1', tenant: t }),
        context,
      );
      expect(put.statusCode).toBe(200);
      const read = await api.handler(
        jwtEvent({ method: 'GET', path: '/cache/j' }, { tenant: t }, ['cache:read']),
        context,
      );
      expect(bodyOf(read)).toEqual({ key: 'j', value: 1 });
      const denied = await api.handler(
        jwtEvent({ method: 'DELETE', path: '/cache/j' }, { tenant: t }, ['cache:read']),
        context,
      );
      expect(denied.statusCode).toBe(403);
      // Scopes of the identity provider's own (none of this API's) grant this API's all.
      const foreign = await api.handler(
        jwtEvent({ method: 'DELETE', path: '/cache/j' }, { tenant: t }, ['openid', 'profile:read']),
        context,
      );
      expect(foreign.statusCode).toBe(200);
      const noTenant = await api.handler(
        jwtEvent({ method: 'GET', path: '/cache/j' }, { sub: 'x' }),
        context,
      );
      expect(noTenant.statusCode).toBe(401);
    });

    it('answers unknown paths 404 and wrong methods 405 with Allow', async () => {
      const unknown = await call({ method: 'GET', path: '/nope' });
      expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
      const wrong = await call({ method: 'POST', path: '/cache/a' });
      expect(wrong).toMatchObject({ status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED' } } });
      expect(wrong.headers.allow).toBe('GET, PUT, DELETE');
    });

    it('answers CORS preflights and tags responses for allowed origins only', async () => {
      const pre = await call({
        method: 'OPTIONS',
        path: '/cache/a',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': 'PUT' },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe('https://app.example.com');
      const t = tenant();
      const allowed = await call({
        method: 'GET',
        path: '/cache/a',
        tenant: t,
        headers: { origin: 'https://app.example.com' },
      });
      expect(allowed.headers['access-control-expose-headers']).toContain('ratelimit-remaining');
      const other = await call({
        method: 'GET',
        path: '/cache/a',
        tenant: t,
        headers: { origin: 'https://evil.example' },
      });
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    });
  });

  describe('health and logs', () => {
    it('reports each database with its latency', async () => {
      const res = await call({ method: 'GET', path: '/health' });
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('ok');
      expect(res.body.databases).toEqual([{ database: 'default', ok: true, latencyMs: expect.any(Number) }]);
    });

    it('logs one JSON line per request with its status and never the token', async () => {
      const t = tenant();
      await call({ method: 'GET', path: '/cache/logged', tenant: t });
      const lines = output
        .text()
        .split('\n')
        .filter((l) => l.includes('"message":"request"'))
        .map((l) => JSON.parse(l));
      expect(lines.at(-1)).toMatchObject({
        routeKey: 'GET /cache/{key}',
        status: 404,
        tenant: t,
        function_name: 'api',
      });
      expect(leakedSecrets([token], output.text())).toEqual([]);
      expect(output.text()).toContain('"CacheMiss"');
    });
  });
});
