/**
 * A child process of the queue stress test. Phase 1: enqueues jobs 0..JOBS-1 with idempotency
 * key `job-<i>` (every process enqueues all of them, so each key is raced across processes).
 * Phase 2: WORKERS async workers dequeue with a short lease and, per delivery, abandon it (20%:
 * never ack nor fail, as a Lambda that timed out), fail it (20%) or ack it (60%), while a reaper
 * loop runs requeueExpired and promoteDue. Stops once nothing is ready, delayed or in flight.
 * Reports its enqueue results and the deliveries it acked or failed over IPC.
 *
 * Env: UPSTASH_URL, UPSTASH_TOKEN, KEY_PREFIX, JOBS, WORKERS, LEASE_MS.
 */
import { Redis } from '@upstash/redis';
import { JobQueue } from '../../../lambda/services/queue';
import { KeyBuilder } from '../../../lambda/shared/keys';
import { UpstashRedisClient } from '../../../lambda/shared/redis';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const redis = new UpstashRedisClient(
  new Redis({
    url: env('UPSTASH_URL'),
    token: env('UPSTASH_TOKEN'),
    automaticDeserialization: false,
    enableTelemetry: false,
    retry: false,
  }),
);
const queue = new JobQueue({
  redis,
  keys: new KeyBuilder(env('KEY_PREFIX')),
  backoff: { baseMs: 20, maxMs: 100 },
});
const jobs = Number(env('JOBS'));
const workers = Number(env('WORKERS'));
const leaseMs = Number(env('LEASE_MS'));
const PRIORITIES = ['high', 'normal', 'low'] as const;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Phase 1: enqueue, 500 per tick so auto-pipelining batches them.
const enqueued: Array<{ id: string; duplicate: boolean }> = [];
for (let start = 0; start < jobs; start += 500) {
  const batch = Array.from({ length: Math.min(500, jobs - start) }, (_, k) => {
    const i = start + k;
    return queue.enqueue({
      tenant: 'acme',
      type: 'stress',
      payload: { i },
      priority: PRIORITIES[i % 3],
      maxAttempts: 1 + (i % 3),
      idempotencyKey: `job-${i}`,
    });
  });
  enqueued.push(...(await Promise.all(batch)));
}

// Phase 2: work until the queue is drained.
let finished = false;
const acked: string[] = [];
const deadLettered: string[] = [];
let abandoned = 0;
let retried = 0;
let staleRefusals = 0;

async function worker(): Promise<void> {
  while (!finished) {
    const job = await queue.dequeue({ leaseMs });
    if (!job) {
      await sleep(20);
      continue;
    }
    const fate = Math.random();
    if (fate < 0.2) {
      abandoned++;
      continue;
    }
    if (fate < 0.4) {
      const outcome = await queue.fail(job, new Error(`failed attempt ${job.attempts}`));
      if (!outcome.success) staleRefusals++;
      else if (outcome.state === 'dead') deadLettered.push(job.id);
      else retried++;
      continue;
    }
    if (await queue.ack(job)) acked.push(job.id);
    else staleRefusals++;
  }
}

async function reaper(): Promise<void> {
  while (!finished) {
    await Promise.all([queue.requeueExpired(), queue.promoteDue()]);
    const stats = await queue.stats();
    const open = stats.ready.high + stats.ready.normal + stats.ready.low + stats.delayed + stats.inFlight;
    if (open === 0 && stats.done + stats.deadLetters >= jobs) finished = true;
    else await sleep(50);
  }
}

await Promise.all([reaper(), ...Array.from({ length: workers }, worker)]);
// Disconnect only once the (large) report is flushed to the parent.
process.send?.({ enqueued, acked, deadLettered, abandoned, retried, staleRefusals }, () =>
  process.disconnect?.(),
);
