import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BUILTIN_JOB_TYPES } from '../../../lambda/services/queue/job-types';
import { SCOPES } from '../../../lambda/shared/api-keys';
import { ROUTES, routeKey } from '../../../lambda/shared/routes';
import { type ApiContainer, apiContainer } from '../../helpers/api-handler';
import type { ApiCall } from '../../helpers/http';
import { type CapturedOutput, captureOutput } from '../../helpers/output';

/** A request each authenticated route would serve (with the right scope): path and body. */
const SAMPLES: Record<string, Pick<ApiCall, 'path' | 'body'>> = {
  'GET /cache/{key}': { path: '/cache/m' },
  'PUT /cache/{key}': { path: '/cache/m', body: 1 },
  'DELETE /cache/{key}': { path: '/cache/m' },
  'POST /cache/batch': { path: '/cache/batch', body: { get: ['m'] } },
  'POST /cache/invalidate': { path: '/cache/invalidate', body: { prefix: 'm:' } },
  'POST /cache/namespaces/{namespace}/invalidate': { path: '/cache/namespaces/products/invalidate' },
  'POST /sessions': { path: '/sessions', body: { userId: 'u' } },
  'GET /sessions/{id}': { path: `/sessions/${'A'.repeat(43)}` },
  'PATCH /sessions/{id}': { path: `/sessions/${'A'.repeat(43)}`, body: { data: { a: 1 } } },
  'DELETE /sessions/{id}': { path: `/sessions/${'A'.repeat(43)}` },
  'POST /sessions/{id}/regenerate': { path: `/sessions/${'A'.repeat(43)}/regenerate` },
  'GET /users/{userId}/sessions': { path: '/users/u/sessions' },
  'DELETE /users/{userId}/sessions': { path: '/users/u/sessions' },
  'POST /rate-limits/{name}/check': { path: '/rate-limits/search/check', body: { identifier: 'i' } },
  'POST /rate-limits/{name}/refund': { path: '/rate-limits/search/refund', body: { identifier: 'i' } },
  'GET /rate-limits/{name}/{identifier}': { path: '/rate-limits/search/i' },
  'DELETE /rate-limits/{name}/{identifier}': { path: '/rate-limits/search/i' },
  // Each job type needs a scope of its own too (the job matrix below); an unknown type does not.
  'POST /jobs': { path: '/jobs', body: { type: 'no.such-type' } },
  'GET /jobs': { path: '/jobs?state=dead' },
  'GET /jobs/{id}': { path: `/jobs/${'A'.repeat(22)}` },
  // An unknown job: 404 once the route's scope is there (the type's scope is the job matrix's).
  'POST /jobs/{id}/cancel': { path: `/jobs/${'A'.repeat(22)}/cancel` },
  'POST /jobs/{id}/redrive': { path: `/jobs/${'A'.repeat(22)}/redrive` },
  'POST /jobs/redrive': { path: '/jobs/redrive', body: { type: 'no.such-type' } },
  'GET /stats': { path: '/stats' },
};

/** A payload each job type accepts. */
const PAYLOADS: Record<string, unknown> = {
  'cache.invalidate-prefix': { prefix: 'm:' },
  'sessions.revoke-user': { userId: 'u' },
};

/**
 * The scope matrix, generated from the route table and the job-type registry: every
 * authenticated route with every scope (403 without the route's, never 403 with it), and every
 * job type through `POST /jobs` with every scope beside `jobs` (403 without the type's scope,
 * 202 with it). Through the api function as Lambda calls it, with the authorizer's context.
 */
