import { randomBytes } from 'node:crypto';
import * as v from 'valibot';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiKeyUsage } from '../../../lambda/services/auth/key-usage';
import type { JobType } from '../../../lambda/services/queue/job-types';
import type { JobRegistry } from '../../../lambda/services/queue/registry';
import { KeyBuilder } from '../../../lambda/shared/keys';
import { UpstashRedisClient } from '../../../lambda/shared/redis';
import { type ApiContainer, apiContainer } from '../../helpers/api-handler';
import { apiEvent } from '../../helpers/http';
import { type CapturedOutput, captureOutput } from '../../helpers/output';
import { upstashClient } from '../../helpers/redis';

/**
 * A job type of the app's own, registered the way an app does it: in lambda/jobs/types.ts (the
 * definition) and lambda/jobs/handlers.ts (its handler). Replaced here, so the real api function
 * and the real queue worker run it without a line of either handler file changing.
 */
const ECHO = vi.hoisted(() => ({ type: 'test.echo' }));
// Imported inside the factories: each container (a fresh module graph) gets definitions made
// with its own modules, as a deployed bundle would.
vi.mock('../../../lambda/jobs/types', async () => {
  const { defineJobType, payloadOf } = await import('../../../lambda/services/queue/job-types');
  const { fields } = await import('../../../lambda/shared/validation');
  return {
    APP_JOB_TYPES: [
      defineJobType({
        type: ECHO.type,
        scope: 'jobs',
        summary: 'answers its text back (or fails when asked to)',
        payload: payloadOf(
          fields({ text: v.string('text must be a string'), fail: v.optional(v.boolean()) }, 'the payload'),
        ),
      }),
    ],
  };
});
vi.mock('../../../lambda/jobs/handlers', async () => {
  const { APP_JOB_TYPES } = await import('../../../lambda/jobs/types');
  return {
    registerAppJobs: (registry: JobRegistry) =>
      registry.register(APP_JOB_TYPES[0] as JobType<{ text: string; fail?: boolean }>, async (job) => {
        if (job.payload.fail) throw new Error('asked to fail');
        return { echoed: job.payload.text };
      }),
  };
});

/**
 * The routes that manage what the services hold, through the api function as Lambda calls it:
 * rate limits read, refunded and reset, a session regenerated, a cache namespace invalidated,
 * jobs listed, cancelled and redriven (of the app's own type too), and the API key's expiry
 * and last-used day.
 */
