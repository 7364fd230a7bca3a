import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdempotencyStore } from '../../../../lambda/services/idempotency/idempotency-store';
import { SessionService } from '../../../../lambda/services/sessions/session-service';
import { ValidationError } from '../../../../lambda/shared/errors';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import type { UpstashRedisClient } from '../../../../lambda/shared/redis';
import type { UpstashEndpoint } from '../../../../local/upstash/server';
import { privateEndpoint, randomPrefix } from '../../../helpers/redis';

const answer = (body: unknown, status = 201) => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe('IdempotencyStore', () => {
  let endpoint: UpstashEndpoint;
  let redis: UpstashRedisClient;
  let clock = Date.now();
  const store = (ttlMs?: number) =>
    new IdempotencyStore({
      redis,
      keys: new KeyBuilder(randomPrefix()),
      now: () => clock,
      ...(ttlMs !== undefined ? { ttlMs } : {}),
    });

  beforeAll(async () => {
    ({ endpoint, redis } = await privateEndpoint('idempotency-store'));
  });
  afterAll(() => endpoint.close());

  it('claims a key once: the first runs, a concurrent one is busy, after the answer it replays', async () => {
    const s = store();
    const [first, second] = await Promise.all([
      s.begin('acme', 'k1', 'fp', 5_000),
      s.begin('acme', 'k1', 'fp', 5_000),
    ]);
    const states = [first.state, second.state].sort();
    expect(states).toEqual(['busy', 'run']);
    const run = (first.state === 'run' ? first : second) as Extract<typeof first, { state: 'run' }>;
    expect(run.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(run.resumed).toBe(false);
    await s.complete(run, answer({ id: 'x' }));
    expect(await s.begin('acme', 'k1', 'fp', 5_000)).toEqual({
      state: 'replay',
      response: answer({ id: 'x' }),
    });
  });

  it('answers a mismatch for another request under the same key, running or answered', async () => {
    const s = store();
    const run = await s.begin('acme', 'k2', 'fp-a', 5_000);
    expect(await s.begin('acme', 'k2', 'fp-b', 5_000)).toEqual({ state: 'mismatch' });
    if (run.state !== 'run') throw new Error('expected to run');
    await s.complete(run, answer({ ok: true }, 200));
    expect(await s.begin('acme', 'k2', 'fp-b', 5_000)).toEqual({ state: 'mismatch' });
  });

  it('keeps keys per tenant', async () => {
    const s = store();
    expect((await s.begin('acme', 'shared', 'fp-a', 5_000)).state).toBe('run');
    expect((await s.begin('globex', 'shared', 'fp-b', 5_000)).state).toBe('run');
  });

  it("resumes a run whose lease ended with that run's token, and one paused at once", async () => {
    const s = store();
    const first = await s.begin('acme', 'k3', 'fp', 1_000);
    if (first.state !== 'run') throw new Error('expected to run');
    expect((await s.begin('acme', 'k3', 'fp', 1_000)).state).toBe('busy');
    clock += 1_001;
    const resumed = await s.begin('acme', 'k3', 'fp', 1_000);
    expect(resumed).toMatchObject({ state: 'run', token: first.token, resumed: true });
    if (resumed.state !== 'run') throw new Error('expected to run');
    // The first run comes back too late: it holds the claim no more, and cannot pause it.
    await s.pause(first);
    expect((await s.begin('acme', 'k3', 'fp', 1_000)).state).toBe('busy');
    await s.pause(resumed);
    expect(await s.begin('acme', 'k3', 'fp', 1_000)).toMatchObject({ state: 'run', token: first.token });
  });

  it('forgets a released claim: a retry starts afresh with a new token', async () => {
    const s = store();
    const first = await s.begin('acme', 'k4', 'fp', 5_000);
    if (first.state !== 'run') throw new Error('expected to run');
    await s.release(first);
    const next = await s.begin('acme', 'k4', 'other-fp', 5_000);
    expect(next).toMatchObject({ state: 'run', resumed: false });
    expect(next.state === 'run' && next.token).not.toBe(first.token);
  });

  it('keeps an answer for its lifetime (PTTL), then the key is free again', async () => {
    const s = store(60_000);
    const run = await s.begin('acme', 'k5', 'fp', 5_000);
    if (run.state !== 'run') throw new Error('expected to run');
    await s.complete(run, answer({}));
    const pttl = await redis.pttl(run.key);
    expect(pttl).toBeGreaterThan(50_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
    await redis.del([run.key]); // what the TTL does at its end
    expect((await s.begin('acme', 'k5', 'other', 5_000)).state).toBe('run');
  });

  it('refuses a key that is empty, longer than 255 characters or holds glob or control characters, before any command', () => {
    const s = store();
    endpoint.resetStats();
    for (const bad of ['', 'x'.repeat(256), 'a*', 'a?b', '[x]', 'tab\there']) {
      expect(() => s.recordKey('acme', bad)).toThrow(ValidationError);
    }
    expect(() => s.recordKey('acme', 'x'.repeat(255))).not.toThrow();
    expect(endpoint.stats().requests).toBe(0);
  });

  it('stores the answer with a create in its own script (a receipt): one round trip for both', async () => {
    const keys = new KeyBuilder(randomPrefix());
    const s = new IdempotencyStore({ redis, keys });
    const sessions = new SessionService({ redis, keys });
    const run = await s.begin('acme', 'k6', 'fp', 5_000);
    if (run.state !== 'run') throw new Error('expected to run');
    await sessions.create('acme', 'u0'); // loads the script: a warm container's cost is measured
    let written = false;
    endpoint.resetStats();
    const session = await sessions.create(
      'acme',
      'u1',
      { a: 1 },
      {
        id: run.token,
        receipt: s.receipt(
          run,
          (created) => answer({ id: created.id }),
          () => {
            written = true;
          },
        ),
      },
    );
    expect(endpoint.stats().requests).toBe(1);
    expect(written).toBe(true);
    expect(session.id).toBe(run.token);
    expect(await s.begin('acme', 'k6', 'fp', 5_000)).toEqual({
      state: 'replay',
      response: answer({ id: run.token }),
    });
  });
});