describe('scope matrix', () => {
  let c: ApiContainer;
  let output: CapturedOutput;
  const tenant = `t${randomBytes(4).toString('hex')}`;
  const authenticated = ROUTES.filter((r) => r.auth);

  beforeAll(async () => {
    c = await apiContainer({
      rateLimits: {
        api: { algorithm: 'sliding-window', limit: 100_000, window: '1 h' },
        search: { algorithm: 'token-bucket', limit: 100_000, window: '1 h' },
      },
      cache: { namespaces: ['products'] },
    });
  });
  afterAll(() => c.close());
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => output.restore());

  it('has a sample request for every authenticated route and a payload for every job type', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(authenticated.map(routeKey).sort());
    expect(Object.keys(PAYLOADS).sort()).toEqual(
      BUILTIN_JOB_TYPES.enqueueable()
        .map((t) => t.type)
        .sort(),
    );
    for (const route of authenticated) expect(route.scope, routeKey(route)).toBeDefined();
  });

  it.each(authenticated.map((r) => [routeKey(r), r.scope] as const))(
    '%s needs %s: 403 with every other scope or none, never 403 with it or *',
    async (key, scope) => {
      const sample = SAMPLES[key] as Pick<ApiCall, 'path' | 'body'>;
      const method = key.split(' ')[0] as string;
      const outcomes: string[] = [];
      const expected: string[] = [];
      for (const scopes of [...SCOPES.map((s) => [s]), [], ['*']]) {
        const res = await c.call({ method, ...sample, tenant, scopes });
        const granted = scopes.includes(scope as string) || scopes.includes('*');
        outcomes.push(`${scopes.join(',') || 'none'}: ${res.status === 403 ? 'forbidden' : 'allowed'}`);
        expected.push(`${scopes.join(',') || 'none'}: ${granted ? 'allowed' : 'forbidden'}`);
        expect(res.status, `${key} with ${scopes.join(',')}`).toBeLessThan(500);
        if (res.status === 403) {
          expect(res.body.error).toMatchObject({
            code: 'FORBIDDEN',
            message: expect.stringContaining(String(scope)),
          });
        }
      }
      expect(outcomes).toEqual(expected);
    },
  );

  it.each(BUILTIN_JOB_TYPES.enqueueable().map((t) => [t.type, t.scope] as const))(
    'POST /jobs of %s needs jobs and %s: 403 with jobs and any other scope, 202 with both',
    async (type, scope) => {
      const before = (await c.call({ method: 'GET', path: '/stats', tenant })).body.queue;
      const outcomes: string[] = [];
      const expected: string[] = [];
      for (const scopes of [...SCOPES.map((s) => ['jobs', s]), [scope]]) {
        const res = await c.call({
          method: 'POST',
          path: '/jobs',
          body: { type, payload: PAYLOADS[type] },
          tenant,
          scopes,
        });
        outcomes.push(`${scopes.join(',')}: ${res.status}`);
        expected.push(
          `${scopes.join(',')}: ${scopes.includes('jobs') && scopes.includes(scope) ? 202 : 403}`,
        );
      }
      expect(outcomes).toEqual(expected);
      // Only the one allowed request enqueued anything.
      const after = (await c.call({ method: 'GET', path: '/stats', tenant })).body.queue;
      expect(after.ready.normal).toBe(before.ready.normal + 1);
    },
  );

  it.each(BUILTIN_JOB_TYPES.enqueueable().map((t) => [t.type, t.scope] as const))(
    'cancelling, redriving one or redriving all of %s needs jobs and %s: 403 without the type scope, nothing changed',
    async (type, scope) => {
      const t = `t${randomBytes(4).toString('hex')}`;
      const delayed = await c.call({
        method: 'POST',
        path: '/jobs',
        body: { type, payload: PAYLOADS[type], delayMs: 3_600_000 },
        tenant: t,
      });
      expect(delayed.status).toBe(202);
      const id = delayed.body.id as string;
      const outcomes: string[] = [];
      const expected: string[] = [];
      for (const scopes of [...SCOPES.map((s) => ['jobs', s]), ['jobs', scope]]) {
        const allowed = scopes.includes(scope);
        // Redrive before cancel: a delayed job is no dead letter (409 once allowed), and the
        // cancel that is allowed comes last.
        const redrive = await c.call({ method: 'POST', path: `/jobs/${id}/redrive`, tenant: t, scopes });
        const all = await c.call({
          method: 'POST',
          path: '/jobs/redrive',
          body: { type },
          tenant: t,
          scopes,
        });
        const cancel = allowed
          ? null
          : await c.call({ method: 'POST', path: `/jobs/${id}/cancel`, tenant: t, scopes });
        outcomes.push(`${scopes.join(',')}: ${redrive.status} ${all.status} ${cancel?.status ?? '-'}`);
        expected.push(`${scopes.join(',')}: ${allowed ? '409 200 -' : '403 403 403'}`);
        if (!allowed) {
          const job = await c.call({ method: 'GET', path: `/jobs/${id}`, tenant: t });
          expect(job.body.state, `${scopes.join(',')} changed nothing`).toBe('delayed');
        }
      }
      expect(outcomes).toEqual(expected);
      const cancelled = await c.call({
        method: 'POST',
        path: `/jobs/${id}/cancel`,
        tenant: t,
        scopes: ['jobs', scope],
      });
      expect(cancelled.body).toMatchObject({ id, state: 'cancelled' });
    },
  );

  it('refuses operator-only job types whatever the scopes, * included', async () => {
    for (const type of BUILTIN_JOB_TYPES.list().filter((t) => t.scope === 'operator')) {
      const res = await c.call({
        method: 'POST',
        path: '/jobs',
        body: { type: type.type, payload: { database: 'main' } },
        tenant,
        scopes: ['*'],
      });
      expect(res, type.type).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    }
  });

  it('lets a key with only the jobs scope neither wipe the cache nor revoke sessions (issue 13, item 2)', async () => {
    const t = `t${randomBytes(4).toString('hex')}`;
    await c.call({ method: 'PUT', path: '/cache/user:1', body: 'v', tenant: t });
    const session = await c.call({ method: 'POST', path: '/sessions', body: { userId: 'u1' }, tenant: t });
    const jobsOnly = { tenant: t, scopes: ['jobs'] };

    const wipe = await c.call({
      method: 'POST',
      path: '/jobs',
      body: { type: 'cache.invalidate-prefix', payload: { prefix: '' } },
      ...jobsOnly,
    });
    const revoke = await c.call({
      method: 'POST',
      path: '/jobs',
      body: { type: 'sessions.revoke-user', payload: { userId: 'u1' } },
      ...jobsOnly,
    });
    expect([wipe.status, revoke.status]).toEqual([403, 403]);
    await c.drain();

    expect((await c.call({ method: 'GET', path: '/cache/user:1', tenant: t })).status).toBe(200);
    expect((await c.call({ method: 'GET', path: `/sessions/${session.body.id}`, tenant: t })).status).toBe(
      200,
    );
  });
});
