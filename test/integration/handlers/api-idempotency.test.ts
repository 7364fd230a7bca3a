import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type * as ApiModule from '../../../lambda/handlers/api';
import { CREATE_SCRIPT } from '../../../lambda/services/sessions/scripts';
import { parseConfig, runtimeConfig } from '../../../lib/config';
import type { UpstashEndpoint } from '../../../local/upstash/server';
import { type FaultProxy, startFaultProxy } from '../../helpers/fault-proxy';
import { type ApiCall, apiEvent, bodyOf } from '../../helpers/http';
import { lambdaContext } from '../../helpers/lambda';
import { type CapturedOutput, captureOutput } from '../../helpers/output';
import { privateEndpoint, randomPrefix } from '../../helpers/redis';

/**
 * `Idempotency-Key` through the api function as Lambda calls it, on the real Redis: replay,
 * mismatch, in flight, what a refusal leaves behind, the cost in round trips, and the retry of a
 * create whose answer was lost (a proxy in front of the endpoint loses or refuses requests).
 */
describe('api handler: Idempotency-Key', () => {
  let endpoint: UpstashEndpoint;
  let token: string;
  let proxy: FaultProxy;
  let api: typeof ApiModule;
  let output: CapturedOutput;
  const tenant = () => `t${randomBytes(4).toString('hex')}`;
  const key = () => `key-${randomBytes(6).toString('hex')}`;

  /**
   * A fresh container (a new module graph: new clients, circuits and caches) on the proxy, with
   * `features` placing the databases (the default: one database for everything).
   */
  async function container(config: Record<string, unknown> = {}, features?: Record<string, string>) {
    delete process.env.UPSTASH_DATABASES;
    if (features) process.env.FEATURE_DATABASES = JSON.stringify(features);
    else delete process.env.FEATURE_DATABASES;
    Object.assign(process.env, {
      UPSTASH_REDIS_REST_URL: proxy.url,
      UPSTASH_REDIS_REST_TOKEN: token,
      APP_CONFIG: JSON.stringify(
        runtimeConfig(
          parseConfig({
            databases: { main: { secretName: 'm' } },
            rateLimits: { api: { algorithm: 'sliding-window', limit: 100_000, window: '1 h' } },
            ...config,
          }),
        ),
      ),
    });
    vi.resetModules();
    await (await import('../../../lambda/shared/runtime')).resetRuntimeForTests();
    api = await import('../../../lambda/handlers/api');
  }

  const call = async (c: ApiCall, remainingMs = 10_000) => {
    const response = await api.handler(apiEvent(c), lambdaContext({ functionName: 'api', remainingMs }));
    return {
      status: response.statusCode,
      headers: response.headers,
      body: bodyOf(response),
      raw: response.body,
    };
  };
  const withKey = (c: ApiCall, k: string): ApiCall => ({
    ...c,
    headers: { ...c.headers, 'idempotency-key': k },
  });
  const sessionsOf = async (t: string, userId: string) =>
    (await call({ method: 'GET', path: `/users/${userId}/sessions`, tenant: t })).body.sessions as unknown[];

  beforeAll(async () => {
    ({ endpoint, token } = await privateEndpoint(`idem-${randomBytes(4).toString('hex')}`));
    proxy = await startFaultProxy(endpoint.url);
    process.env.KEY_PREFIX = randomPrefix();
    process.env.POWERTOOLS_METRICS_NAMESPACE = 'ApiTest';
    await container();
  });
  afterAll(async () => {
    await proxy.close();
    await endpoint.close();
  });
  beforeEach(() => {
    output = captureOutput();
    proxy.decide = () => 'pass';
    proxy.seen.length = 0;
  });
  afterEach(() => output.restore());

  it('replays the first answer to the same request, marked Idempotent-Replayed, with one effect', async () => {
    const t = tenant();
    const k = key();
    const create = withKey(
      { method: 'POST', path: '/sessions', body: { userId: 'u1', data: { a: 1 } }, tenant: t },
      k,
    );
    const first = await call(create);
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await call(create);
    expect(again).toMatchObject({ status: 201, raw: first.raw });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers['ratelimit-remaining']).toBeDefined();
    // Key order and spacing of the body do not make another request.
    const reordered = await call({
      ...create,
      body: undefined,
      rawBody: '{ "data": {"a":1}, "userId": "u1" }',
    });
    expect(reordered).toMatchObject({ status: 201, raw: first.raw });
    expect(await sessionsOf(t, 'u1')).toHaveLength(1);
  });

  it('answers 422 for another request under a used key (body, path or method), changing nothing', async () => {
    const t = tenant();
    const k = key();
    expect((await call(withKey({ method: 'PUT', path: '/cache/a', body: 1, tenant: t }, k))).status).toBe(
      200,
    );
    for (const other of [
      { method: 'PUT', path: '/cache/a', body: 2 },
      { method: 'PUT', path: '/cache/b', body: 1 },
      { method: 'PUT', path: '/cache/a?ttlMs=5000', body: 1 },
      { method: 'DELETE', path: '/cache/a' },
    ]) {
      const res = await call(withKey({ ...other, tenant: t }, k));
      expect(res, `${other.method} ${other.path}`).toMatchObject({
        status: 422,
        body: { error: { code: 'IDEMPOTENCY_KEY_REUSED' } },
      });
    }
    expect((await call({ method: 'GET', path: '/cache/a', tenant: t })).body.value).toBe(1);
    expect((await call({ method: 'GET', path: '/cache/b', tenant: t })).status).toBe(404);
    // Keys are the tenant's own: another tenant's same key is a fresh request.
    expect(
      (await call(withKey({ method: 'PUT', path: '/cache/a', body: 9, tenant: tenant() }, k))).status,
    ).toBe(200);
  });

  it('answers 50 concurrent identical requests once: one original, the rest 409 or replayed, then all the same', async () => {
    const t = tenant();
    const k = key();
    const create = withKey({ method: 'POST', path: '/sessions', body: { userId: 'u50' }, tenant: t }, k);
    const answers = await Promise.all(Array.from({ length: 50 }, () => call(create)));
    const originals = answers.filter(
      (a) => a.status === 201 && a.headers['idempotent-replayed'] === undefined,
    );
    expect(originals).toHaveLength(1);
    for (const a of answers) {
      if (a.status === 409) {
        expect(a.body.error.code).toBe('IDEMPOTENCY_KEY_IN_USE');
        expect(a.headers['retry-after']).toBe('1');
      } else {
        expect(a.status).toBe(201);
      }
    }
    // Those told 409 retry as told; every answer is then the first one.
    const settled = await Promise.all(
      answers.map(async (a) => {
        let answer = a;
        while (answer.status === 409) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          answer = await call(create);
        }
        return answer;
      }),
    );
    expect(new Set(settled.map((a) => `${a.status} ${a.raw}`)).size).toBe(1);
    expect(settled.filter((a) => a.headers['idempotent-replayed'] === 'true')).toHaveLength(49);
    expect(await sessionsOf(t, 'u50')).toHaveLength(1);
  });

  it('stores a create with its answer in one script: no round trip more than without a key; a replay is one', async () => {
    const t = tenant();
    const create = (k?: string) => {
      const c: ApiCall = { method: 'POST', path: '/sessions', body: { userId: 'u1' }, tenant: t };
      return k ? withKey(c, k) : c;
    };
    await call(create(key())); // scripts loaded: a warm container's cost
    endpoint.resetStats();
    await call(create());
    const plain = endpoint.stats(token);
    endpoint.resetStats();
    const k = key();
    await call(create(k));
    const keyed = endpoint.stats(token);
    endpoint.resetStats();
    await call(create(k));
    const replayed = endpoint.stats(token);
    // Without a key: the limit check, then the create. With one: the claim rides the check,
    // the answer rides the create. A replay: the check and the claim, nothing else.
    expect(plain.requests).toBe(2);
    expect(keyed.requests).toBe(2);
    expect(keyed.commands).toBe(plain.commands + 1);
    expect(replayed).toMatchObject({ requests: 1, commands: 2 });
  });

  it('leaves the key free after a refusal: bad input, a 404, a 409 or the api limit', async () => {
    const t = tenant();
    const k = key();
    const refusals: ApiCall[] = [
      { method: 'POST', path: '/sessions', body: { userId: '' } },
      { method: 'POST', path: '/rate-limits/nope/check', body: { identifier: 'i' } },
      { method: 'POST', path: `/sessions/${'A'.repeat(43)}/regenerate` },
      { method: 'POST', path: `/jobs/${'A'.repeat(22)}/cancel` },
    ];
    for (const refusal of refusals) {
      const res = await call(withKey({ ...refusal, tenant: t }, k));
      expect(res.status, refusal.path).toBeGreaterThanOrEqual(400);
      expect(res.status, refusal.path).toBeLessThan(500);
    }
    expect((await call(withKey({ method: 'PUT', path: '/cache/free', body: 1, tenant: t }, k))).status).toBe(
      200,
    );

    await container({ rateLimits: { api: { algorithm: 'fixed-window', limit: 1, window: '1 h' } } });
    const t2 = tenant();
    expect((await call({ method: 'GET', path: '/stats', tenant: t2 })).status).toBe(200);
    const limited = await call(withKey({ method: 'PUT', path: '/cache/x', body: 1, tenant: t2 }, k));
    expect(limited.status).toBe(429);
    await container({ rateLimits: { api: { algorithm: 'fixed-window', limit: 100, window: '1 h' } } });
    const later = await call(withKey({ method: 'PUT', path: '/cache/y', body: 2, tenant: t2 }, k));
    expect(later.status).toBe(200);
    expect((await call({ method: 'GET', path: '/cache/x', tenant: t2 })).status).toBe(404);
    await container();
  });

  it('refuses a bad key with 400 before any command; a batch read ignores the key', async () => {
    const t = tenant();
    endpoint.resetStats();
    for (const bad of ['a*', 'x'.repeat(256), '']) {
      const res = await call(withKey({ method: 'PUT', path: '/cache/k', body: 1, tenant: t }, bad));
      expect(res).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
      expect(res.body.error.message).toContain('Idempotency-Key');
    }
    expect(endpoint.stats(token).requests).toBe(0);
    const k = key();
    const read = withKey({ method: 'POST', path: '/cache/batch', body: { get: ['k'] }, tenant: t }, k);
    expect((await call(read)).headers['idempotent-replayed']).toBeUndefined();
    expect((await call(read)).headers['idempotent-replayed']).toBeUndefined();
  });

  describe('a retried create after a 503', () => {
    const createSha = CREATE_SCRIPT.variants.upstash.sha;
    const isCreate = (body: string) => body.includes(createSha) || body.includes('session.create');
    /** The proxy passes commands until a create, loses that create's answer, then refuses all. */
    const loseTheCreate = () => {
      const state = { lost: false };
      proxy.decide = (body) => {
        if (state.lost) return 'refuse';
        if (isCreate(body)) {
          state.lost = true;
          return 'lose';
        }
        return 'pass';
      };
      return state;
    };

    it('creates no duplicate when the create ran but its answer was lost (answer stored with it)', async () => {
      await container();
      const t = tenant();
      const k = key();
      const create = withKey({ method: 'POST', path: '/sessions', body: { userId: 'u1' }, tenant: t }, k);
      expect((await call(withKey({ ...create, body: { userId: 'warm' } }, key()))).status).toBe(201);
      // The create runs, its answer is lost, and the database stays away past the deadline.
      const proxied = loseTheCreate();
      const first = await call(create, 2_500);
      expect(first.status).toBe(503);
      expect(first.body.error.outcome).toBe('unknown');
      expect(proxied.lost).toBe(true);
      proxy.decide = () => 'pass';
      // The retry reaches another container: the create's own script stored its answer.
      await container();
      const retry = await call(create);
      expect(retry.status).toBe(201);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      const sessions = (await sessionsOf(t, 'u1')) as Array<{ id: string }>;
      expect(sessions.map((s) => s.id)).toEqual([retry.body.id]);
    }, 30_000);

    it('creates no duplicate when the answer is stored apart: the retry resumes with the same token', async () => {
      // Sessions on a database of their own: the create cannot write the answer in its script.
      const features = { cache: 'main', sessions: 'state', rateLimit: 'main', locks: 'main', queue: 'main' };
      await container({}, features);
      const t = tenant();
      const k = key();
      const create = withKey({ method: 'POST', path: '/sessions', body: { userId: 'u2' }, tenant: t }, k);
      expect((await call(withKey({ ...create, body: { userId: 'warm' } }, key()))).status).toBe(201);
      loseTheCreate();
      const first = await call(create, 2_500);
      expect(first).toMatchObject({ status: 503, body: { error: { outcome: 'unknown' } } });
      proxy.decide = () => 'pass';
      await container({}, features);
      // The first run's claim holds until its lease ends (its deadline): retry as told.
      let retry = await call(create);
      while (retry.status === 409) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        retry = await call(create);
      }
      expect(retry.status).toBe(201);
      const sessions = (await sessionsOf(t, 'u2')) as Array<{ id: string }>;
      expect(sessions.map((s) => s.id)).toEqual([retry.body.id]);
      // And from now on the answer is replayed.
      expect(await call(create)).toMatchObject({
        status: 201,
        raw: retry.raw,
        headers: { 'idempotent-replayed': 'true' },
      });
      await container();
    }, 30_000);

    it('runs afresh after a 503 not-applied: the claim was released', async () => {
      await container();
      const t = tenant();
      const k = key();
      const create = withKey({ method: 'POST', path: '/sessions', body: { userId: 'u3' }, tenant: t }, k);
      expect((await call(withKey({ ...create, body: { userId: 'warm' } }, key()))).status).toBe(201);
      // The create is dropped before it runs: unknown to the client until the check of what
      // became of it fences its id off (503 not-applied), and the claim is released.
      proxy.decide = (body) => (isCreate(body) ? 'refuse' : 'pass');
      const first = await call(create, 2_500);
      expect(first).toMatchObject({ status: 503, body: { error: { outcome: 'not-applied' } } });
      expect(proxy.seen.some((r) => r.fate === 'refuse')).toBe(true);
      proxy.decide = () => 'pass';
      await container();
      const retry = await call(create);
      expect(retry.status).toBe(201);
      expect(retry.headers['idempotent-replayed']).toBeUndefined();
      expect(await sessionsOf(t, 'u3')).toHaveLength(1);
    }, 30_000);
  });
});
