import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ApiContainer, apiContainer } from '../../helpers/api-handler';
import { logLines } from '../../helpers/logs';
import { type CapturedOutput, captureOutput, leakedSecrets } from '../../helpers/output';

/**
 * Every 5xx answer of the api function is logged once, at ERROR (500) or WARN (503), as
 * `request failed` with `status`, `code`, `routeKey` and the error: the contract the chaos test
 * and the alarms read. 4xx answers are not failures and are not logged as such.
 */
describe('api 5xx logging', () => {
  let c: ApiContainer;
  let output: CapturedOutput;
  const tenant = () => `t${randomBytes(4).toString('hex')}`;

  /** A container of its own whose Upstash is gone. */
  const downContainer = async (config: Record<string, unknown> = { rateLimits: {} }) => {
    const down = await apiContainer(config);
    await down.endpoint.close();
    return down;
  };

  beforeAll(async () => {
    // No api limit: the route's own call is the one that fails (no limit check in front of it).
    // Tests after the first make containers of their own, whose Upstash is gone.
    c = await apiContainer({ rateLimits: {} });
  });
  afterAll(() => c.close());
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => output.restore());

  it('logs a 500 from inside a route once at ERROR with its code and cause, never the token', async () => {
    const t = tenant();
    expect((await c.call({ method: 'PUT', path: '/cache/k', body: 1, tenant: t })).status).toBe(200);
    const rotated = `gone-${randomBytes(4).toString('hex')}`;
    c.endpoint.rotateToken(c.token, rotated);
    let res: Awaited<ReturnType<ApiContainer['call']>>;
    try {
      res = await c.call({ method: 'GET', path: '/cache/k', tenant: t });
    } finally {
      c.endpoint.rotateToken(rotated, c.token);
    }

    expect(res).toMatchObject({ status: 500, body: { error: { code: 'CREDENTIALS_ERROR' } } });
    const failed = logLines(output, 'request failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      level: 'ERROR',
      status: 500,
      code: 'CREDENTIALS_ERROR',
      routeKey: 'GET /cache/{key}',
      error: { name: 'CredentialsError', message: expect.any(String) },
    });
    expect(leakedSecrets([c.token, rotated], output.text())).toEqual([]);
  });

  it('logs a 503 from inside a route once at WARN, and a 4xx not at all', async () => {
    const t = tenant();
    const down = await downContainer();
    const res = await down.call({ method: 'POST', path: '/sessions', body: { userId: 'u' }, tenant: t });
    expect(res).toMatchObject({ status: 503, body: { error: { code: 'UPSTASH_UNAVAILABLE' } } });
    const bad = await down.call({ method: 'PUT', path: '/cache/k?ttl=1', body: 1, tenant: t });
    expect(bad.status).toBe(400);

    const failed = logLines(output, 'request failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      level: 'WARN',
      status: 503,
      code: 'UPSTASH_UNAVAILABLE',
      routeKey: 'POST /sessions',
      error: { name: 'UpstashUnavailableError' },
    });
    expect(leakedSecrets([down.token], output.text())).toEqual([]);
  });

  it('logs a degraded /health (503) once at WARN with the failing databases', async () => {
    const down = await downContainer();
    expect((await down.call({ method: 'GET', path: '/health' })).status).toBe(503);
    const failed = logLines(output, 'request failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      level: 'WARN',
      status: 503,
      code: 'UPSTASH_UNAVAILABLE',
      routeKey: 'GET /health',
      databases: [{ database: 'default', error: 'UPSTASH_UNAVAILABLE' }],
    });
  });

  it('logs a 503 from the rate limit check (fail-closed) once at WARN', async () => {
    const down = await downContainer({
      rateLimits: { api: { algorithm: 'fixed-window', limit: 10, window: '60 s', outage: 'closed' } },
    });
    const res = await down.call({ method: 'GET', path: '/cache/a', tenant: tenant() });
    expect(res.status).toBe(503);
    const failed = logLines(output, 'request failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 'WARN', status: 503, code: 'UPSTASH_UNAVAILABLE' });
  });
});
