import { describe, expect, it } from 'vitest';
import { JobQueue } from '../../../../lambda/services/queue';
import { ValidationError } from '../../../../lambda/shared/errors';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import { randomPrefix, sharedRedis } from '../../../helpers/redis';

/**
 * What the local console asks of the queue beyond the HTTP API: counts per type and state across
 * tenants, and dropping a dead letter for good. Through the public methods only.
 */
function setup() {
  const clock = { now: 1_800_000_000_000 };
  const queue = new JobQueue({
    redis: sharedRedis(),
    keys: new KeyBuilder(randomPrefix()),
    clock: () => clock.now,
  });
  return { queue, clock };
}

/** Enqueues a job that dies at its first failure, and fails it. */
async function deadJob(queue: JobQueue, tenant: string, type: string): Promise<string> {
  const { id } = await queue.enqueue({ tenant, type, maxAttempts: 1, idempotencyKey: `k-${tenant}-${type}` });
  const job = await queue.dequeue({ leaseMs: 60_000 });
  if (job?.id !== id) throw new Error('the dead job was not the one delivered');
  const outcome = await queue.fail(job, new Error('boom'));
  if (!(outcome.success && outcome.state === 'dead')) throw new Error('the job did not die');
  return id;
}

describe('JobQueue for the console', () => {
  it('counts ready, delayed, in-flight and dead jobs per type, every tenant together', async () => {
    const { queue } = setup();
    expect(await queue.countsByType()).toEqual({ counts: {}, truncated: false });

    await deadJob(queue, 'acme', 'mail.send');
    await queue.enqueue({ tenant: 'acme', type: 'mail.send' });
    await queue.enqueue({ tenant: 'other', type: 'mail.send' });
    const leased = await queue.dequeue({ leaseMs: 60_000 });
    expect(leased?.type).toBe('mail.send');
    await queue.enqueue({ tenant: 'other', type: 'report.build', delayMs: 60_000 });
    await queue.enqueue({ tenant: 'acme', type: 'report.build' });

    expect(await queue.countsByType()).toEqual({
      counts: {
        'mail.send': { ready: 1, delayed: 0, inFlight: 1, dead: 1 },
        'report.build': { ready: 1, delayed: 1, inFlight: 0, dead: 0 },
      },
      truncated: false,
    });
    // Reading one job of each set at most: the counts say so.
    const bounded = await queue.countsByType({ limit: 1 });
    expect(bounded.truncated).toBe(true);
    expect(bounded.counts['mail.send']?.dead).toBe(1);
    await expect(queue.countsByType({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
  });

  it('drops a dead letter of its tenant for good, and refuses anything else', async () => {
    const { queue } = setup();
    const id = await deadJob(queue, 'acme', 'mail.send');
    const ready = await queue.enqueue({ tenant: 'acme', type: 'mail.send' });

    expect(await queue.drop('other', id)).toEqual({ ok: false, reason: 'not-found' });
    expect(await queue.drop('acme', id, new Set(['report.build']))).toEqual({
      ok: false,
      reason: 'type',
      type: 'mail.send',
    });
    expect(await queue.drop('acme', ready.id)).toEqual({ ok: false, reason: 'state', state: 'ready' });

    const dropped = await queue.drop('acme', id);
    expect(dropped).toMatchObject({ ok: true, job: { id, state: 'dead', lastError: 'Error: boom' } });
    expect(await queue.status('acme', id)).toBeNull();
    expect((await queue.list('acme')).jobs.map((j) => j.id)).toEqual([ready.id]);
    expect((await queue.stats()).deadLetters).toBe(0);
    expect(await queue.drop('acme', id)).toEqual({ ok: false, reason: 'not-found' });
    // Its idempotency key went with it: the same key enqueues a new job.
    const again = await queue.enqueue({
      tenant: 'acme',
      type: 'mail.send',
      maxAttempts: 1,
      idempotencyKey: 'k-acme-mail.send',
    });
    expect(again).toMatchObject({ duplicate: false });
    expect(again.id).not.toBe(id);
  });
});