describe('api handler: managing limits, sessions, namespaces, jobs and keys', () => {
  let c: ApiContainer;
  let output: CapturedOutput;
  const tenant = () => `t${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    c = await apiContainer({
      rateLimits: {
        api: { algorithm: 'sliding-window', limit: 100_000, window: '1 h' },
        search: { algorithm: 'fixed-window', limit: 5, window: '1 h' },
      },
      cache: { namespaces: ['products'] },
    });
  });
  afterAll(() => c.close());
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => output.restore());

  describe('rate limits', () => {
    it('reads without consuming, refunds within bounds, and resets with the admin scope only', async () => {
      const t = tenant();
      const peek = () => c.call({ method: 'GET', path: '/rate-limits/search/ip-1', tenant: t });
      expect((await peek()).body).toMatchObject({
        name: 'search',
        identifier: 'ip-1',
        remaining: 5,
        limit: 5,
      });
      expect((await peek()).body.remaining).toBe(5);
      await c.call({
        method: 'POST',
        path: '/rate-limits/search/check',
        body: { identifier: 'ip-1', cost: 3 },
        tenant: t,
      });
      expect((await peek()).body).toMatchObject({ remaining: 2, success: true });
      const refund = await c.call({
        method: 'POST',
        path: '/rate-limits/search/refund',
        body: { identifier: 'ip-1', cost: 10 },
        tenant: t,
      });
      // Never more back than was used: the limit, not 12.
      expect(refund.body).toMatchObject({ success: true, remaining: 5 });
      await c.call({
        method: 'POST',
        path: '/rate-limits/search/check',
        body: { identifier: 'ip-1', cost: 5 },
        tenant: t,
      });
      expect((await peek()).body).toMatchObject({ remaining: 0, success: false });

      const reset = (scopes: string[]) =>
        c.call({ method: 'DELETE', path: '/rate-limits/search/ip-1', tenant: t, scopes });
      expect((await reset(['rate-limits'])).status).toBe(403);
      expect((await peek()).body.remaining).toBe(0);
      expect((await reset(['rate-limits:admin'])).body).toEqual({
        name: 'search',
        identifier: 'ip-1',
        cleared: true,
      });
      expect((await peek()).body.remaining).toBe(5);
      expect((await c.call({ method: 'GET', path: '/rate-limits/nope/ip-1', tenant: t })).status).toBe(404);
    });

    it('reads a limit in the round trip of the api check: one round trip, no write', async () => {
      const t = tenant();
      await c.call({ method: 'GET', path: '/rate-limits/search/warm', tenant: t });
      c.endpoint.resetStats();
      await c.call({ method: 'GET', path: '/rate-limits/search/ip-2', tenant: t });
      expect(c.endpoint.stats(c.token)).toMatchObject({ requests: 1, commands: 2 });
    });
  });

  describe('sessions', () => {
    it('regenerates the id: the old one stops at once; replies show the idle and the absolute expiry', async () => {
      const t = tenant();
      const created = await c.call({
        method: 'POST',
        path: '/sessions',
        body: { userId: 'u1', data: { r: 1 } },
        tenant: t,
      });
      expect(created.body.idleExpiresAt).toBeLessThanOrEqual(created.body.expiresAt);
      expect(created.body.idleExpiresAt).toBeGreaterThan(created.body.createdAt);
      const renewed = await c.call({
        method: 'POST',
        path: `/sessions/${created.body.id}/regenerate`,
        tenant: t,
      });
      expect(renewed.status).toBe(200);
      expect(renewed.body).toMatchObject({
        userId: 'u1',
        data: { r: 1 },
        createdAt: created.body.createdAt,
        expiresAt: created.body.expiresAt,
      });
      expect(renewed.body.id).not.toBe(created.body.id);
      expect((await c.call({ method: 'GET', path: `/sessions/${created.body.id}`, tenant: t })).status).toBe(
        404,
      );
      expect((await c.call({ method: 'GET', path: `/sessions/${renewed.body.id}`, tenant: t })).status).toBe(
        200,
      );
      expect(
        (await c.call({ method: 'POST', path: `/sessions/${created.body.id}/regenerate`, tenant: t })).status,
      ).toBe(404);
      // Another tenant cannot regenerate it.
      expect(
        (await c.call({ method: 'POST', path: `/sessions/${renewed.body.id}/regenerate`, tenant: tenant() }))
          .status,
      ).toBe(404);
    });
  });

  describe('cache namespaces', () => {
    it('invalidates a declared namespace at once: its values read as misses, others stay', async () => {
      const t = tenant();
      await c.call({ method: 'PUT', path: '/cache/products:1', body: { p: 1 }, tenant: t });
      await c.call({ method: 'PUT', path: '/cache/other:1', body: { o: 1 }, tenant: t });
      c.endpoint.resetStats();
      const bump = await c.call({ method: 'POST', path: '/cache/namespaces/products/invalidate', tenant: t });
      expect(bump).toMatchObject({ status: 200, body: { namespace: 'products', invalidated: true } });
      // The api check and the bump: two commands in two round trips (a write checks first).
      expect(c.endpoint.stats(c.token).commands).toBe(2);
      expect((await c.call({ method: 'GET', path: '/cache/products:1', tenant: t })).status).toBe(404);
      expect((await c.call({ method: 'GET', path: '/cache/other:1', tenant: t })).status).toBe(200);
      const unknown = await c.call({
        method: 'POST',
        path: '/cache/namespaces/orders/invalidate',
        tenant: t,
      });
      expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    });
  });

  describe('jobs, of an app type registered without editing the handlers', () => {
    it('enqueues, runs and shows the result of an app job type, checked by its own definition', async () => {
      const t = tenant();
      const bad = await c.call({
        method: 'POST',
        path: '/jobs',
        body: { type: ECHO.type, payload: { text: 1 } },
        tenant: t,
      });
      expect(bad).toMatchObject({ status: 400, body: { error: { message: 'text must be a string' } } });
      const forbidden = await c.call({
        method: 'POST',
        path: '/jobs',
        body: { type: ECHO.type, payload: { text: 'hi' } },
        tenant: t,
        scopes: ['cache:read'],
      });
      expect(forbidden.status).toBe(403);
      const job = await c.call({
        method: 'POST',
        path: '/jobs',
        body: { type: ECHO.type, payload: { text: 'hi' } },
        tenant: t,
      });
      expect(job.status).toBe(202);
      await c.drain();
      expect((await c.call({ method: 'GET', path: `/jobs/${job.body.id}`, tenant: t })).body).toMatchObject({
        state: 'done',
        result: { echoed: 'hi' },
      });
      const doc = await c.call({ method: 'GET', path: '/openapi.json' });
      expect(doc.body.paths['/jobs'].post['x-job-types']).toContainEqual(
        expect.objectContaining({
          type: ECHO.type,
          scope: 'jobs',
          payload: expect.objectContaining({ type: 'object' }),
        }),
      );
    });

    it('lists by state, redrives a dead letter (one, then all of its type) and cancels a delayed job', async () => {
      const t = tenant();
      const enqueue = (payload: unknown, extra: Record<string, unknown> = {}) =>
        c.call({
          method: 'POST',
          path: '/jobs',
          body: { type: ECHO.type, payload, maxAttempts: 1, ...extra },
          tenant: t,
        });
      const failing = [await enqueue({ text: 'a', fail: true }), await enqueue({ text: 'b', fail: true })];
      const delayed = await enqueue({ text: 'later' }, { delayMs: 3_600_000 });
      await c.drain();

      const list = async (query: string) =>
        (await c.call({ method: 'GET', path: `/jobs?${query}`, tenant: t })).body as {
          jobs: Array<{ id: string; state: string; lastError?: string }>;
          cursor: string | null;
        };
      const dead = await list('state=dead');
      expect(dead.jobs.map((j) => j.id).sort()).toEqual(failing.map((f) => f.body.id).sort());
      expect(dead.jobs[0]?.lastError).toContain('asked to fail');
      expect(dead.cursor).toBeNull();
      // Pages of one: the cursor walks them all.
      const first = await list('state=dead&limit=1');
      expect(first.jobs).toHaveLength(1);
      const second = await list(`state=dead&limit=1&cursor=${first.cursor}`);
      expect(second.jobs.map((j) => j.id)).not.toEqual(first.jobs.map((j) => j.id));
      // Another tenant sees none of them.
      expect((await c.call({ method: 'GET', path: '/jobs', tenant: tenant() })).body.jobs).toEqual([]);

      const one = await c.call({ method: 'POST', path: `/jobs/${failing[0]?.body.id}/redrive`, tenant: t });
      expect(one.body).toMatchObject({ state: 'ready', attempts: 0 });
      const again = await c.call({ method: 'POST', path: `/jobs/${failing[0]?.body.id}/redrive`, tenant: t });
      expect(again).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
      const all = await c.call({
        method: 'POST',
        path: '/jobs/redrive',
        body: { type: ECHO.type },
        tenant: t,
      });
      expect(all.body).toEqual({ type: ECHO.type, redriven: 1 });
      expect((await list('state=dead')).jobs).toEqual([]);
      expect((await list('state=ready')).jobs).toHaveLength(2);

      const cancelled = await c.call({ method: 'POST', path: `/jobs/${delayed.body.id}/cancel`, tenant: t });
      expect(cancelled.body).toMatchObject({ id: delayed.body.id, state: 'cancelled' });
      expect(
        (await c.call({ method: 'POST', path: `/jobs/${delayed.body.id}/cancel`, tenant: t })).status,
      ).toBe(409);
      expect((await list('state=cancelled')).jobs.map((j) => j.id)).toEqual([delayed.body.id]);
      const unknownType = await c.call({
        method: 'POST',
        path: '/jobs/redrive',
        body: { type: 'nope.x' },
        tenant: t,
      });
      expect(unknownType.status).toBe(400);
    });

    it('keeps the result of a built-in job: how many keys an invalidation deleted', async () => {
      const t = tenant();
      for (const k of ['user:1', 'user:2', 'user:3', 'team:1']) {
        await c.call({ method: 'PUT', path: `/cache/${k}`, body: 1, tenant: t });
      }
      const job = await c.call({
        method: 'POST',
        path: '/cache/invalidate',
        body: { prefix: 'user:' },
        tenant: t,
      });
      await c.drain();
      expect(
        (await c.call({ method: 'GET', path: `/jobs/${job.body.jobId}`, tenant: t })).body,
      ).toMatchObject({
        state: 'done',
        result: { deleted: 3 },
      });
    });
  });

  describe('API keys', () => {
    const withKey = (keyId: string, expiresAt?: number) => {
      const event = apiEvent({ method: 'GET', path: '/stats', tenant: 'acme' });
      const lambda = (event.requestContext as unknown as { authorizer: { lambda: Record<string, unknown> } })
        .authorizer.lambda;
      lambda.keyId = keyId;
      if (expiresAt !== undefined) lambda.expiresAt = expiresAt;
      return event;
    };

    it('refuses a key past its expiry at once, whatever the gateway cached', async () => {
      expect((await c.invoke(withKey('k_live', Date.now() + 60_000))).statusCode).toBe(200);
      const expired = await c.invoke(withKey('k_gone', Date.now() - 1));
      expect(expired.statusCode).toBe(401);
      expect(JSON.parse(expired.body ?? '{}').error).toMatchObject({ code: 'UNAUTHORIZED' });
    });

    it("records a key's last-used day once a day per container, in the round trip of the api check", async () => {
      const keyId = `k_${randomBytes(4).toString('hex')}`;
      await c.invoke(withKey('k_warm'));
      c.endpoint.resetStats();
      await c.invoke(withKey(keyId));
      const first = c.endpoint.stats(c.token);
      c.endpoint.resetStats();
      await c.invoke(withKey(keyId));
      const next = c.endpoint.stats(c.token);
      // The first request of the day adds one command to a round trip it makes anyway.
      expect(first.requests).toBe(next.requests);
      expect(first.commands).toBe(next.commands + 1);
      const usage = new ApiKeyUsage({
        redis: new UpstashRedisClient(upstashClient(c.endpoint.url, c.token)),
        keys: new KeyBuilder(c.prefix),
      });
      expect((await usage.lastUsed()).get(keyId)).toBe(new Date().toISOString().slice(0, 10));
    });
  });
});
