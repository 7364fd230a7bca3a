import { fileURLToPath } from 'node:url';
import type { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobQueue } from '../../../../lambda/services/queue';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import { UpstashRedisClient } from '../../../../lambda/shared/redis';
import type { UpstashEndpoint } from '../../../../local/upstash/server';
import { privateEndpoint, randomPrefix, upstashClient } from '../../../helpers/redis';
import { runWorkerProcess } from '../../../helpers/workers/run';

const WORKER = fileURLToPath(new URL('../../../helpers/workers/queue-worker.ts', import.meta.url));

interface WorkerReport {
  enqueued: Array<{ id: string; duplicate: boolean }>;
  acked: string[];
  deadLettered: string[];
  abandoned: number;
  retried: number;
  staleRefusals: number;
}

/** Runs the queue worker in its own OS process and resolves with its report. */
const runWorker = (env: Record<string, string>) => runWorkerProcess<WorkerReport>(WORKER, env);

const queueKeys = (prefix: string) =>
  new JobQueue({ redis: { kind: 'upstash' } as never, keys: new KeyBuilder(prefix) }).keys;

describe('JobQueue under load', () => {
  // Thousands of deliveries race over 32 workers in 2 processes; more only costs time.
  const JOBS = 5_000;
  const prefix = randomPrefix();
  let endpoint: UpstashEndpoint;
  let token: string;
  let raw: Redis;

  beforeAll(async () => {
    ({ endpoint, token } = await privateEndpoint());
    raw = upstashClient(endpoint.url, token);
  });

  afterAll(async () => {
    await raw.unlink(...Object.values(queueKeys(prefix)));
    await endpoint.close();
  });

  it('loses and duplicates no job: 5,000 jobs, 2 processes, 20% of deliveries abandoned', async () => {
    // Prepare
    const env = {
      UPSTASH_URL: endpoint.url,
      UPSTASH_TOKEN: token,
      KEY_PREFIX: prefix,
      JOBS: String(JOBS),
      WORKERS: '16',
      LEASE_MS: '200',
    };

    // Act
    const startedAt = performance.now();
    const reports = await Promise.all([runWorker(env), runWorker(env)]);
    const elapsedMs = performance.now() - startedAt;
    const stats = endpoint.stats(token);
    const [a, b] = reports as [WorkerReport, WorkerReport];
    const deliveries = reports.reduce(
      (sum, r) => sum + r.acked.length + r.deadLettered.length + r.abandoned + r.retried + r.staleRefusals,
      0,
    );
    console.info(
      `queue stress: ${JOBS} jobs (enqueued twice), ${deliveries} deliveries in ${Math.round(elapsedMs)} ms ` +
        `(${Math.round((JOBS / elapsedMs) * 1000)} jobs/s), ${stats.requests} round trips, ${stats.commands} commands; ` +
        `abandoned ${a.abandoned + b.abandoned}, stale acks/fails refused ${a.staleRefusals + b.staleRefusals}`,
    );

    // Assess: the same idempotency key gave both processes the same id, and created it once.
    for (let i = 0; i < JOBS; i++) {
      expect(a.enqueued[i]?.id).toBe(b.enqueued[i]?.id);
      expect(Number(a.enqueued[i]?.duplicate) + Number(b.enqueued[i]?.duplicate)).toBe(1);
    }
    const ids = new Set(a.enqueued.map((e) => e.id));
    expect(ids.size).toBe(JOBS);

    // Every job id is in exactly one set, and that set is done or dead.
    const keys = queueKeys(prefix);
    const members = async (key: string) => raw.zrange<string[]>(key, 0, -1);
    const [ready, delayed, inflight, done, dead] = await Promise.all(
      [keys.ready, keys.delayed, keys.inflight, keys.done, keys.dead].map(members),
    );
    expect([ready?.length, delayed?.length, inflight?.length]).toEqual([0, 0, 0]);
    expect((done?.length ?? 0) + (dead?.length ?? 0)).toBe(JOBS);
    expect(new Set([...(done ?? []), ...(dead ?? [])])).toEqual(ids);

    // Records agree with the sets; a dead job used exactly its maxAttempts, a done one no more.
    const queue = new JobQueue({ redis: new UpstashRedisClient(raw), keys: new KeyBuilder(prefix) });
    const statuses = await Promise.all(a.enqueued.map((e) => queue.status('acme', e.id)));
    const byState = { done: 0, dead: 0 };
    statuses.forEach((job, i) => {
      expect(job?.maxAttempts).toBe(1 + (i % 3));
      if (job?.state === 'dead') {
        byState.dead++;
        expect(job.attempts).toBe(job.maxAttempts);
      } else {
        expect(job?.state).toBe('done');
        byState.done++;
        expect(job?.attempts).toBeLessThanOrEqual(job?.maxAttempts ?? 0);
      }
    });
    expect(byState).toEqual({ done: done?.length, dead: dead?.length });

    // Each completed job was acked by exactly one delivery, across both processes.
    const acked = [...a.acked, ...b.acked];
    expect(acked.length).toBe(done?.length);
    expect(new Set(acked)).toEqual(new Set(done));
    // The abandonments really happened (about 20% of deliveries).
    expect(a.abandoned + b.abandoned).toBeGreaterThan(JOBS / 10);
    // A few seconds on a quiet 2-core machine; over a minute with the cores busy.
  }, 180_000);
});
