import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyResultV2,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, routeKey } from '../../lambda/shared/routes';
import { type LocalApp, startLocalApp } from '../../local/app';
import { localContext } from '../../local/lambda-runtime';
import { scheduledEvent } from '../../local/scheduler';
import { apiCaller, type RawResponse } from '../helpers/http-client';
import { expectAnswersMatchOpenApi } from '../helpers/openapi';
import { randomPrefix } from '../helpers/redis';

/**
 * The HTTP API end to end, over real HTTP against the stack `npm start` runs: local gateway,
 * authorizer, api function, local Secrets Manager, local Upstash endpoint, Redis.
 */

const LIMIT = 40;

describe('HTTP API (end to end)', () => {
  let stack: LocalApp;
  const recorded: Array<{ event: APIGatewayProxyEventV2; result: APIGatewayProxyResultV2 | Error }> = [];

  beforeAll(async () => {
    stack = await startLocalApp({
      port: 0,
      // No redisUrl: a Redis of its own, so its SCANs (the snapshot, prefix invalidation) walk
      // only this stack's keys.
      keyPrefix: randomPrefix(),
      scheduler: false,
      tenant: 'acme',
      config: {
        rateLimits: {
          api: { algorithm: 'sliding-window', limit: LIMIT, window: '1 h' },
          search: { algorithm: 'fixed-window', limit: 2, window: '1 h' },
        },
        cache: { namespaces: ['products'] },
      },
      onInvoke: (event, result) => recorded.push({ event, result }),
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const call = apiCaller(() => stack.url);

  it('serves every route of the route table', async () => {
    const { key } = await stack.mintKey('routes');
    const statuses: Record<string, number> = {};
    const note = async (name: string, response: Promise<RawResponse>) => {
      const r = await response;
      statuses[name] = r.status;
      return r;
    };
    await note('GET /health', call('GET', '/health', undefined));
    await note('GET /openapi.json', call('GET', '/openapi.json', undefined));
    await note('PUT /cache/{key}', call('PUT', '/cache/k1?ttlMs=60000', key, { n: 1 }));
    await note('GET /cache/{key}', call('GET', '/cache/k1', key));
    await note('POST /cache/batch', call('POST', '/cache/batch', key, { get: ['k1', 'k2'] }));
    await note('DELETE /cache/{key}', call('DELETE', '/cache/k1', key));
    const job = await note('POST /cache/invalidate', call('POST', '/cache/invalidate', key, { prefix: 'k' }));
    await note(
      'POST /cache/namespaces/{namespace}/invalidate',
      call('POST', '/cache/namespaces/products/invalidate', key),
    );
    const session = await note(
      'POST /sessions',
      call('POST', '/sessions', key, { userId: 'u1', data: { a: 1 } }),
    );
    const id = session.json<{ id: string }>().id;
    await note('GET /sessions/{id}', call('GET', `/sessions/${id}`, key));
    await note('PATCH /sessions/{id}', call('PATCH', `/sessions/${id}`, key, { data: { b: 2 } }));
    await note('GET /users/{userId}/sessions', call('GET', '/users/u1/sessions', key));
    const renewed = await note(
      'POST /sessions/{id}/regenerate',
      call('POST', `/sessions/${id}/regenerate`, key),
    );
    await note(
      'DELETE /sessions/{id}',
      call('DELETE', `/sessions/${renewed.json<{ id: string }>().id}`, key),
    );
    await note('DELETE /users/{userId}/sessions', call('DELETE', '/users/u1/sessions', key));
    await note(
      'POST /rate-limits/{name}/check',
      call('POST', '/rate-limits/search/check', key, { identifier: 'i' }),
    );
    await note(
      'POST /rate-limits/{name}/refund',
      call('POST', '/rate-limits/search/refund', key, { identifier: 'i' }),
    );
    await note('GET /rate-limits/{name}/{identifier}', call('GET', '/rate-limits/search/i', key));
    await note('DELETE /rate-limits/{name}/{identifier}', call('DELETE', '/rate-limits/search/i', key));
    const enqueued = await note(
      'POST /jobs',
      call('POST', '/jobs', key, { type: 'sessions.revoke-user', payload: { userId: 'u9' } }),
    );
    const jobId = enqueued.json<{ id: string }>().id;
    await note('GET /jobs/{id}', call('GET', `/jobs/${jobId}`, key));
    await note('GET /jobs', call('GET', '/jobs?state=ready', key));
    await note('POST /jobs/{id}/cancel', call('POST', `/jobs/${jobId}/cancel`, key));
    // A cancelled job is no dead letter: the redrive of one is refused, of all of a type is none.
    await note('POST /jobs/{id}/redrive', call('POST', `/jobs/${jobId}/redrive`, key));
    await note('POST /jobs/redrive', call('POST', '/jobs/redrive', key, { type: 'sessions.revoke-user' }));
    await note('GET /stats', call('GET', '/stats', key));

    expect(statuses).toEqual({
      'GET /health': 200,
      'GET /openapi.json': 200,
      'POST /cache/namespaces/{namespace}/invalidate': 200,
      'POST /sessions/{id}/regenerate': 200,
      'POST /rate-limits/{name}/refund': 200,
      'GET /rate-limits/{name}/{identifier}': 200,
      'DELETE /rate-limits/{name}/{identifier}': 200,
      'GET /jobs': 200,
      'POST /jobs/{id}/cancel': 200,
      'POST /jobs/{id}/redrive': 409,
      'POST /jobs/redrive': 200,
      'PUT /cache/{key}': 200,
      'GET /cache/{key}': 200,
      'POST /cache/batch': 200,
      'DELETE /cache/{key}': 200,
      'POST /cache/invalidate': 202,
      'POST /sessions': 201,
      'GET /sessions/{id}': 200,
      'PATCH /sessions/{id}': 200,
      'GET /users/{userId}/sessions': 200,
      'DELETE /sessions/{id}': 200,
      'DELETE /users/{userId}/sessions': 200,
      'POST /rate-limits/{name}/check': 200,
      'POST /jobs': 202,
      'GET /jobs/{id}': 200,
      'GET /stats': 200,
    });
    expect(Object.keys(statuses).sort()).toEqual(ROUTES.map(routeKey).sort());
    expect(job.json<{ jobId: string }>().jobId).toMatch(/\S/);
  });

  it('answers 401 without a key and 403 for an unknown key (API Gateway), 403 for a missing scope (api)', async () => {
    const none = await call('GET', '/cache/x', undefined);
    expect(none.status).toBe(401);
    expect(none.json()).toEqual({ message: 'Unauthorized' });
    const unknown = await call('GET', '/cache/x', 'usk_never-minted');
    expect(unknown.status).toBe(403);
    expect(unknown.json()).toEqual({ message: 'Forbidden' });
    const { key } = await stack.mintKey('readonly', ['cache:read']);
    const scoped = await call('PUT', '/cache/x', key, 1);
    expect(scoped.status).toBe(403);
    expect(scoped.json()).toEqual({
      error: { code: 'FORBIDDEN', message: 'this key lacks the "cache:write" scope' },
    });
  });

  it('runs the authorizer once per key while its decision is cached', async () => {
    const { key } = await stack.mintKey('cached');
    const before = stack.gateway.authorizerCalls;
    await call('GET', '/cache/x', key);
    expect(stack.gateway.authorizerCalls).toBe(before + 1);
    await Promise.all(Array.from({ length: 5 }, () => call('GET', '/cache/x', key)));
    for (let i = 0; i < 5; i++) await call('PUT', '/cache/x', key, i);
    expect(stack.gateway.authorizerCalls).toBe(before + 1);
  });

  it('answers 429 with RateLimit headers and Retry-After once the tenant spends its limit', async () => {
    const { key } = await stack.mintKey('busy');
    const responses = await Promise.all(
      Array.from({ length: LIMIT + 5 }, () => call('GET', '/cache/x', key)),
    );
    const refused = responses.filter((r) => r.status === 429);
    expect(refused).toHaveLength(5);
    expect(responses.filter((r) => r.status === 404)).toHaveLength(LIMIT);
    for (const r of responses) {
      expect(r.headers['ratelimit-limit']).toBe(String(LIMIT));
      expect(Number(r.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(0);
    }
    for (const r of refused) {
      expect(r.headers['ratelimit-remaining']).toBe('0');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect(r.json<{ error: { code: string } }>().error.code).toBe('RATE_LIMITED');
    }
    // Another tenant is not affected.
    const { key: other } = await stack.mintKey('calm');
    expect((await call('GET', '/cache/x', other)).status).toBe(404);
  });

  it("never shows one tenant another's cache keys, sessions or jobs", async () => {
    const a = await stack.mintKey('tenant-a');
    const b = await stack.mintKey('tenant-b');
    await call('PUT', '/cache/profile', a.key, { owner: 'a' });
    const session = (await call('POST', '/sessions', a.key, { userId: 'shared-user' })).json<{
      id: string;
    }>();
    const job = (
      await call('POST', '/jobs', a.key, { type: 'sessions.revoke-user', payload: { userId: 'u' } })
    ).json<{ id: string }>();

    expect((await call('GET', '/cache/profile', b.key)).status).toBe(404);
    expect((await call('POST', '/cache/batch', b.key, { get: ['profile'] })).json()).toEqual({
      items: [{ key: 'profile', hit: false }],
    });
    expect((await call('GET', `/sessions/${session.id}`, b.key)).status).toBe(404);
    expect((await call('PATCH', `/sessions/${session.id}`, b.key, { data: { x: 1 } })).status).toBe(404);
    expect((await call('GET', '/users/shared-user/sessions', b.key)).json()).toEqual({
      userId: 'shared-user',
      sessions: [],
    });
    expect((await call('GET', `/jobs/${job.id}`, b.key)).status).toBe(404);
    // B's invalidation of all its keys leaves A's alone: run the queue worker as its schedule would.
    await call('PUT', '/cache/profile', b.key, { owner: 'b' });
    const invalidation = (await call('POST', '/cache/invalidate', b.key, { prefix: '' })).json<{
      jobId: string;
    }>();
    await stack.handlers.queueWorker(scheduledEvent('queue-worker'), localContext('queue-worker', 60_000));
    expect((await call('GET', `/jobs/${invalidation.jobId}`, b.key)).json()).toMatchObject({ state: 'done' });
    expect((await call('GET', '/cache/profile', b.key)).status).toBe(404);
    // A still sees its own.
    expect((await call('GET', '/cache/profile', a.key)).json()).toEqual({
      key: 'profile',
      value: { owner: 'a' },
    });
    expect((await call('GET', `/sessions/${session.id}`, a.key)).status).toBe(200);
  });

  it('gives the same responses to recorded events passed straight to the handler', async () => {
    const { key } = await stack.mintKey('replay');
    await call('PUT', '/cache/r', key, { same: true });
    const session = (await call('POST', '/sessions', key, { userId: 'r', data: { v: 1 } })).json<{
      id: string;
    }>();
    recorded.length = 0;
    const requests: Array<[string, string, unknown?]> = [
      ['GET', '/cache/r'],
      ['GET', '/cache/missing'],
      ['GET', `/sessions/${session.id}`],
      ['POST', '/cache/batch', { get: ['r', 'missing'] }],
      ['PUT', '/cache/r?ttlMs=0', 1],
      ['POST', '/sessions', { userId: '' }],
      ['GET', '/nope'],
      ['DELETE', '/health'],
    ];
    const viaGateway: RawResponse[] = [];
    for (const [method, path, body] of requests) viaGateway.push(await call(method, path, key, body));
    expect(recorded).toHaveLength(requests.length);

    for (const [i, { event }] of recorded.entries()) {
      const direct = (await stack.handlers.api(
        event,
        localContext('api', 10_000),
      )) as APIGatewayProxyStructuredResultV2;
      const gateway = viaGateway[i] as RawResponse;
      expect(direct.statusCode, `${event.routeKey} ${event.rawPath}`).toBe(gateway.status);
      // A session read slides its idle expiry: the two reads differ there only.
      const slid = (text: string | undefined) => text?.replace(/"idleExpiresAt":\d+/, '"idleExpiresAt":0');
      expect(slid(direct.body)).toBe(slid(gateway.text));
      expect(direct.headers?.['content-type']).toBe(gateway.headers['content-type']);
    }
  });

  // Last in the file: every answer of the tests above, against the document this stack serves.
  it('answered every request as GET /openapi.json describes it (status and body), every route listed', async () => {
    await expectAnswersMatchOpenApi(stack.url);
  });
});
