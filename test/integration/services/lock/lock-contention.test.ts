import { fileURLToPath } from 'node:url';
import type { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import { type OwnDatabase, ownDatabase, randomPrefix, upstashClient } from '../../../helpers/redis';
import { runWorkerProcess } from '../../../helpers/workers/run';

const WORKER = fileURLToPath(new URL('../../../helpers/workers/lock-worker.ts', import.meta.url));

interface WorkerReport {
  overlaps: number;
  acquisitions: number;
}

/** Runs the lock worker in its own OS process and resolves with its report. */
const runWorker = (env: Record<string, string>) => runWorkerProcess<WorkerReport>(WORKER, env);

describe('LockService under contention', () => {
  const prefix = randomPrefix();
  const keys = new KeyBuilder(prefix);
  // A Redis of its own: the test's keys go with it, no scan of a shared one to clean up.
  let own: OwnDatabase;
  let raw: Redis;
  const ACQUISITIONS = 5_000;

  beforeAll(async () => {
    own = await ownDatabase();
    raw = upstashClient(own.url, own.token);
  });

  afterAll(async () => {
    await own?.close();
  });

  it('never has two holders: 50 workers x 100 acquisitions over 2 processes, fencing tokens strictly increasing', async () => {
    // Prepare: 2 processes x 25 workers, each taking one of 25 locks 100 times.
    const resources = 25;
    const env = {
      UPSTASH_URL: own.url,
      UPSTASH_TOKEN: own.token,
      KEY_PREFIX: prefix,
      WORKERS: '25',
      ACQUISITIONS: '100',
      RESOURCES: String(resources),
    };

    // Act
    const startedAt = performance.now();
    const reports = await Promise.all([runWorker(env), runWorker(env)]);
    const elapsedMs = performance.now() - startedAt;
    const stats = own.endpoint.stats(own.token);
    console.info(
      `lock contention: ${ACQUISITIONS} acquisitions in ${Math.round(elapsedMs)} ms, ${stats.requests} round trips, ` +
        `${stats.byCommand.EVALSHA ?? 0} scripts`,
    );

    // Assess: every critical section found the holder counter at 1 and released its own lock.
    expect(reports.map((r) => r.overlaps)).toEqual([0, 0]);
    expect(reports.reduce((sum, r) => sum + r.acquisitions, 0)).toBe(ACQUISITIONS);
    // The fencing tokens each resource handed out, in the order its holders entered, are exactly
    // 1, 2, 3, ...: strictly increasing, and no acquisition went unrecorded.
    let total = 0;
    for (let r = 0; r < resources; r++) {
      const fences = (await raw.lrange(keys.global('lock', 'test-fences', `r${r}`), 0, -1)).map(Number);
      expect(fences).toEqual(Array.from({ length: fences.length }, (_, i) => i + 1));
      total += fences.length;
    }
    expect(total).toBe(ACQUISITIONS);
    // Seconds on a quiet 2-core machine; over a minute with the cores busy.
  }, 180_000);
});
