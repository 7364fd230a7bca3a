import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BUILTIN_JOB_TYPES } from '../../../lambda/services/queue/job-types';
import { ValidationError } from '../../../lambda/shared/errors';
import { ROUTES, routeKey } from '../../../lambda/shared/routes';
import { type ApiContainer, apiContainer } from '../../helpers/api-handler';
import { canonical } from '../../helpers/json';
import { type CapturedOutput, captureOutput } from '../../helpers/output';

/** Keys that have broken JavaScript servers before, and ordinary ones. */
const key = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toJSON', 'valueOf', 'hasOwnProperty'),
  fc.string({ maxLength: 8 }),
);

/**
 * Any JSON value as JSON text, risky keys included, up to a few levels. Built as text because an
 * object literal or `obj[key] = v` would turn a `__proto__` key into a prototype instead of data.
 */
const jsonText: fc.Arbitrary<string> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    fc.constantFrom('null', 'true', 'false', '0', '-1', '1.5', '1e21', '""', '"x"'),
    fc.string({ maxLength: 20 }).map((t) => JSON.stringify(t)),
    fc.integer().map(String),
    fc.array(tie('node'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    fc
      .array(fc.tuple(key, tie('node')), { maxLength: 4 })
      .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
  ),
})).node as fc.Arbitrary<string>;

/** Any JSON value (parsed from {@link jsonText}: risky keys are own properties). */
const jsonValue = jsonText.map((text) => JSON.parse(text) as unknown);

/** `value` inside `depth` arrays or `{"a": ...}` objects, as JSON text. */
const nested = (depth: number, objects: boolean, inner: string) =>
  objects
    ? `${'{"a":'.repeat(depth)}${inner}${'}'.repeat(depth)}`
    : `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

/** Arrays up to 6,000 deep or objects up to 3,000 deep (bodies stay under the 16 KiB limit). */
const deepText = fc
  .tuple(fc.integer({ min: 60, max: 6_000 }), fc.boolean())
  .map(([depth, objects]) => nested(objects ? Math.ceil(depth / 2) : depth, objects, '1'));

/** A value as JSON text: mostly ordinary, sometimes nested past the limit. */
const valueText = fc.oneof({ weight: 5, arbitrary: jsonText }, { weight: 1, arbitrary: deepText });

/** An object as JSON text, its keys risky or not. */
const objectText = fc
  .array(fc.tuple(key, valueText), { maxLength: 4 })
  .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`);

/** A string as JSON text: usually a valid id, sometimes not. */
const idText = fc
  .oneof(fc.constantFrom('u1', 'u2', 'm:', 'a*', ''), fc.string({ maxLength: 8 }))
  .map((t) => JSON.stringify(t));

/** Bodies each route would likely accept, so the write paths are attacked too, not only refusals. */
const LIKELY_VALID: Record<string, fc.Arbitrary<string>> = {
  'PUT /cache/{key}': valueText,
  'POST /cache/batch': fc.oneof(
    fc.array(idText, { minLength: 1, maxLength: 3 }).map((ids) => `{"get":[${ids.join(',')}]}`),
    valueText.map((v) => `{"set":[{"key":"b1","value":${v}}],"ttlMs":60000}`),
  ),
  'POST /cache/invalidate': idText.map((p) => `{"prefix":${p}}`),
  'POST /sessions': fc.tuple(idText, objectText).map(([u, d]) => `{"userId":${u},"data":${d}}`),
  'PATCH /sessions/{id}': fc
    .tuple(objectText, fc.array(key, { maxLength: 2 }))
    .map(([d, r]) => `{"data":${d},"remove":${JSON.stringify(r)}}`),
  'POST /rate-limits/{name}/check': fc
    .tuple(idText, fc.integer({ min: -1, max: 3 }))
    .map(([i, n]) => `{"identifier":${i},"cost":${n}}`),
  'POST /rate-limits/{name}/refund': fc
    .tuple(idText, fc.integer({ min: -1, max: 3 }))
    .map(([i, n]) => `{"identifier":${i},"cost":${n}}`),
  'POST /jobs/redrive': fc
    .constantFrom('sessions.revoke-user', 'cache.invalidate-prefix', 'migration.copy', 'x', '')
    .map((t) => `{"type":${JSON.stringify(t)}}`),
  'POST /jobs': fc
    .tuple(
      fc.constantFrom('sessions.revoke-user', 'cache.invalidate-prefix', 'x'),
      fc.oneof(objectText, deepText),
    )
    .map(([t, p]) => `{"type":"${t}","payload":${p}}`),
};

