import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  drainQueue,
  JobQueue,
  JobRegistry,
  type JobStatus,
  MAX_RESULT_BYTES,
  newJobId,
} from '../../../../lambda/services/queue';
import { ValidationError } from '../../../../lambda/shared/errors';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import type { UpstashRedisClient } from '../../../../lambda/shared/redis';
import type { UpstashEndpoint } from '../../../../local/upstash/server';
import { queueWithClock } from '../../../helpers/queue';
import { privateEndpoint, randomPrefix } from '../../../helpers/redis';

const setup = queueWithClock;

/** Every job of a tenant, page by page. */
async function all(queue: JobQueue, tenant: string, options: Parameters<JobQueue['list']>[1] = {}) {
  const seen: JobStatus[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await queue.list(tenant, { ...options, ...(cursor ? { cursor } : {}) });
    expect(page.jobs.length).toBeLessThanOrEqual(options.limit ?? 20);
    seen.push(...page.jobs);
    cursor = page.cursor ?? undefined;
    pages++;
  } while (cursor);
  return { jobs: seen, pages };
}

/** Fails a leased job until it is dead-lettered. */
async function deadLetter(queue: JobQueue, clock: { now: number }): Promise<void> {
  for (;;) {
    const job = await queue.dequeue({ leaseMs: 60_000 });
    if (!job) throw new Error('nothing to dead-letter');
    const outcome = await queue.fail(job, new Error('boom'));
    if (outcome.success && outcome.state === 'dead') return;
    clock.now += 120_000;
    await queue.promoteDue();
  }
}

