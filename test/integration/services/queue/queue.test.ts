import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobQueue } from '../../../../lambda/services/queue';
import {
  PayloadTooLargeError,
  UpstashUnavailableError,
  ValidationError,
} from '../../../../lambda/shared/errors';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import type { UpstashRedisClient } from '../../../../lambda/shared/redis';
import type { UpstashEndpoint } from '../../../../local/upstash/server';
import { faultyRedis } from '../../../helpers/fault-redis';
import { queueWithClock } from '../../../helpers/queue';
import { privateEndpoint, randomPrefix, sharedRedis } from '../../../helpers/redis';

const setup = queueWithClock;

describe('JobQueue', () => {
  describe('enqueue', () => {
    it('stores a ready job under a random id, visible to its tenant only', async () => {
      const { queue } = setup();

      const { id, duplicate } = await queue.enqueue({
        tenant: 'acme',
        type: 'email.send',
        payload: { to: 'a@b.c' },
      });

      expect(duplicate).toBe(false);
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(await queue.status('acme', id)).toMatchObject({
        id,
        type: 'email.send',
        state: 'ready',
        priority: 'normal',
        attempts: 0,
        maxAttempts: 3,
      });
      expect(await queue.status('globex', id)).toBeNull();
      expect(await queue.status('acme', 'A'.repeat(22))).toBeNull();
    });

    it('returns the first id for a repeated idempotency key, per tenant', async () => {
      const { queue } = setup();
      const first = await queue.enqueue({ tenant: 'acme', type: 't', idempotencyKey: 'order:1' });

      const again = await queue.enqueue({ tenant: 'acme', type: 't', idempotencyKey: 'order:1' });
      const otherTenant = await queue.enqueue({ tenant: 'globex', type: 't', idempotencyKey: 'order:1' });

      expect(again).toEqual({ id: first.id, duplicate: true });
      expect(otherTenant.duplicate).toBe(false);
      expect(otherTenant.id).not.toBe(first.id);
      expect((await queue.stats()).ready.normal).toBe(2);
    });

    it('deduplicates concurrent enqueues of one key to a single job', async () => {
      const { queue } = setup();

      const results = await Promise.all(
        Array.from({ length: 20 }, () =>
          queue.enqueue({ tenant: 'acme', type: 't', idempotencyKey: 'once' }),
        ),
      );

      expect(new Set(results.map((r) => r.id)).size).toBe(1);
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect((await queue.stats()).ready.normal).toBe(1);
    });

    it('keeps the payload exactly as JSON, even what Lua would re-encode', async () => {
      const { queue } = setup();
      const payload = {
        empty: [],
        nested: { list: [1, 2.5, 'x/y'] },
        big: 9007199254740991,
        unicode: 'é 😀',
      };
      await queue.enqueue({ tenant: 'acme', type: 't', payload });

      const job = await queue.dequeue({ leaseMs: 1_000 });

      expect(job?.payload).toEqual(payload);
    });

    it('rejects bad input with typed errors', async () => {
      const { queue } = setup({ maxPayloadBytes: 100 });

      await expect(queue.enqueue({ tenant: 'acme', type: 'has space' })).rejects.toThrow(ValidationError);
      await expect(queue.enqueue({ tenant: 'a:b', type: 't' })).rejects.toThrow(ValidationError);
      await expect(queue.enqueue({ tenant: 'acme', type: 't', delayMs: -1 })).rejects.toThrow(
        ValidationError,
      );
      await expect(queue.enqueue({ tenant: 'acme', type: 't', maxAttempts: 0 })).rejects.toThrow(
        ValidationError,
      );
      await expect(
        queue.enqueue({ tenant: 'acme', type: 't', priority: 'urgent' as 'high' }),
      ).rejects.toThrow(ValidationError);
      await expect(queue.enqueue({ tenant: 'acme', type: 't', idempotencyKey: 'a*' })).rejects.toThrow(
        ValidationError,
      );
      await expect(queue.enqueue({ tenant: 'acme', type: 't', payload: 'x'.repeat(200) })).rejects.toThrow(
        PayloadTooLargeError,
      );
    });
  });

  describe('an enqueue whose answer is lost (503 semantics)', () => {
    const faultyQueue = () => {
      const faulty = faultyRedis(sharedRedis());
      return { faulty, queue: new JobQueue({ redis: faulty, keys: new KeyBuilder(randomPrefix()) }) };
    };
    const jobs = async (queue: JobQueue) => {
      const stats = await queue.stats();
      return stats.ready.high + stats.ready.normal + stats.ready.low + stats.delayed;
    };

    it('is fenced off when it had not run: 503 not-applied, and a retry leaves exactly one job', async () => {
      const { faulty, queue } = faultyQueue();
      faulty.plan.push('hold');
      const error = await queue.enqueue({ tenant: 'acme', type: 't' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UpstashUnavailableError);
      expect((error as UpstashUnavailableError).outcome).toBe('not-applied');
      const retried = await queue.enqueue({ tenant: 'acme', type: 't' });
      await faulty.release(); // the first one reaches Redis after all
      expect(await jobs(queue)).toBe(1);
      expect(await queue.status('acme', retried.id)).toMatchObject({ state: 'ready' });
    });

    it('is acknowledged when it had run: its id is returned, not a 503', async () => {
      const { faulty, queue } = faultyQueue();
      faulty.plan.push('lose-reply');
      const { id, duplicate } = await queue.enqueue({ tenant: 'acme', type: 't' });
      expect(duplicate).toBe(false);
      expect(await queue.status('acme', id)).toMatchObject({ state: 'ready' });
      expect(await jobs(queue)).toBe(1);
    });

    it('with an idempotency key, a retry as is after an unknown outcome never duplicates', async () => {
      const { faulty, queue } = faultyQueue();
      faulty.plan.push('lose-reply');
      faulty.mode = 'down'; // and the database stays away past settleBy
      const input = { tenant: 'acme', type: 't', idempotencyKey: 'order:7' };
      const error = await queue.enqueue(input, { settleBy: Date.now() + 300 }).catch((e: unknown) => e);
      expect((error as UpstashUnavailableError).outcome).toBe('unknown');
      faulty.mode = 'up';
      const retried = await queue.enqueue(input);
      expect(retried.duplicate).toBe(true);
      expect(await jobs(queue)).toBe(1);
    });
  });

  describe('dequeue', () => {
    it('hands out every high job before any normal one, and normal before low, FIFO within each', async () => {
      const { queue, clock } = setup();
      const order: Array<['high' | 'normal' | 'low', string]> = [
        ['low', 'l1'],
        ['normal', 'n1'],
        ['high', 'h1'],
        ['low', 'l2'],
        ['high', 'h2'],
        ['normal', 'n2'],
      ];
      for (const [priority, name] of order) {
        clock.now += 1;
        await queue.enqueue({ tenant: 'acme', type: 't', priority, payload: name });
      }

      const taken: unknown[] = [];
      for (
        let job = await queue.dequeue({ leaseMs: 1_000 });
        job;
        job = await queue.dequeue({ leaseMs: 1_000 })
      ) {
        taken.push(job.payload);
      }

      expect(taken).toEqual(['h1', 'h2', 'n1', 'n2', 'l1', 'l2']);
    });

    it('counts the attempt and leases the job', async () => {
      const { queue, clock } = setup();
      const { id } = await queue.enqueue({ tenant: 'acme', type: 't' });

      const job = await queue.dequeue({ leaseMs: 30_000 });

      expect(job).toMatchObject({ id, tenant: 'acme', attempts: 1, leaseUntil: clock.now + 30_000 });
      expect(await queue.status('acme', id)).toMatchObject({ state: 'inflight', attempts: 1 });
      expect(await queue.dequeue({ leaseMs: 30_000 })).toBeNull();
    });

    it('does not hand out a delayed job before it is due and promoted', async () => {
      const { queue, clock } = setup();
      const { id } = await queue.enqueue({ tenant: 'acme', type: 't', delayMs: 5_000 });
      expect(await queue.status('acme', id)).toMatchObject({ state: 'delayed', runAt: clock.now + 5_000 });

      clock.now += 4_999;
      expect(await queue.promoteDue()).toBe(0);
      expect(await queue.dequeue({ leaseMs: 1_000 })).toBeNull();

      clock.now += 1;
      expect(await queue.promoteDue()).toBe(1);
      expect((await queue.dequeue({ leaseMs: 1_000 }))?.id).toBe(id);
    });

    it('keeps priorities for promoted jobs', async () => {
      const { queue, clock } = setup();
      await queue.enqueue({ tenant: 'acme', type: 't', priority: 'low', payload: 'low-now' });
      await queue.enqueue({
        tenant: 'acme',
        type: 't',
        priority: 'high',
        payload: 'high-later',
        delayMs: 10,
      });
      clock.now += 10;
      await queue.promoteDue();

      expect((await queue.dequeue({ leaseMs: 1_000 }))?.payload).toBe('high-later');
    });
  });

  describe('ack', () => {
    it('completes the job of the current lease holder', async () => {
      const { queue } = setup();
      const { id } = await queue.enqueue({ tenant: 'acme', type: 't' });
      const job = await queue.dequeue({ leaseMs: 1_000 });
      if (!job) throw new Error('no job');

      expect(await queue.ack(job)).toBe(true);
      expect(await queue.status('acme', id)).toMatchObject({ state: 'done', attempts: 1 });
      // A network retry of the same ack changes nothing and still answers true.
      expect(await queue.ack(job)).toBe(true);
      expect(await queue.stats()).toMatchObject({ done: 1, inFlight: 0 });
    });

    it('refuses a stale worker whose lease expired and whose job was delivered again', async () => {
      const { queue, clock } = setup();
      await queue.enqueue({ tenant: 'acme', type: 't' });
      const stale = await queue.dequeue({ leaseMs: 100 });
      clock.now += 101;
      expect(await queue.requeueExpired()).toEqual({ requeued: 1, deadLettered: 0 });
      const fresh = await queue.dequeue({ leaseMs: 100 });
      if (!stale || !fresh) throw new Error('no job');

      expect(fresh.attempts).toBe(2);
      expect(await queue.ack(stale)).toBe(false);
      expect(await queue.fail(stale, new Error('late'))).toEqual({ success: false });
      expect(await queue.ack(fresh)).toBe(true);
    });

    it('refuses a forged lease', async () => {
      const { queue } = setup();
      await queue.enqueue({ tenant: 'acme', type: 't' });
      const job = await queue.dequeue({ leaseMs: 1_000 });
      if (!job) throw new Error('no job');

      expect(await queue.ack({ ...job, lease: 'forged' })).toBe(false);
      expect(await queue.stats()).toMatchObject({ inFlight: 1, done: 0 });
    });
  });

  describe('fail', () => {
    it('retries with exponential backoff, then dead-letters with the last error after maxAttempts', async () => {
      const { queue, clock } = setup();
      const { id } = await queue.enqueue({ tenant: 'acme', type: 't', maxAttempts: 3 });
      const waits: number[] = [];

      for (let attempt = 1; attempt <= 3; attempt++) {
        const job = await queue.dequeue({ leaseMs: 1_000 });
        if (!job) throw new Error(`no job at attempt ${attempt}`);
        const outcome = await queue.fail(job, new Error(`boom ${attempt}`));
        if (outcome.success && outcome.state === 'delayed') {
          waits.push(outcome.retryAt - clock.now);
          expect(await queue.dequeue({ leaseMs: 1_000 })).toBeNull();
          clock.now = outcome.retryAt;
          await queue.promoteDue();
        } else {
          expect(outcome).toEqual({ success: true, state: 'dead' });
        }
      }

      // 1 s then 2 s, each with up to 20% jitter.
      expect(waits).toHaveLength(2);
      expect(waits[0]).toBeGreaterThanOrEqual(1_000);
      expect(waits[0]).toBeLessThanOrEqual(1_200);
      expect(waits[1]).toBeGreaterThanOrEqual(2_000);
      expect(waits[1]).toBeLessThanOrEqual(2_400);
      expect(await queue.status('acme', id)).toMatchObject({
        state: 'dead',
        attempts: 3,
        lastError: 'Error: boom 3',
      });
      expect(await queue.stats()).toMatchObject({ deadLetters: 1, delayed: 0, inFlight: 0 });
    });

    it('dead-letters at once when the error is not retryable', async () => {
      const { queue } = setup();
      const { id } = await queue.enqueue({ tenant: 'acme', type: 't', maxAttempts: 5 });
      const job = await queue.dequeue({ leaseMs: 1_000 });
      if (!job) throw new Error('no job');

      expect(await queue.fail(job, 'bad payload', { retryable: false })).toEqual({
        success: true,
        state: 'dead',
      });
      expect(await queue.status('acme', id)).toMatchObject({
        state: 'dead',
        attempts: 1,
        lastError: 'bad payload',
      });
    });
  });

  describe('requeueExpired', () => {
    it('puts expired leases back to ready and dead-letters jobs whose attempts are used', async () => {
      const { queue, clock } = setup();
      const once = await queue.enqueue({ tenant: 'acme', type: 't', maxAttempts: 1, priority: 'high' });
      const twice = await queue.enqueue({ tenant: 'acme', type: 't', maxAttempts: 2 });
      const alive = await queue.enqueue({ tenant: 'acme', type: 't', priority: 'low' });
      await queue.dequeue({ leaseMs: 100 });
      await queue.dequeue({ leaseMs: 100 });
      await queue.dequeue({ leaseMs: 10_000 });
      clock.now += 100;

      expect(await queue.requeueExpired()).toEqual({ requeued: 1, deadLettered: 1 });

      expect(await queue.status('acme', once.id)).toMatchObject({ state: 'dead', attempts: 1 });
      expect((await queue.status('acme', once.id))?.lastError).toMatch(/lease expired/);
      expect(await queue.status('acme', twice.id)).toMatchObject({ state: 'ready', attempts: 1 });
      expect(await queue.status('acme', alive.id)).toMatchObject({ state: 'inflight' });
    });

    it('works through more expired jobs than one batch', async () => {
      const { queue, clock } = setup();
      await Promise.all(Array.from({ length: 25 }, () => queue.enqueue({ tenant: 'acme', type: 't' })));
      await Promise.all(Array.from({ length: 25 }, () => queue.dequeue({ leaseMs: 10 })));
      clock.now += 10;

      expect(await queue.requeueExpired({ batch: 10 })).toEqual({ requeued: 25, deadLettered: 0 });
      expect((await queue.stats()).ready.normal).toBe(25);
    });
  });

  describe('prune', () => {
    it('forgets finished jobs past retention, and frees their idempotency keys', async () => {
      const { queue, clock } = setup();
      const { id } = await queue.enqueue({ tenant: 'acme', type: 't', idempotencyKey: 'k' });
      const job = await queue.dequeue({ leaseMs: 1_000 });
      if (job) await queue.ack(job);

      clock.now += 1_000;
      expect(await queue.prune({ doneMs: 1_001 })).toEqual({ done: 0, dead: 0 });
      expect(await queue.prune({ doneMs: 999 })).toEqual({ done: 1, dead: 0 });

      expect(await queue.status('acme', id)).toBeNull();
      const again = await queue.enqueue({ tenant: 'acme', type: 't', idempotencyKey: 'k' });
      expect(again.duplicate).toBe(false);
    });
  });

  describe('stats', () => {
    it('counts jobs per priority and per set', async () => {
      const { queue } = setup();
      await queue.enqueue({ tenant: 'acme', type: 't', priority: 'high' });
      await queue.enqueue({ tenant: 'acme', type: 't', priority: 'high' });
      await queue.enqueue({ tenant: 'acme', type: 't', priority: 'low' });
      await queue.enqueue({ tenant: 'acme', type: 't', delayMs: 1_000 });
      await queue.enqueue({ tenant: 'acme', type: 't', priority: 'normal' });
      await queue.dequeue({ leaseMs: 1_000 });

      expect(await queue.stats()).toEqual({
        ready: { high: 1, normal: 1, low: 1 },
        delayed: 1,
        inFlight: 1,
        done: 0,
        deadLetters: 0,
      });
    });
  });
});

describe('JobQueue costs', () => {
  let endpoint: UpstashEndpoint;
  let redis: UpstashRedisClient;
  let token: string;
  let queue: JobQueue;

  beforeAll(async () => {
    ({ endpoint, redis, token } = await privateEndpoint());
    queue = new JobQueue({ redis, keys: new KeyBuilder(randomPrefix()) });
    // Load the scripts so the counted calls below are the steady state: one EVALSHA each.
    await queue.enqueue({ tenant: 'acme', type: 'warm', idempotencyKey: 'warm' });
    const job = await queue.dequeue({ leaseMs: 1_000 });
    if (job) await queue.ack(job);
  });

  afterAll(() => endpoint.close());

  it('enqueue, dequeue and ack cost one command in one round trip each', async () => {
    const measure = async (op: () => Promise<unknown>) => {
      endpoint.resetStats();
      await op();
      const { requests, commands } = endpoint.stats(token);
      return { requests, commands };
    };

    expect(await measure(() => queue.enqueue({ tenant: 'acme', type: 't', idempotencyKey: 'k1' }))).toEqual({
      requests: 1,
      commands: 1,
    });
    expect(await measure(() => queue.enqueue({ tenant: 'acme', type: 't' }))).toEqual({
      requests: 1,
      commands: 1,
    });
    let job: Awaited<ReturnType<JobQueue['dequeue']>> = null;
    expect(
      await measure(async () => {
        job = await queue.dequeue({ leaseMs: 1_000 });
      }),
    ).toEqual({ requests: 1, commands: 1 });
    expect(await measure(() => (job ? queue.ack(job) : Promise.resolve()))).toEqual({
      requests: 1,
      commands: 1,
    });
  });
});
