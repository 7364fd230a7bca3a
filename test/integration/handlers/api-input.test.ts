import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ApiContainer, apiContainer } from '../../helpers/api-handler';
import { canonical } from '../../helpers/json';
import { type CapturedOutput, captureOutput } from '../../helpers/output';

/** `depth` nested arrays around `inner`, as JSON text. */
const nestedArrays = (depth: number, inner = '1') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;
/** `depth` nested objects `{"a":...}` around `inner`, as JSON text. */
const nestedObjects = (depth: number, inner = '1') => `${'{"a":'.repeat(depth)}${inner}${'}'.repeat(depth)}`;

/**
 * The one JSON input path and strict input, through the api function as Lambda calls it: depth
 * limits, prototype-safe objects, unknown query parameters and unknown job types.
 */
describe('api input', () => {
  let c: ApiContainer;
  let output: CapturedOutput;
  const tenant = () => `t${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    c = await apiContainer({
      rateLimits: { api: { algorithm: 'sliding-window', limit: 100_000, window: '1 h' } },
    });
  });
  afterAll(() => c.close());
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => output.restore());

  describe('keys that name the prototype', () => {
    const risky = '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}},"prototype":[1],"n":1}';

    it('stores and returns session data with __proto__, constructor and prototype keys exactly', async () => {
      const t = tenant();
      const created = await c.call({
        method: 'POST',
        path: '/sessions',
        rawBody: `{"userId":"u1","data":${risky}}`,
        tenant: t,
      });
      expect(created.status).toBe(201);
      expect(canonical(created.body.data)).toBe(canonical(JSON.parse(risky)));

      const read = await c.call({ method: 'GET', path: `/sessions/${created.body.id}`, tenant: t });
      expect(read.status).toBe(200);
      expect(canonical(read.body.data)).toBe(canonical(JSON.parse(risky)));
      // Data, not a prototype: the returned object has plain Object.prototype and no inherited admin.
      expect(Object.hasOwn(read.body.data, '__proto__')).toBe(true);

      const listed = await c.call({ method: 'GET', path: '/users/u1/sessions', tenant: t });
      expect(canonical(listed.body.sessions[0].data)).toBe(canonical(JSON.parse(risky)));
    });

    it('patches and removes fields named __proto__ and constructor', async () => {
      const t = tenant();
      const created = await c.call({
        method: 'POST',
        path: '/sessions',
        rawBody: '{"userId":"u1","data":{"constructor":1,"keep":2}}',
        tenant: t,
      });
      const patched = await c.call({
        method: 'PATCH',
        path: `/sessions/${created.body.id}`,
        rawBody: '{"data":{"__proto__":{"polluted":true}},"remove":["constructor"]}',
        tenant: t,
      });
      expect(patched.status).toBe(200);
      expect(canonical(patched.body.data)).toBe('{"__proto__":{"polluted":true},"keep":2}');
      const read = await c.call({ method: 'GET', path: `/sessions/${created.body.id}`, tenant: t });
      expect(canonical(read.body.data)).toBe('{"__proto__":{"polluted":true},"keep":2}');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('stores and returns a cache value with those keys exactly, in a batch too', async () => {
      const t = tenant();
      expect((await c.call({ method: 'PUT', path: '/cache/p', rawBody: risky, tenant: t })).status).toBe(200);
      const read = await c.call({ method: 'GET', path: '/cache/p', tenant: t });
      expect(canonical(read.body.value)).toBe(canonical(JSON.parse(risky)));
      await c.call({
        method: 'POST',
        path: '/cache/batch',
        rawBody: `{"set":[{"key":"q","value":${risky}}]}`,
        tenant: t,
      });
      const batch = await c.call({ method: 'POST', path: '/cache/batch', body: { get: ['q'] }, tenant: t });
      expect(canonical(batch.body.items[0].value)).toBe(canonical(JSON.parse(risky)));
    });

    it('refuses a body field named __proto__ like any unknown field', async () => {
      const t = tenant();
      const res = await c.call({
        method: 'POST',
        path: '/sessions',
        rawBody: '{"userId":"u1","__proto__":{"userId":"u2"}}',
        tenant: t,
      });
      expect(res).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
      expect(res.body.error.message).toContain('__proto__');
    });
  });

  describe('nesting depth', () => {
    it('accepts a body nested 64 deep and refuses 65 with 400, storing nothing', async () => {
      const t = tenant();
      const ok = await c.call({ method: 'PUT', path: '/cache/deep', rawBody: nestedArrays(64), tenant: t });
      expect(ok.status).toBe(200);
      const tooDeep = await c.call({
        method: 'PUT',
        path: '/cache/deeper',
        rawBody: nestedArrays(65),
        tenant: t,
      });
      expect(tooDeep).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
      expect(tooDeep.body.error.message).toMatch(/nested deeper than 64/);
      expect((await c.call({ method: 'GET', path: '/cache/deeper', tenant: t })).status).toBe(404);
    });

    it('answers 400, never 500, for a job payload or session data nested 5,000 deep', async () => {
      const t = tenant();
      const before = (await c.call({ method: 'GET', path: '/stats', tenant: t })).body.queue;
      const job = await c.call({
        method: 'POST',
        path: '/jobs',
        rawBody: `{"type":"sessions.revoke-user","payload":${nestedArrays(5_000)}}`,
        tenant: t,
      });
      expect(job).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
      const session = await c.call({
        method: 'POST',
        path: '/sessions',
        rawBody: `{"userId":"u1","data":{"a":${nestedObjects(5_000)}}}`,
        tenant: t,
      });
      expect(session).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
      const cache = await c.call({
        method: 'PUT',
        path: '/cache/d',
        rawBody: nestedObjects(5_000),
        tenant: t,
      });
      expect(cache).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });

      expect((await c.call({ method: 'GET', path: '/users/u1/sessions', tenant: t })).body.sessions).toEqual(
        [],
      );
      expect((await c.call({ method: 'GET', path: '/stats', tenant: t })).body.queue).toEqual(before);
    });

    it('answers 400 for a session patch nested too deep and leaves the session as it was', async () => {
      const t = tenant();
      const created = await c.call({
        method: 'POST',
        path: '/sessions',
        body: { userId: 'u1', data: { a: 1 } },
        tenant: t,
      });
      const res = await c.call({
        method: 'PATCH',
        path: `/sessions/${created.body.id}`,
        rawBody: `{"data":{"a":${nestedArrays(3_000)}}}`,
        tenant: t,
      });
      expect(res.status).toBe(400);
      const read = await c.call({ method: 'GET', path: `/sessions/${created.body.id}`, tenant: t });
      expect(read.body.data).toEqual({ a: 1 });
    });
  });

  describe('query strings', () => {
    it('refuses an unknown query parameter with 400 and stores nothing (PUT /cache/k?ttl=5)', async () => {
      const t = tenant();
      const res = await c.call({ method: 'PUT', path: '/cache/k?ttl=5', body: 1, tenant: t });
      expect(res).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
      expect(res.body.error.message).toContain('"ttl"');
      expect(res.body.error.message).toContain('ttlMs');
      expect((await c.call({ method: 'GET', path: '/cache/k', tenant: t })).status).toBe(404);
    });

    it('refuses query parameters on routes that take none', async () => {
      const t = tenant();
      const get = await c.call({ method: 'GET', path: '/cache/k?ttlMs=5', tenant: t });
      expect(get).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
      expect(get.body.error.message).toMatch(/takes no query parameters/);
      const jobs = await c.call({
        method: 'POST',
        path: '/jobs?priority=high',
        body: { type: 'x' },
        tenant: t,
      });
      expect(jobs.status).toBe(400);
      expect((await c.call({ method: 'GET', path: '/health?verbose=1' })).status).toBe(400);
    });

    it('still reads the declared parameters', async () => {
      const t = tenant();
      expect(
        (await c.call({ method: 'PUT', path: '/cache/k?ttlMs=60000&mode=nx', body: 1, tenant: t })).body,
      ).toEqual({
        key: 'k',
        stored: true,
      });
      expect(
        (await c.call({ method: 'PUT', path: '/cache/k?mode=nx', body: 2, tenant: t })).body.stored,
      ).toBe(false);
    });
  });

  describe('job types', () => {
    it('refuses an unknown job type at enqueue with 400 listing the known types', async () => {
      const t = tenant();
      const before = (await c.call({ method: 'GET', path: '/stats', tenant: t })).body.queue;
      const res = await c.call({ method: 'POST', path: '/jobs', body: { type: 'report.build' }, tenant: t });
      expect(res).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
      expect(res.body.error.message).toContain('cache.invalidate-prefix');
      expect(res.body.error.message).toContain('sessions.revoke-user');
      expect(res.body.error.message).not.toContain('migration.copy');
      expect((await c.call({ method: 'GET', path: '/stats', tenant: t })).body.queue).toEqual(before);
    });

    it('validates the payload of a known type at enqueue', async () => {
      const t = tenant();
      for (const payload of [undefined, {}, { userId: '' }, { userId: 'u*' }, { userId: 'u', extra: 1 }]) {
        const res = await c.call({
          method: 'POST',
          path: '/jobs',
          body: { type: 'sessions.revoke-user', ...(payload ? { payload } : {}) },
          tenant: t,
        });
        expect(res.status, JSON.stringify(payload)).toBe(400);
      }
      const invalidate = await c.call({
        method: 'POST',
        path: '/jobs',
        body: { type: 'cache.invalidate-prefix', payload: { prefix: 'a?' } },
        tenant: t,
      });
      expect(invalidate.status).toBe(400);
    });

    it('refuses operator-only types with 403, known or not', async () => {
      const t = tenant();
      for (const type of ['migration.copy', 'migration.other']) {
        const res = await c.call({
          method: 'POST',
          path: '/jobs',
          body: { type, payload: { database: 'x' } },
          tenant: t,
        });
        expect(res).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
      }
    });
  });
});