/** A body for a route that reads `fields`: near-valid objects, deep nests, other JSON and garbage. */
const bodyFor = (route: string, fields: readonly string[]) => {
  const fieldValue = fc.oneof(
    jsonText,
    fc.constantFrom(
      '"u1"',
      '"m:"',
      '"sessions.revoke-user"',
      '5',
      '60000',
      '{"__proto__":{"admin":true},"a":1}',
    ),
  );
  const nearValid = fc
    .tuple(
      fc
        .subarray([...fields])
        .chain((names) => fc.tuple(...names.map((n) => fieldValue.map((v) => [n, v] as const)))),
      fc.array(fc.tuple(key, jsonText), { maxLength: 2 }),
    )
    .map(([known, extra]) => {
      // JSON text, so a __proto__ key is sent as a field (an object literal would set the prototype).
      const pairs = [...known, ...extra].map(([k, v]) => `${JSON.stringify(k)}:${v}`);
      return `{${pairs.join(',')}}`;
    });
  return fc.oneof(
    { weight: 4, arbitrary: LIKELY_VALID[route] as fc.Arbitrary<string> },
    { weight: 3, arbitrary: nearValid },
    { weight: 2, arbitrary: jsonText },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.integer({ min: 60, max: 6_000 }), fc.boolean(), nearValid)
        .map(([depth, objects, inner]) => nested(depth, objects, inner)),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 60, max: 6_000 }), fc.boolean())
        .map(([depth, objects]) => `{"${fields[0]}":${nested(depth, objects, '1')}}`),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.string({ minLength: 5_000, maxLength: 6_000 }).map((s) => JSON.stringify(s)) },
  );
};

/** An Idempotency-Key header: none, a fresh valid one, or one the API must refuse with 400. */
const idempotencyKey = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.constant('fresh') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('a*b', 'x'.repeat(256), 'k[1]', 'back\\slash', 'tab\there', ''),
  },
);

/** Whether the API takes `key` as an Idempotency-Key (1-255 characters, no glob or control characters). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const validKey = (key: string) => key.length > 0 && key.length <= 255 && !/[*?[\]\\\u0000-\u001f]/.test(key);

/**
 * Property-based tests of hostile input through the api function as Lambda calls it: whatever the
 * body, query string or job payload, the answer is never a 5xx; a refusal is a 4xx JSON error;
 * and a refused request leaves the stored data as it was, checked through the public read path.
 */