describe('JobQueue administration', () => {
  describe('list', () => {
    it("pages through a tenant's jobs newest first, each exactly once, ties in the same ms included", async () => {
      const { queue, clock } = setup();
      // 450 jobs in three milliseconds: many share a creation time, the cursor's tie-break.
      const ids: string[] = [];
      for (let i = 0; i < 450; i++) {
        clock.now = 1_800_000_000_000 + Math.floor(i / 150);
        ids.push((await queue.enqueue({ tenant: 'acme', type: 't.a', payload: i })).id);
      }
      await queue.enqueue({ tenant: 'globex', type: 't.a' });
      const { jobs, pages } = await all(queue, 'acme', { limit: 100 });
      expect(jobs.map((j) => j.id).sort()).toEqual([...ids].sort());
      expect(new Set(jobs.map((j) => j.id)).size).toBe(450);
      expect(pages).toBeGreaterThanOrEqual(5);
      // Newest first: creation times never go up along the list.
      for (let i = 1; i < jobs.length; i++) {
        expect((jobs[i] as JobStatus).createdAt).toBeLessThanOrEqual((jobs[i - 1] as JobStatus).createdAt);
      }
    });

    it('filters by state and type, and shows only the tenant its own jobs', async () => {
      const { queue, clock } = setup();
      const a = await queue.enqueue({ tenant: 'acme', type: 't.a' });
      clock.now += 1;
      const b = await queue.enqueue({ tenant: 'acme', type: 't.b', delayMs: 3_600_000 });
      clock.now += 1;
      const c = await queue.enqueue({ tenant: 'acme', type: 't.a', maxAttempts: 1 });
      clock.now += 1;
      await queue.enqueue({ tenant: 'globex', type: 't.a', delayMs: 3_600_000 });
      // Dequeue order is FIFO: a first, then c (b is delayed).
      const first = await queue.dequeue({ leaseMs: 60_000 });
      if (!first) throw new Error('nothing dequeued');
      await queue.ack(first);
      await deadLetter(queue, clock);

      const ids = async (options: Parameters<JobQueue['list']>[1]) =>
        (await all(queue, 'acme', options)).jobs.map((j) => j.id);
      expect(await ids({ state: 'done' })).toEqual([a.id]);
      expect(await ids({ state: 'delayed' })).toEqual([b.id]);
      expect(await ids({ state: 'dead' })).toEqual([c.id]);
      expect(await ids({ type: 't.a' })).toEqual([c.id, a.id]);
      expect(await ids({ state: 'ready' })).toEqual([]);
      expect((await all(queue, 'globex')).jobs).toHaveLength(1);
    });

    it('reads a bounded number of entries per call: a sparse state gives short pages with a cursor', async () => {
      const { queue } = setup();
      for (let i = 0; i < 450; i++) await queue.enqueue({ tenant: 'acme', type: 't.a' });
      const delayed = await queue.enqueue({ tenant: 'acme', type: 't.a', delayMs: 1_000 });
      // The one delayed job is the newest: the first page finds it; the rest of the walk finds none.
      const { jobs, pages } = await all(queue, 'acme', { state: 'delayed', limit: 10 });
      expect(jobs.map((j) => j.id)).toEqual([delayed.id]);
      expect(pages).toBeGreaterThan(1);
    });

    it('drops pruned jobs from the index, and refuses a cursor it did not make', async () => {
      const { queue, clock } = setup();
      const job = await queue.enqueue({ tenant: 'acme', type: 't.a' });
      const leased = await queue.dequeue({ leaseMs: 60_000 });
      if (!leased) throw new Error('nothing dequeued');
      await queue.ack(leased);
      clock.now += 2 * 86_400_000;
      expect(await queue.prune()).toEqual({ done: 1, dead: 0 });
      expect((await queue.list('acme')).jobs).toEqual([]);
      expect(await queue.status('acme', job.id)).toBeNull();
      await expect(queue.list('acme', { cursor: 'bm90LWEtY3Vyc29y' })).rejects.toThrow(ValidationError);
      await expect(queue.list('acme', { limit: 101 })).rejects.toThrow(ValidationError);
      await expect(queue.list('acme', { state: 'lost' as never })).rejects.toThrow(ValidationError);
    });
  });

  describe('cancel', () => {
    it('cancels a ready or a delayed job: it never runs, and reads as cancelled', async () => {
      const { queue, clock } = setup();
      const ready = await queue.enqueue({ tenant: 'acme', type: 't.a' });
      const delayed = await queue.enqueue({ tenant: 'acme', type: 't.a', delayMs: 1_000 });
      expect(await queue.cancel('acme', ready.id)).toMatchObject({
        ok: true,
        job: { id: ready.id, state: 'cancelled', finishedAt: clock.now },
      });
      expect(await queue.cancel('acme', delayed.id)).toMatchObject({ ok: true, job: { state: 'cancelled' } });
      clock.now += 10_000;
      expect(await queue.promoteDue()).toBe(0);
      expect(await queue.dequeue({ leaseMs: 1_000 })).toBeNull();
      expect((await queue.stats()).done).toBe(2);
    });

    it('refuses a running or finished job, another tenant’s (as unknown), and a type the caller may not touch', async () => {
      const { queue } = setup();
      const job = await queue.enqueue({ tenant: 'acme', type: 't.a' });
      expect(await queue.cancel('acme', job.id, new Set(['t.b']))).toEqual({
        ok: false,
        reason: 'type',
        type: 't.a',
      });
      expect(await queue.cancel('globex', job.id)).toEqual({ ok: false, reason: 'not-found' });
      expect(await queue.cancel('acme', newJobId())).toEqual({ ok: false, reason: 'not-found' });
      const leased = await queue.dequeue({ leaseMs: 60_000 });
      if (!leased) throw new Error('nothing dequeued');
      expect(await queue.cancel('acme', job.id)).toEqual({ ok: false, reason: 'state', state: 'inflight' });
      await queue.ack(leased);
      expect(await queue.cancel('acme', job.id)).toEqual({ ok: false, reason: 'state', state: 'done' });
    });
  });

  describe('redrive', () => {
    it('gives one dead letter a new run with its attempts reset; it runs and is acked', async () => {
      const { queue, clock } = setup();
      const job = await queue.enqueue({ tenant: 'acme', type: 't.a', maxAttempts: 2 });
      await deadLetter(queue, clock);
      expect(await queue.status('acme', job.id)).toMatchObject({ state: 'dead', attempts: 2 });
      expect(await queue.redrive('globex', job.id)).toEqual({ ok: false, reason: 'not-found' });
      const redriven = await queue.redrive('acme', job.id);
      expect(redriven).toMatchObject({
        ok: true,
        job: { state: 'ready', attempts: 0, lastError: 'Error: boom' },
      });
      expect(await queue.redrive('acme', job.id)).toEqual({ ok: false, reason: 'state', state: 'ready' });
      const leased = await queue.dequeue({ leaseMs: 60_000 });
      expect(leased?.id).toBe(job.id);
      expect(leased?.attempts).toBe(1);
    });

    it("redrives every dead letter of a type: a tenant's through its index, every tenant's without one", async () => {
      const { queue, clock } = setup();
      const dead = async (tenant: string, type: string) => {
        const { id } = await queue.enqueue({ tenant, type, maxAttempts: 1 });
        await deadLetter(queue, clock);
        return id;
      };
      const acmeA = [await dead('acme', 't.a'), await dead('acme', 't.a')];
      const acmeB = await dead('acme', 't.b');
      const globexA = await dead('globex', 't.a');

      expect(await queue.redriveAll({ type: 't.a', tenant: 'acme', types: new Set(['t.b']) })).toBe(0);
      expect(await queue.redriveAll({ type: 't.a', tenant: 'acme' })).toBe(2);
      for (const id of acmeA) expect((await queue.status('acme', id))?.state).toBe('ready');
      expect((await queue.status('acme', acmeB))?.state).toBe('dead');
      expect((await queue.status('globex', globexA))?.state).toBe('dead');
      // Operators (the console): every tenant's, through the dead set.
      expect(await queue.redriveAll({ type: 't.a' })).toBe(1);
      expect((await queue.status('globex', globexA))?.state).toBe('ready');
      expect((await queue.stats()).deadLetters).toBe(1);
    });

    it('walks more dead letters than one call reads, in several calls', async () => {
      const { queue, clock } = setup();
      const ids: string[] = [];
      for (let i = 0; i < 450; i++)
        ids.push((await queue.enqueue({ tenant: 'acme', type: 't.a', maxAttempts: 1 })).id);
      // Dead-letter them all in bulk: lease each and fail it once (maxAttempts 1).
      for (;;) {
        const job = await queue.dequeue({ leaseMs: 60_000 });
        if (!job) break;
        await queue.fail(job, new Error('x'));
      }
      clock.now += 1;
      expect((await queue.stats()).deadLetters).toBe(450);
      expect(await queue.redriveAll({ type: 't.a', tenant: 'acme' })).toBe(450);
      expect((await queue.stats()).deadLetters).toBe(0);
    });
  });

  describe('results', () => {
    it("keeps what the handler returned as the job's result; a result too large is not kept", async () => {
      const { queue } = setup();
      const registry = new JobRegistry()
        .register('t.count', async () => ({ deleted: 12 }))
        .register('t.big', async () => 'x'.repeat(MAX_RESULT_BYTES));
      const counted = await queue.enqueue({ tenant: 'acme', type: 't.count' });
      const big = await queue.enqueue({ tenant: 'acme', type: 't.big' });
      const drained = await drainQueue(queue, registry, { deadline: Date.now() + 20_000, safetyMarginMs: 0 });
      expect(drained).toMatchObject({ succeeded: 2, failed: 0 });
      expect(await queue.status('acme', counted.id)).toMatchObject({
        state: 'done',
        result: { deleted: 12 },
      });
      const status = await queue.status('acme', big.id);
      expect(status?.state).toBe('done');
      expect(status).not.toHaveProperty('result');
    });
  });

  describe('the request token', () => {
    let endpoint: UpstashEndpoint;
    let redis: UpstashRedisClient;
    beforeAll(async () => {
      ({ endpoint, redis } = await privateEndpoint('queue-token'));
    });
    afterAll(() => endpoint.close());

    it('enqueues once per id: a re-run answers as the first did and adds nothing', async () => {
      const queue = new JobQueue({ redis, keys: new KeyBuilder(randomPrefix()) });
      const id = newJobId();
      const first = await queue.enqueue({ tenant: 'acme', type: 't.a' }, { id });
      const again = await queue.enqueue({ tenant: 'acme', type: 't.a' }, { id });
      expect(first).toEqual({ id, duplicate: false });
      expect(again).toEqual(first);
      expect((await queue.list('acme')).jobs.map((j) => j.id)).toEqual([id]);
      await expect(queue.enqueue({ tenant: 'acme', type: 't.a' }, { id: 'short' })).rejects.toThrow(
        ValidationError,
      );
    });

    it('writes a receipt with the job, in the same round trip, only when the job is added', async () => {
      const queue = new JobQueue({ redis, keys: new KeyBuilder(randomPrefix()) });
      await queue.enqueue({ tenant: 'acme', type: 't.a' }); // loads the script
      const receiptKey = `${randomPrefix()}:receipt`;
      let written = 0;
      const receipt = {
        key: receiptKey,
        ttlMs: 60_000,
        value: (result: { id: string }) => `answered ${result.id}`,
        written: () => {
          written++;
        },
      };
      endpoint.resetStats();
      const { id } = await queue.enqueue(
        { tenant: 'acme', type: 't.a', idempotencyKey: 'once' },
        { receipt },
      );
      expect(endpoint.stats().requests).toBe(1);
      expect(await redis.get(receiptKey)).toBe(`answered ${id}`);
      expect(written).toBe(1);
      // A duplicate by the job's own idempotency key adds nothing, so it writes no receipt.
      await redis.del([receiptKey]);
      const duplicate = await queue.enqueue(
        { tenant: 'acme', type: 't.a', idempotencyKey: 'once' },
        { receipt },
      );
      expect(duplicate).toEqual({ id, duplicate: true });
      expect(await redis.get(receiptKey)).toBeNull();
      expect(written).toBe(1);
    });
  });
});
