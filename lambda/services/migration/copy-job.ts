import { createHash } from 'node:crypto';
import { tcpLeftOut } from '../../shared/bundle-labels';
import type { KeyBuilder } from '../../shared/keys';
import type { RedisLike } from '../../shared/redis';
import type { JobQueue, JobRegistry } from '../queue';
import { MIGRATION_COPY_JOB } from '../queue/job-types';
import type { CopyProgress, CopyRate } from './copy';
import { MIGRATION_COPY } from './job-types';

export { MIGRATION_COPY, OPERATOR_JOB_PREFIX } from './job-types';

/** A copy's identity: same source, same pattern, same checkpoint. The URL's password is left out. */
export function copyId(sourceUrl: string, match: string): string {
  const url = new URL(sourceUrl);
  const where = `${url.hostname}:${url.port || '6379'}${url.pathname}`;
  return createHash('sha256').update(`${where}|${match}`).digest('hex').slice(0, 16);
}

/** The checkpoint key of a copy in the target. */
export const checkpointKey = (keys: KeyBuilder, id: string): string => keys.global('migration', 'copy', id);

/** What the copy job needs from the worker. */
export interface CopyJobOptions {
  readonly keys: KeyBuilder;
  /** The target database's Upstash client (not the migration router). */
  readonly target: (database: string) => Promise<RedisLike>;
  /** The old Redis's URL of a database (from its migration source secret). */
  readonly sourceUrl: (database: string) => Promise<string>;
  /** Where to enqueue the next slice when this one runs out of time. */
  readonly queue: () => JobQueue;
  /**
   * Told where the copy stands after each slice (the worker logs it): the job's progress, since a
   * copy runs as a chain of jobs and `GET /jobs/{id}` shows one of them. Counts only, no keys.
   */
  readonly onSlice?: (report: CopySliceReport) => void;
}

/** What {@link CopyJobOptions.onSlice} gets. */
export interface CopySliceReport {
  readonly database: string;
  readonly jobId: string;
  /** The copy's checkpoint id ({@link copyId}). */
  readonly copyId: string;
  readonly done: boolean;
  readonly copied: number;
  readonly scanned: number;
  readonly skipped: number;
  /**
   * Keys in the source when the copy started (DBSIZE) when the pattern is `*`; `null` with any
   * other pattern: a slice does not count the keyspace first (it may not fit in one invocation).
   */
  readonly total: number | null;
  /** Keys per second in this slice. */
  readonly keysPerSecond: number;
  /** Seconds left at this slice's rate; `null` when unknown. */
  readonly etaSeconds: number | null;
}

// The copy and ioredis, loaded by the first copy; left out of REST-only bundles (shared/bundle-labels.ts).
let loadCopy: (() => Promise<[typeof import('./copy'), typeof import('ioredis')]>) | undefined;
UPSTASH_TCP: loadCopy = () => Promise.all([import('./copy'), import('ioredis')]);

/**
 * Registers `migration.copy` (payload `{ database, match?, batch? }`): copies a slice of the keys
 * until the invocation's time runs out, then enqueues the next slice, which resumes from the
 * checkpoint. Run it while the database is in `shadow`, so writes made during the copy land on
 * both sides.
 */
export function registerCopyJob(registry: JobRegistry, options: CopyJobOptions): JobRegistry {
  return registry.register(MIGRATION_COPY_JOB, async (job, { signal }) => {
    const payload = job.payload;
    const match = payload.match ?? `${options.keys.prefix}:*`;
    const batch = payload.batch ?? 500;
    // Only a copy needs ioredis; the worker's other jobs never load it.
    if (!loadCopy) throw tcpLeftOut(`migration.copy of database "${payload.database}"`);
    const [{ copyKeys, redisCheckpoint }, { Redis: IORedis }] = await loadCopy();
    const url = await options.sourceUrl(payload.database);
    const source = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    const id = copyId(url, match);
    let progress: CopyProgress;
    let rate: CopyRate = { keysPerSecond: 0, etaSeconds: null };
    try {
      await source.connect();
      const target = await options.target(payload.database);
      progress = await copyKeys({
        source,
        target,
        checkpoint: redisCheckpoint(target, checkpointKey(options.keys, id)),
        match,
        batch,
        signal,
        onProgress: (_p, r) => {
          rate = r;
        },
      });
    } finally {
      source.disconnect();
    }
    options.onSlice?.({
      database: payload.database,
      jobId: job.id,
      copyId: id,
      done: progress.done,
      copied: progress.copied,
      scanned: progress.scanned,
      skipped: progress.skipped,
      total: progress.total,
      keysPerSecond: rate.keysPerSecond,
      etaSeconds: progress.done ? 0 : rate.etaSeconds,
    });
    if (!progress.done) {
      await options.queue().enqueue({
        tenant: job.tenant,
        type: MIGRATION_COPY,
        payload: job.payload,
        idempotencyKey: `${MIGRATION_COPY}-${job.id}-next`,
      });
    }
  });
}
