import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scope } from '../../lambda/shared/api-keys';
import { SCOPES } from '../../lambda/shared/api-keys';
import { type LocalApp, startLocalApp } from '../../local/app';
import { apiCaller, type RawResponse } from '../helpers/http-client';
import { expectAnswersMatchOpenApi } from '../helpers/openapi';
import { randomPrefix } from '../helpers/redis';

/**
 * Issue 16's routes end to end, over real HTTP against the stack `npm start` runs: safe retries
 * with Idempotency-Key under concurrency, each new route behind its scope, O(1) namespace
 * invalidation, and an API key's expiry.
 */
describe('managing the stack over HTTP (end to end)', () => {
  let stack: LocalApp;

  beforeAll(async () => {
    stack = await startLocalApp({
      port: 0,
      keyPrefix: randomPrefix(),
      scheduler: false,
      tenant: 'acme',
      config: {
        rateLimits: {
          api: { algorithm: 'sliding-window', limit: 100_000, window: '1 h' },
          search: { algorithm: 'fixed-window', limit: 10, window: '1 h' },
        },
        cache: { namespaces: ['products'] },
      },
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const call = apiCaller(() => stack.url);

  /** Sends `request` 50 times at once, then retries each 409 as told, until each has its answer. */
  async function fiftyAtOnce(request: () => Promise<RawResponse>) {
    const first = await Promise.all(Array.from({ length: 50 }, request));
    const final = await Promise.all(
      first.map(async (response) => {
        let answer = response;
        while (answer.status === 409) {
          expect(answer.json()).toMatchObject({ error: { code: 'IDEMPOTENCY_KEY_IN_USE' } });
          expect(answer.headers['retry-after']).toBe('1');
          await new Promise((resolve) => setTimeout(resolve, 100));
          answer = await request();
        }
        return answer;
      }),
    );
    return { first, final };
  }

  it('answers 50 concurrent identical creates with one key once: one session, 50 identical answers', async () => {
    const { key } = await stack.mintKey('concurrent');
    const { first, final } = await fiftyAtOnce(() =>
      call(
        'POST',
        '/sessions',
        key,
        { userId: 'u1', data: { cart: [1, 2] } },
        { 'idempotency-key': 'checkout-1' },
      ),
    );
    const originals = first.filter((r) => r.status === 201 && r.headers['idempotent-replayed'] === undefined);
    expect(originals).toHaveLength(1);
    expect(first.every((r) => r.status === 201 || r.status === 409)).toBe(true);
    expect(new Set(final.map((r) => `${r.status} ${r.text}`)).size).toBe(1);
    expect(final.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(49);
    const sessions = await call('GET', '/users/u1/sessions', key);
    expect(sessions.json<{ sessions: Array<{ id: string }> }>().sessions.map((s) => s.id)).toEqual([
      final[0]?.json<{ id: string }>().id,
    ]);
  });

  it('answers 50 concurrent identical enqueues with one key once: one job', async () => {
    const { key } = await stack.mintKey('concurrent-jobs');
    const body = { type: 'sessions.revoke-user', payload: { userId: 'u1' }, delayMs: 3_600_000 };
    const { final } = await fiftyAtOnce(() =>
      call('POST', '/jobs', key, body, { 'idempotency-key': 'revoke-1' }),
    );
    expect(new Set(final.map((r) => `${r.status} ${r.text}`)).size).toBe(1);
    expect(final[0]?.status).toBe(202);
    const jobs = await call('GET', '/jobs', key);
    expect(jobs.json<{ jobs: Array<{ id: string }> }>().jobs.map((j) => j.id)).toEqual([
      final[0]?.json<{ id: string }>().id,
    ]);
    // The same key with another request: 422, nothing enqueued.
    const other = await call(
      'POST',
      '/jobs',
      key,
      { ...body, delayMs: 1 },
      { 'idempotency-key': 'revoke-1' },
    );
    expect(other.status).toBe(422);
    expect((await call('GET', '/jobs', key)).json<{ jobs: unknown[] }>().jobs).toHaveLength(1);
  });

  it('puts every new route behind its scope: a key without it gets 403 and changes nothing', async () => {
    const { key: full } = await stack.mintKey('scoped');
    const session = (await call('POST', '/sessions', full, { userId: 'u1' })).json<{ id: string }>();
    const job = (
      await call('POST', '/jobs', full, {
        type: 'sessions.revoke-user',
        payload: { userId: 'u' },
        delayMs: 3_600_000,
      })
    ).json<{ id: string }>();
    await call('PUT', '/cache/products:1', full, 'v');
    const cases: Array<{ method: string; path: string; body?: unknown; scope: Scope }> = [
      { method: 'POST', path: '/cache/namespaces/products/invalidate', scope: 'cache:write' },
      { method: 'POST', path: `/sessions/${session.id}/regenerate`, scope: 'sessions:write' },
      { method: 'POST', path: '/rate-limits/search/refund', body: { identifier: 'i' }, scope: 'rate-limits' },
      { method: 'GET', path: '/rate-limits/search/i', scope: 'rate-limits' },
      { method: 'DELETE', path: '/rate-limits/search/i', scope: 'rate-limits:admin' },
      { method: 'GET', path: '/jobs', scope: 'jobs' },
      { method: 'POST', path: `/jobs/${job.id}/cancel`, scope: 'jobs' },
      { method: 'POST', path: `/jobs/${job.id}/redrive`, scope: 'jobs' },
      { method: 'POST', path: '/jobs/redrive', body: { type: 'sessions.revoke-user' }, scope: 'jobs' },
    ];
    for (const c of cases) {
      const others = SCOPES.filter((s) => s !== c.scope);
      const { key } = await stack.mintKey('scoped', others);
      const refused = await call(c.method, c.path, key, c.body);
      expect(refused.status, `${c.method} ${c.path}`).toBe(403);
      expect(refused.json<{ error: { message: string } }>().error.message).toContain(c.scope);
    }
    // Nothing moved: the session, the job and the namespace's value are as they were.
    expect((await call('GET', `/sessions/${session.id}`, full)).status).toBe(200);
    expect((await call('GET', `/jobs/${job.id}`, full)).json()).toMatchObject({ state: 'delayed' });
    expect((await call('GET', '/cache/products:1', full)).json()).toMatchObject({ value: 'v' });
    // And with the scope, they run.
    expect((await call('POST', '/cache/namespaces/products/invalidate', full)).status).toBe(200);
    expect((await call('GET', '/cache/products:1', full)).status).toBe(404);
  });

  it('invalidates a namespace of 500 keys at once: none of its old values is served afterwards', async () => {
    const { key } = await stack.mintKey('catalog');
    const items = Array.from({ length: 500 }, (_, i) => ({ key: `products:${i}`, value: { price: i } }));
    for (let i = 0; i < items.length; i += 100) {
      expect((await call('POST', '/cache/batch', key, { set: items.slice(i, i + 100) })).status).toBe(200);
    }
    expect((await call('GET', '/cache/products:499', key)).json()).toMatchObject({ value: { price: 499 } });
    expect((await call('POST', '/cache/namespaces/products/invalidate', key)).status).toBe(200);
    for (let i = 0; i < items.length; i += 100) {
      const read = await call('POST', '/cache/batch', key, {
        get: items.slice(i, i + 100).map((e) => e.key),
      });
      expect(read.json<{ items: Array<{ hit: boolean }> }>().items.filter((x) => x.hit)).toEqual([]);
    }
    expect((await call('GET', '/cache/products:7', key)).status).toBe(404);
  });

  it('stops a key at its expiry, though the gateway cached its authorization', async () => {
    const { key } = await stack.mintKey('expiring', ['*'], { expiresAt: new Date(Date.now() + 2_000) });
    expect((await call('GET', '/stats', key)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const expired = await call('GET', '/stats', key);
    // The gateway still holds its decision (auth.cacheTtl): the api function refuses the key.
    expect(expired.status).toBe(401);
    expect(expired.json()).toMatchObject({
      error: { code: 'UNAUTHORIZED', message: 'this API key has expired' },
    });
  });

  // Last in the file: every answer of the tests above, against the document this stack serves.
  it('answered every request as GET /openapi.json describes it (status and body), every route listed', async () => {
    await expectAnswersMatchOpenApi(stack.url);
  });
});