describe('api input properties', () => {
  let c: ApiContainer;
  let output: CapturedOutput;
  const tenant = `t${randomBytes(4).toString('hex')}`;
  let sessionId: string;
  let jobId: string;

  /**
   * What a tenant can read back of the seeded data, through the API: values, sessions, its jobs
   * (one page of the list, by id and state), the queue's counts, what remains of a limit, and
   * whether a fixed Idempotency-Key is still free (a refused request must not claim it).
   */
  async function state() {
    const [cache, session, list, job, jobs, stats, limit, refund] = await Promise.all([
      c.call({ method: 'GET', path: '/cache/seed', tenant }),
      c.call({ method: 'GET', path: `/sessions/${sessionId}`, tenant }),
      c.call({ method: 'GET', path: '/users/u1/sessions', tenant }),
      c.call({ method: 'GET', path: `/jobs/${jobId}`, tenant }),
      c.call({ method: 'GET', path: '/jobs?limit=100', tenant }),
      c.call({ method: 'GET', path: '/stats', tenant }),
      c.call({ method: 'GET', path: '/rate-limits/search/u1', tenant }),
      c.call({ method: 'GET', path: '/rate-limits/search/i1', tenant }),
    ]);
    return canonical({
      cache: cache.body,
      session: session.body.data,
      sessions: list.body.sessions.map((s: { id: string; data: unknown }) => [s.id, s.data]),
      job: job.body,
      jobs: jobs.body.jobs.map((j: { id: string; state: string }) => [j.id, j.state]),
      queue: stats.body.queue,
      limit: limit.body.remaining,
      refund: refund.body.remaining,
    });
  }

  /** A response's shape: never 5xx; 4xx with a JSON `{error: {code, message}}`. */
  function expectNoFault(res: Awaited<ReturnType<ApiContainer['call']>>, what: string): void {
    expect(res.status, what).toBeLessThan(500);
    expect(res.headers['content-type'], what).toBe('application/json');
    if (res.status >= 400) {
      expect(typeof res.body?.error?.code, what).toBe('string');
      expect(typeof res.body?.error?.message, what).toBe('string');
    }
  }

  beforeAll(async () => {
    c = await apiContainer({
      rateLimits: {
        api: { algorithm: 'sliding-window', limit: 1_000_000, window: '1 h' },
        search: { algorithm: 'token-bucket', limit: 1_000_000, window: '1 h' },
      },
      api: { maxBodyBytes: 16_384 },
    });
    await c.call({ method: 'PUT', path: '/cache/seed', rawBody: '{"__proto__":{"a":1},"n":[1,2]}', tenant });
    const created = await c.call({
      method: 'POST',
      path: '/sessions',
      rawBody: '{"userId":"u1","data":{"constructor":{"x":1},"theme":"dark"}}',
      tenant,
    });
    sessionId = created.body.id;
    jobId = (
      await c.call({
        method: 'POST',
        path: '/jobs',
        body: { type: 'sessions.revoke-user', payload: { userId: 'nobody' } },
        tenant,
      })
    ).body.id;
  });
  afterAll(() => c.close());
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => output.restore());

  it('answers any body on any body route without a 5xx, and a refused one changes nothing', async () => {
    const targets = [
      { key: 'PUT /cache/{key}', path: '/cache/p', fields: ['v'] },
      { key: 'POST /cache/batch', path: '/cache/batch', fields: ['get', 'set', 'ttlMs'] },
      { key: 'POST /cache/invalidate', path: '/cache/invalidate', fields: ['prefix'] },
      { key: 'POST /sessions', path: '/sessions', fields: ['userId', 'data'] },
      { key: 'PATCH /sessions/{id}', path: '/sessions/:seed', fields: ['data', 'remove'] },
      {
        key: 'POST /rate-limits/{name}/check',
        path: '/rate-limits/search/check',
        fields: ['identifier', 'cost'],
      },
      {
        key: 'POST /rate-limits/{name}/refund',
        path: '/rate-limits/search/refund',
        fields: ['identifier', 'cost'],
      },
      {
        key: 'POST /jobs',
        path: '/jobs',
        fields: ['type', 'payload', 'priority', 'delayMs', 'maxAttempts', 'idempotencyKey'],
      },
      { key: 'POST /jobs/redrive', path: '/jobs/redrive', fields: ['type'] },
    ];
    // Every route that reads a body is attacked.
    expect(targets.map((t) => t.key).sort()).toEqual(
      ROUTES.filter((r) => r.body)
        .map(routeKey)
        .sort(),
    );
    let written = 0;
    let keyed = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...targets).chain((t) => fc.tuple(fc.constant(t), bodyFor(t.key, t.fields))),
        idempotencyKey,
        async ([target, body], header) => {
          const before = await state();
          const method = target.key.split(' ')[0] as string;
          const path = target.path === '/sessions/:seed' ? `/sessions/${sessionId}` : target.path;
          const key = header === 'fresh' ? `prop-${randomBytes(6).toString('hex')}` : header;
          const res = await c.call({
            method,
            path,
            rawBody: body,
            tenant,
            ...(key !== undefined ? { headers: { 'idempotency-key': key } } : {}),
          });
          const what = `${target.key} ${body.slice(0, 200)} key ${JSON.stringify(key)?.slice(0, 40)}`;
          expectNoFault(res, what);
          // A bad key is refused like bad input (400, or the body's own 4xx found first).
          if (key !== undefined && !validKey(key)) expect(res.status, what).toBeGreaterThanOrEqual(400);
          if (target.key === 'PUT /cache/{key}') {
            const read = await c.call({ method: 'GET', path: '/cache/p', tenant });
            if (res.status === 200) {
              // Stored and returned exactly, whatever the keys are called.
              expect(canonical(read.body.value), what).toBe(canonical(JSON.parse(body)));
              written++;
              await c.call({ method: 'DELETE', path: '/cache/p', tenant });
            } else expect(read.status, what).toBe(404);
          }
          if (target.key === 'POST /sessions' && res.status === 201) {
            // Stored and returned exactly: the answer, a read and the request's data agree.
            const read = await c.call({ method: 'GET', path: `/sessions/${res.body.id}`, tenant });
            expect(canonical(read.body.data), what).toBe(canonical(res.body.data));
            expect(canonical(res.body.data), what).toBe(canonical(JSON.parse(body).data ?? {}));
            written++;
            await c.call({ method: 'DELETE', path: `/sessions/${res.body.id}`, tenant });
          }
          if (target.key === 'POST /cache/batch' && res.status === 200 && 'stored' in res.body) {
            const read = await c.call({ method: 'GET', path: '/cache/b1', tenant });
            expect(canonical(read.body.value), what).toBe(canonical(JSON.parse(body).set[0].value));
            written++;
          }
          if (target.key === 'PATCH /sessions/{id}' && res.status === 200) {
            const read = await c.call({ method: 'GET', path: `/sessions/${sessionId}`, tenant });
            expect(canonical(read.body.data), what).toBe(canonical(res.body.data));
          }
          if (res.status >= 400) {
            expect(await state(), what).toBe(before);
            if (key !== undefined && validKey(key)) {
              // A refused request leaves its Idempotency-Key free: another request may take it.
              const probe = await c.call({
                method: 'PUT',
                path: `/cache/probe-${keyed++}`,
                body: 1,
                tenant,
                headers: { 'idempotency-key': key },
              });
              expect(probe.status, what).toBe(200);
              expect(probe.headers['idempotent-replayed'], what).toBeUndefined();
            }
          }
        },
      ),
      { numRuns: 150 },
    );
    // The generator reaches the write path, not only refusals, and keyed refusals.
    expect(written).toBeGreaterThan(0);
    expect(keyed).toBeGreaterThan(0);
  }, 120_000);

  it('refuses any undeclared query parameter with 400 on every route, changing nothing', async () => {
    const routes = ROUTES.map((r) => ({ r, path: r.path.replace(/\{[^}]+\}/g, 'x') }));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.dictionary(
          fc.oneof(
            fc.constantFrom('ttlMs', 'mode', 'ttl', 'TTLMS', '__proto__', ''),
            fc.string({ maxLength: 6 }),
          ),
          fc.oneof(fc.constantFrom('1', '60000', 'nx', 'xx', '-1', '1e3', ''), fc.string({ maxLength: 6 })),
          { minKeys: 1, maxKeys: 3 },
        ),
        async ({ r, path }, params) => {
          const before = await state();
          const query = new URLSearchParams(Object.entries(params)).toString();
          const res = await c.call({
            method: r.method,
            path: `${path}?${query}`,
            tenant: r.auth ? tenant : null,
            ...(r.body ? { body: 1 } : {}),
          });
          const what = `${routeKey(r)} ?${query}`;
          expectNoFault(res, what);
          const undeclared = Object.keys(params).filter((name) => !Object.hasOwn(r.query ?? {}, name));
          if (undeclared.length > 0) {
            expect(res.status, what).toBe(400);
            expect(res.body.error.message, what).toContain('unknown query parameter');
          }
          if (res.status >= 400) expect(await state(), what).toBe(before);
        },
      ),
      { numRuns: 100 },
    );
  }, 120_000);

  it('enqueues a job exactly when its type accepts the payload, else 400, never 5xx', async () => {
    const types = BUILTIN_JOB_TYPES.enqueueable();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...types),
        fc.oneof(
          jsonValue,
          fc.record({ prefix: fc.oneof(fc.string({ maxLength: 10 }), jsonValue) }),
          fc.record({ userId: fc.oneof(fc.string({ maxLength: 10 }), jsonValue) }),
        ),
        async (type, payload) => {
          let accepted: boolean;
          try {
            type.payload(payload);
            accepted = true;
          } catch (error) {
            expect(error).toBeInstanceOf(ValidationError);
            accepted = false;
          }
          const before = await state();
          const res = await c.call({
            method: 'POST',
            path: '/jobs',
            body: { type: type.type, payload },
            tenant,
          });
          const what = `${type.type} ${JSON.stringify(payload)}`;
          expectNoFault(res, what);
          expect(res.status, what).toBe(accepted ? 202 : 400);
          if (accepted) {
            const job = await c.call({ method: 'GET', path: `/jobs/${res.body.id}`, tenant });
            expect(job.body, what).toMatchObject({ type: type.type, state: 'ready' });
          } else expect(await state(), what).toBe(before);
        },
      ),
      { numRuns: 100 },
    );
  }, 120_000);
});
