import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ApiContainer, apiContainer } from '../../helpers/api-handler';
import { type CapturedOutput, captureOutput } from '../../helpers/output';

/**
 * The cache and the invalidation job meet here: values are written through `PUT /cache/{key}`,
 * invalidated through `POST /cache/invalidate`, the real queue-worker function runs the job, and
 * the outcome is read through `GET /cache/{key}`. No key is written or read by hand.
 */
describe('prefix invalidation, api and queue worker together', () => {
  let c: ApiContainer;
  let output: CapturedOutput;
  const tenant = () => `t${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    c = await apiContainer();
  });
  afterAll(() => c.close());
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => output.restore());

  it('deletes the values under the prefix, and only those, once the worker has run', async () => {
    const [t, other] = [tenant(), tenant()];
    for (const key of ['user:1', 'user:2', 'users', 'page:1']) {
      expect((await c.call({ method: 'PUT', path: `/cache/${key}`, body: key, tenant: t })).status).toBe(200);
    }
    await c.call({ method: 'PUT', path: '/cache/user:1', body: 'other tenant', tenant: other });

    const enqueued = await c.call({
      method: 'POST',
      path: '/cache/invalidate',
      body: { prefix: 'user:' },
      tenant: t,
    });
    expect(enqueued.status).toBe(202);
    const drained = await c.drain();

    expect(drained).toMatchObject({ succeeded: 1, deadLettered: 0 });
    const job = await c.call({ method: 'GET', path: `/jobs/${enqueued.body.jobId}`, tenant: t });
    expect(job.body.state).toBe('done');
    const read = async (key: string, who = t) =>
      (await c.call({ method: 'GET', path: `/cache/${key}`, tenant: who })).status;
    expect(await read('user:1')).toBe(404);
    expect(await read('user:2')).toBe(404);
    expect(await read('users')).toBe(200);
    expect(await read('page:1')).toBe(200);
    expect(await read('user:1', other)).toBe(200);
  });

  it('deletes every value of the tenant for the empty prefix, through POST /jobs as well', async () => {
    const [t, other] = [tenant(), tenant()];
    for (const key of ['a', 'b:c', 'd'])
      await c.call({ method: 'PUT', path: `/cache/${key}`, body: 1, tenant: t });
    await c.call({ method: 'PUT', path: '/cache/a', body: 1, tenant: other });

    const enqueued = await c.call({
      method: 'POST',
      path: '/jobs',
      body: { type: 'cache.invalidate-prefix', payload: { prefix: '' } },
      tenant: t,
    });
    expect(enqueued.status).toBe(202);
    await c.drain();

    for (const key of ['a', 'b:c', 'd']) {
      expect((await c.call({ method: 'GET', path: `/cache/${key}`, tenant: t })).status).toBe(404);
    }
    expect((await c.call({ method: 'GET', path: '/cache/a', tenant: other })).status).toBe(200);
  });

  it('revokes every session of a user through a sessions.revoke-user job', async () => {
    const t = tenant();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(
        (await c.call({ method: 'POST', path: '/sessions', body: { userId: 'u1' }, tenant: t })).body.id,
      );
    }
    const keep = (await c.call({ method: 'POST', path: '/sessions', body: { userId: 'u2' }, tenant: t })).body
      .id;

    const enqueued = await c.call({
      method: 'POST',
      path: '/jobs',
      body: { type: 'sessions.revoke-user', payload: { userId: 'u1' } },
      tenant: t,
    });
    expect(enqueued.status).toBe(202);
    await c.drain();

    for (const id of ids) {
      expect((await c.call({ method: 'GET', path: `/sessions/${id}`, tenant: t })).status).toBe(404);
    }
    expect((await c.call({ method: 'GET', path: `/sessions/${keep}`, tenant: t })).status).toBe(200);
  });
});
