import { createHash } from 'node:crypto';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalApp, startLocalApp } from '../../local/app';
import { type RawResponse, send } from '../helpers/http-client';
import { expectAnswersMatchOpenApi } from '../helpers/openapi';
import { randomPrefix } from '../helpers/redis';

/**
 * Bad requests over real HTTP against the stack `npm start` runs: each one is answered 4xx with a
 * JSON error, none 5xx, none hangs, and the stored data is byte-for-byte unchanged afterwards.
 */

interface BadRequest {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /** Which key to send: the full-scope one (default), a read-only one, a wrong one, or none. */
  readonly key?: 'full' | 'read-only' | 'wrong' | 'truncated' | 'none';
  readonly status: number;
}

const json = (value: unknown) => JSON.stringify(value);
const big = (bytes: number) => json({ blob: 'x'.repeat(bytes) });

describe('bad requests (end to end)', () => {
  let stack: LocalApp;
  let readOnlyKey: string;
  let sessionId: string;
  let prefix: string;
  let redis: IORedis;

  beforeAll(async () => {
    prefix = randomPrefix();
    stack = await startLocalApp({
      port: 0,
      // No redisUrl: a Redis of its own, so its SCANs (the snapshot, prefix invalidation) walk
      // only this stack's keys.
      keyPrefix: prefix,
      scheduler: false,
      // The table is sent in a burst; this test is about validation, not the api limit.
      config: { rateLimits: { api: { algorithm: 'sliding-window', limit: 10_000, window: '60 s' } } },
    });
    readOnlyKey = (await stack.mintKey(stack.tenant, ['cache:read'])).key;
    // Some data for the requests to try to damage.
    const put = await call({ method: 'PUT', path: '/cache/a', body: json({ v: 1 }) });
    expect(put.status).toBe(200);
    const created = await call({
      method: 'POST',
      path: '/sessions',
      body: json({ userId: 'u1', data: { theme: 'dark' } }),
    });
    sessionId = created.json<{ id: string }>().id;
    redis = new IORedis(stack.redisUrl, { lazyConnect: true });
    await redis.connect();
  });
  afterAll(async () => {
    await redis?.quit();
    await stack?.stop();
  });

  async function call(request: Omit<BadRequest, 'name' | 'status'>): Promise<RawResponse> {
    const headers: Record<string, string> = { ...request.headers };
    const key =
      request.key === 'read-only'
        ? readOnlyKey
        : request.key === 'wrong'
          ? 'usk_wrong-key-that-was-never-minted-000000000000'
          : request.key === 'truncated'
            ? stack.apiKey.slice(0, -3)
            : request.key === 'none'
              ? undefined
              : stack.apiKey;
    if (key !== undefined) headers['x-api-key'] = key;
    if (request.body !== undefined) headers['content-type'] ??= 'application/json';
    return send(`${stack.url}${request.path}`, {
      method: request.method,
      headers,
      ...(request.body !== undefined ? { body: request.body } : {}),
    });
  }

  /**
   * A digest of every data key of the stack (cache, sessions, queue, idempotency records) in
   * every database: type, name and DUMP of the value. Rate-limit counters, stats and the days keys
   * were last used are left out on purpose: they count bad requests too (they are traffic), and
   * none is user data.
   */
  async function snapshot(): Promise<string> {
    const lines: string[] = [];
    for (const db of [0, 1]) {
      await redis.select(db);
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) {
          if (/:(ratelimit|stats|apikey):/.test(key)) continue;
          const dump = await redis.dumpBuffer(key);
          lines.push(`${db} ${key} ${dump ? createHash('sha256').update(dump).digest('hex') : 'gone'}`);
        }
      } while (cursor !== '0');
    }
    await redis.select(0);
    return lines.sort().join('\n');
  }

  const table = (): BadRequest[] => {
    const s = `/sessions/${sessionId}`;
    return [
      // Bodies
      { name: 'malformed JSON', method: 'PUT', path: '/cache/a', body: '{', status: 400 },
      { name: 'truncated JSON', method: 'PUT', path: '/cache/a', body: '{"v":', status: 400 },
      { name: 'trailing garbage', method: 'PUT', path: '/cache/a', body: '{"v":1} x', status: 400 },
      { name: 'missing body', method: 'PUT', path: '/cache/a', status: 400 },
      {
        name: 'text body',
        method: 'PUT',
        path: '/cache/a',
        body: 'hello',
        headers: { 'content-type': 'text/plain' },
        status: 415,
      },
      { name: 'body on a GET', method: 'GET', path: '/cache/a', body: json({ v: 2 }), status: 400 },
      {
        name: 'value over cache.maxValueBytes',
        method: 'PUT',
        path: '/cache/a',
        body: big(200_000),
        status: 413,
      },
      {
        name: 'body over api.maxBodyBytes',
        method: 'PUT',
        path: '/cache/a',
        body: big(1_100_000),
        status: 413,
      },
      {
        name: 'body over the gateway 10 MB',
        method: 'PUT',
        path: '/cache/a',
        body: big(10_600_000),
        status: 413,
      },
      // TTLs and modes
      { name: 'zero TTL', method: 'PUT', path: '/cache/a?ttlMs=0', body: json(2), status: 400 },
      { name: 'negative TTL', method: 'PUT', path: '/cache/a?ttlMs=-5', body: json(2), status: 400 },
      { name: 'text TTL', method: 'PUT', path: '/cache/a?ttlMs=abc', body: json(2), status: 400 },
      { name: 'fractional TTL', method: 'PUT', path: '/cache/a?ttlMs=1.5', body: json(2), status: 400 },
      {
        name: 'TTL over a year',
        method: 'PUT',
        path: '/cache/a?ttlMs=99999999999999',
        body: json(2),
        status: 400,
      },
      {
        name: 'bad TTL header',
        method: 'PUT',
        path: '/cache/a',
        body: json(2),
        headers: { 'x-ttl-ms': 'ten' },
        status: 400,
      },
      { name: 'unknown mode', method: 'PUT', path: '/cache/a?mode=upsert', body: json(2), status: 400 },
      { name: 'unknown query parameter', method: 'PUT', path: '/cache/a?ttl=5', body: json(2), status: 400 },
      { name: 'query on a route without any', method: 'GET', path: '/stats?tenant=other', status: 400 },
      { name: 'two modes', method: 'PUT', path: '/cache/a?mode=nx&mode=xx', body: json(2), status: 400 },
      // Keys
      { name: 'key over 512 bytes', method: 'GET', path: `/cache/${'k'.repeat(513)}`, status: 400 },
      {
        name: 'key with a control character',
        method: 'PUT',
        path: '/cache/a%00b',
        body: json(2),
        status: 400,
      },
      { name: 'key with a glob', method: 'DELETE', path: '/cache/a*', status: 400 },
      { name: 'key with brackets', method: 'GET', path: '/cache/%5Ba%5D', status: 400 },
      { name: 'malformed percent-encoding', method: 'DELETE', path: '/cache/%E0%A4%A', status: 400 },
      { name: 'user id with a glob', method: 'DELETE', path: '/users/u*/sessions', status: 400 },
      // Routes and methods
      { name: 'unknown route', method: 'GET', path: '/nope', status: 404 },
      { name: 'root', method: 'GET', path: '/', status: 404 },
      { name: 'empty key', method: 'DELETE', path: '/cache/', status: 404 },
      { name: 'nested key path', method: 'PUT', path: '/cache/a/b', body: json(2), status: 404 },
      { name: 'POST on a key', method: 'POST', path: '/cache/a', body: json(2), status: 405 },
      { name: 'PATCH on a key', method: 'PATCH', path: '/cache/a', body: json(2), status: 405 },
      { name: 'DELETE on health', method: 'DELETE', path: '/health', status: 405 },
      { name: 'PUT on jobs', method: 'PUT', path: '/jobs', status: 405 },
      // Jobs, limits, sessions and namespaces (issue 16)
      { name: 'list of an unknown state', method: 'GET', path: '/jobs?state=lost', status: 400 },
      { name: 'list of 0 jobs', method: 'GET', path: '/jobs?limit=0', status: 400 },
      {
        name: 'list from a forged cursor',
        method: 'GET',
        path: '/jobs?cursor=bm90LWEtY3Vyc29y',
        status: 400,
      },
      { name: 'redrive without a type', method: 'POST', path: '/jobs/redrive', body: json({}), status: 400 },
      {
        name: 'redrive of an unknown type',
        method: 'POST',
        path: '/jobs/redrive',
        body: json({ type: 'nope' }),
        status: 400,
      },
      {
        name: 'cancel of an unknown job',
        method: 'POST',
        path: `/jobs/${'A'.repeat(22)}/cancel`,
        status: 404,
      },
      {
        name: 'redrive of an unknown job',
        method: 'POST',
        path: `/jobs/${'A'.repeat(22)}/redrive`,
        status: 404,
      },
      {
        name: 'refund of cost 0',
        method: 'POST',
        path: '/rate-limits/api/refund',
        body: json({ identifier: 'i', cost: 0 }),
        status: 400,
      },
      { name: 'read of an unknown limit', method: 'GET', path: '/rate-limits/nope/i', status: 404 },
      {
        name: 'limit reset without the admin scope',
        method: 'DELETE',
        path: '/rate-limits/api/i',
        key: 'read-only',
        status: 403,
      },
      {
        name: 'regenerate of a forged session',
        method: 'POST',
        path: `/sessions/${'x'.repeat(43)}/regenerate`,
        status: 404,
      },
      {
        name: 'regenerate with a body',
        method: 'POST',
        path: `${s}/regenerate`,
        body: json({}),
        status: 400,
      },
      {
        name: 'invalidate an undeclared namespace',
        method: 'POST',
        path: '/cache/namespaces/nope/invalidate',
        status: 404,
      },
      {
        name: 'a glob in an Idempotency-Key',
        method: 'PUT',
        path: '/cache/a',
        body: json({ v: 9 }),
        headers: { 'idempotency-key': 'k*' },
        status: 400,
      },
      {
        name: 'an Idempotency-Key over 255 characters',
        method: 'POST',
        path: '/sessions',
        body: json({ userId: 'u9' }),
        headers: { 'idempotency-key': 'k'.repeat(256) },
        status: 400,
      },
      {
        name: 'an Idempotency-Key on bad input',
        method: 'PATCH',
        path: s,
        body: json({}),
        headers: { 'idempotency-key': 'fresh-key' },
        status: 400,
      },
      // Batches
      { name: 'empty batch', method: 'POST', path: '/cache/batch', body: json({}), status: 400 },
      { name: 'empty get', method: 'POST', path: '/cache/batch', body: json({ get: [] }), status: 400 },
      {
        name: '101 keys',
        method: 'POST',
        path: '/cache/batch',
        body: json({ get: Array.from({ length: 101 }, (_, i) => `k${i}`) }),
        status: 400,
      },
      {
        name: 'numeric keys',
        method: 'POST',
        path: '/cache/batch',
        body: json({ get: [1, 2] }),
        status: 400,
      },
      {
        name: 'get as a string',
        method: 'POST',
        path: '/cache/batch',
        body: json({ get: 'a' }),
        status: 400,
      },
      {
        name: 'get and set together',
        method: 'POST',
        path: '/cache/batch',
        body: json({ get: ['a'], set: [{ key: 'a', value: 9 }] }),
        status: 400,
      },
      {
        name: 'set entry without value',
        method: 'POST',
        path: '/cache/batch',
        body: json({ set: [{ key: 'a' }] }),
        status: 400,
      },
      {
        name: 'set entry with an extra field',
        method: 'POST',
        path: '/cache/batch',
        body: json({ set: [{ key: 'a', value: 9, x: 1 }] }),
        status: 400,
      },
      {
        name: 'set with one bad key among good ones',
        method: 'POST',
        path: '/cache/batch',
        body: json({
          set: [
            { key: 'a', value: 9 },
            { key: 'b*', value: 9 },
          ],
        }),
        status: 400,
      },
      {
        name: 'batch as an array',
        method: 'POST',
        path: '/cache/batch',
        body: json([{ get: ['a'] }]),
        status: 400,
      },
      // Invalidation
      {
        name: 'invalidate without prefix',
        method: 'POST',
        path: '/cache/invalidate',
        body: json({}),
        status: 400,
      },
      {
        name: 'invalidate a glob',
        method: 'POST',
        path: '/cache/invalidate',
        body: json({ prefix: 'a*' }),
        status: 400,
      },
      {
        name: 'invalidate a number',
        method: 'POST',
        path: '/cache/invalidate',
        body: json({ prefix: 5 }),
        status: 400,
      },
      // Sessions
      { name: 'session without user', method: 'POST', path: '/sessions', body: json({}), status: 400 },
      {
        name: 'session with empty user',
        method: 'POST',
        path: '/sessions',
        body: json({ userId: '' }),
        status: 400,
      },
      {
        name: 'session data as a list',
        method: 'POST',
        path: '/sessions',
        body: json({ userId: 'u1', data: [1] }),
        status: 400,
      },
      {
        name: 'session data as text',
        method: 'POST',
        path: '/sessions',
        body: json({ userId: 'u1', data: 'x' }),
        status: 400,
      },
      {
        name: 'session data over 16 KiB',
        method: 'POST',
        path: '/sessions',
        body: json({ userId: 'u1', data: { blob: 'x'.repeat(20_000) } }),
        status: 413,
      },
      {
        name: 'session with an unknown field',
        method: 'POST',
        path: '/sessions',
        body: json({ userId: 'u1', admin: true }),
        status: 400,
      },
      { name: 'session body null', method: 'POST', path: '/sessions', body: 'null', status: 400 },
      { name: 'forged session id', method: 'GET', path: `/sessions/${'A'.repeat(43)}`, status: 404 },
      {
        name: 'truncated session id',
        method: 'GET',
        path: `/sessions/${sessionId.slice(0, -1)}`,
        status: 404,
      },
      {
        name: 'session id with a suffix',
        method: 'PATCH',
        path: `/sessions/${sessionId}x`,
        body: json({ data: { a: 1 } }),
        status: 404,
      },
      { name: 'patch data as a list', method: 'PATCH', path: s, body: json({ data: [1] }), status: 400 },
      { name: 'empty patch', method: 'PATCH', path: s, body: json({}), status: 400 },
      { name: 'remove as text', method: 'PATCH', path: s, body: json({ remove: 'theme' }), status: 400 },
      {
        name: 'patch over 16 KiB',
        method: 'PATCH',
        path: s,
        body: json({ data: { blob: 'x'.repeat(20_000) } }),
        status: 413,
      },
      // Rate-limit checks
      {
        name: 'check without identifier',
        method: 'POST',
        path: '/rate-limits/api/check',
        body: json({}),
        status: 400,
      },
      {
        name: 'check with cost 0',
        method: 'POST',
        path: '/rate-limits/api/check',
        body: json({ identifier: 'u', cost: 0 }),
        status: 400,
      },
      {
        name: 'check with text cost',
        method: 'POST',
        path: '/rate-limits/api/check',
        body: json({ identifier: 'u', cost: '1' }),
        status: 400,
      },
      {
        name: 'check of an unknown limit',
        method: 'POST',
        path: '/rate-limits/nope/check',
        body: json({ identifier: 'u' }),
        status: 404,
      },
      // Jobs
      { name: 'job without type', method: 'POST', path: '/jobs', body: json({}), status: 400 },
      {
        name: 'job with a bad type',
        method: 'POST',
        path: '/jobs',
        body: json({ type: 'bad type!' }),
        status: 400,
      },
      {
        name: 'job with a bad priority',
        method: 'POST',
        path: '/jobs',
        body: json({ type: 'x', priority: 'urgent' }),
        status: 400,
      },
      {
        name: 'job with 0 attempts',
        method: 'POST',
        path: '/jobs',
        body: json({ type: 'x', maxAttempts: 0 }),
        status: 400,
      },
      {
        name: 'job with a negative delay',
        method: 'POST',
        path: '/jobs',
        body: json({ type: 'x', delayMs: -1 }),
        status: 400,
      },
      {
        name: 'job payload its type refuses',
        method: 'POST',
        path: '/jobs',
        body: json({ type: 'cache.invalidate-prefix', payload: { prefix: 'x'.repeat(70_000) } }),
        status: 400,
      },
      { name: 'unknown job type', method: 'POST', path: '/jobs', body: json({ type: 'x' }), status: 400 },
      {
        name: 'job payload nested 5,000 deep',
        method: 'POST',
        path: '/jobs',
        body: `{"type":"sessions.revoke-user","payload":${'['.repeat(5_000)}${']'.repeat(5_000)}}`,
        status: 400,
      },
      {
        name: 'session data nested 5,000 deep',
        method: 'POST',
        path: '/sessions',
        body: `{"userId":"u1","data":{"a":${'['.repeat(5_000)}${']'.repeat(5_000)}}}`,
        status: 400,
      },
      { name: 'unknown job id', method: 'GET', path: '/jobs/not-a-job', status: 404 },
      {
        name: 'operator-only job type',
        method: 'POST',
        path: '/jobs',
        body: json({ type: 'migration.copy' }),
        status: 403,
      },
      // Credentials and headers
      { name: 'no API key', method: 'GET', path: '/cache/a', key: 'none', status: 401 },
      { name: 'wrong API key', method: 'GET', path: '/cache/a', key: 'wrong', status: 403 },
      { name: 'truncated API key', method: 'DELETE', path: '/cache/a', key: 'truncated', status: 403 },
      {
        name: 'write with a read-only key',
        method: 'PUT',
        path: '/cache/a',
        body: json(3),
        key: 'read-only',
        status: 403,
      },
      {
        name: 'batch write with a read-only key',
        method: 'POST',
        path: '/cache/batch',
        body: json({ set: [{ key: 'a', value: 3 }] }),
        key: 'read-only',
        status: 403,
      },
      {
        name: 'session revoke with a read-only key',
        method: 'DELETE',
        path: '/users/u1/sessions',
        key: 'read-only',
        status: 403,
      },
      {
        name: 'headers over 10 KB',
        method: 'GET',
        path: '/cache/a',
        headers: { 'x-padding': 'p'.repeat(20_000) },
        status: 431,
      },
    ];
  };

  it('answers each of at least 50 bad requests with a 4xx JSON error and changes no data', async () => {
    const cases = table();
    expect(cases.length).toBeGreaterThanOrEqual(50);
    const before = await snapshot();
    expect(before).toContain(':cache:');
    expect(before).toContain(':session:');

    const outcomes: string[] = [];
    for (const c of cases) {
      const response = await call(c);
      let body: unknown;
      try {
        body = response.json();
      } catch {
        body = undefined;
      }
      const error = body as { error?: { code?: unknown; message?: unknown }; message?: unknown } | undefined;
      const isJsonError =
        String(response.headers['content-type']).startsWith('application/json') &&
        (typeof error?.error?.code === 'string' || typeof error?.message === 'string');
      outcomes.push(`${c.name}: ${response.status}${isJsonError ? '' : ' (not a JSON error)'}`);
    }

    expect(outcomes).toEqual(cases.map((c) => `${c.name}: ${c.status}`));
    expect(await snapshot()).toBe(before);
    // And the data still reads back as it was.
    const a = await call({ method: 'GET', path: '/cache/a' });
    expect(a.json()).toEqual({ key: 'a', value: { v: 1 } });
    const session = await call({ method: 'GET', path: `/sessions/${sessionId}` });
    expect(session.json<{ data: unknown }>().data).toEqual({ theme: 'dark' });
  });

  // Last in the file: every answer of the tests above, against the document this stack serves.
  it('answered every request as GET /openapi.json describes it (status and body), every route listed', async () => {
    await expectAnswersMatchOpenApi(stack.url);
  });
});
