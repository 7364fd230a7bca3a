import { fileURLToPath } from 'node:url';
import type { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import type { UpstashEndpoint } from '../../../../local/upstash/server';
import { privateEndpoint, randomPrefix, upstashClient } from '../../../helpers/redis';
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
  let endpoint: UpstashEndpoint;
  let token: string;
  let raw: Redis;

  beforeAll(async () => {
    ({ endpoint, token } = await privateEndpoint());
    raw = upstashClient(endpoint.url, token);
  });

  afterAll(async () => {
    let cursor = '0';
    do {
      const [next, found] = await raw.scan(cursor, { match: `${prefix}:*`, count: 1000 });
      if (found.length > 0) await raw.unlink(...found);
      cursor = String(next);
    } while (cursor !== '0');
    await endpoint.close();
  });

  it('never has two holders: 50 workers x 200 acquisitions over 2 processes, fencing tokens strictly increasing', async () => {
    // Prepare: 2 processes x 25 workers, each taking one of 25 locks 200 times.
    const resources = 25;
    const env = {
      UPSTASH_URL: endpoint.url,
      UPSTASH_TOKEN: token,
      KEY_PREFIX: prefix,
      WORKERS: '25',
      ACQUISITIONS: '200',
      RESOURCES: String(resources),
    };

    // Act
    const startedAt = performance.now();
    const reports = await Promise.all([runWorker(env), runWorker(env)]);
    const elapsedMs = performance.now() - startedAt;
    const stats = endpoint.stats(token);
    console.info(
      `lock contention: 10000 acquisitions in ${Math.round(elapsedMs)} ms, ${stats.requests} round trips, ` +
        `${stats.byCommand.EVALSHA ?? 0} scripts`,
    );

    // Assess: every critical section found the holder counter at 1 and released its own lock.
    expect(reports.map((r) => r.overlaps)).toEqual([0, 0]);
    expect(reports.reduce((sum, r) => sum + r.acquisitions, 0)).toBe(10_000);
    // The fencing tokens each resource handed out, in the order its holders entered, are exactly
    // 1, 2, 3, ...: strictly increasing, and no acquisition went unrecorded.
    let total = 0;
    for (let r = 0; r < resources; r++) {
      const fences = (await raw.lrange(keys.global('lock', 'test-fences', `r${r}`), 0, -1)).map(Number);
      expect(fences).toEqual(Array.from({ length: fences.length }, (_, i) => i + 1));
      total += fences.length;
    }
    expect(total).toBe(10_000);
  }, 60_000);
});
