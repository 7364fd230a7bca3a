import type { JobQueue, QueueStats } from './queue';

/** Options of {@link maintainQueue}. */
export interface MaintenanceOptions {
  /** Keep acked jobs (and their idempotency keys) this long, in ms. @default 86_400_000 (1 day) */
  readonly doneRetentionMs?: number;
  /** Keep dead letters this long, in ms. @default 604_800_000 (7 days) */
  readonly deadRetentionMs?: number;
  /**
   * Prunes stale session index entries everywhere, returning how many it removed.
   * @default - not run; the result says `'unavailable'`
   */
  readonly pruneSessionIndexes?: () => Promise<number>;
}

/** What one maintenance run did. */
export interface MaintenanceResult {
  /** Jobs whose lease expired, put back to ready. */
  readonly requeued: number;
  /** Jobs whose lease expired on their last attempt, dead-lettered. */
  readonly deadLettered: number;
  /** Delayed jobs that fell due, moved to ready. */
  readonly promoted: number;
  /** Finished jobs forgotten after their retention. */
  readonly pruned: { readonly done: number; readonly dead: number };
  /** Session index entries removed, or `'unavailable'` without a prune function. */
  readonly sessionIndexesPruned: number | 'unavailable';
  /** Queue counts after the run (for the metrics). */
  readonly stats: QueueStats;
}

/**
 * The maintenance pass over one queue: requeue expired leases (the at-least-once safety net for
 * workers that died), promote due delayed jobs, forget finished jobs past retention, prune
 * session indexes when a function for it is given, and read the counts. Safe to run
 * concurrently with workers and with itself; the handler still runs one at a time to save
 * commands.
 */
export async function maintainQueue(
  queue: JobQueue,
  options: MaintenanceOptions = {},
): Promise<MaintenanceResult> {
  const { requeued, deadLettered } = await queue.requeueExpired();
  const promoted = await queue.promoteDue();
  const pruned = await queue.prune({
    ...(options.doneRetentionMs !== undefined ? { doneMs: options.doneRetentionMs } : {}),
    ...(options.deadRetentionMs !== undefined ? { deadMs: options.deadRetentionMs } : {}),
  });
  const sessionIndexesPruned = options.pruneSessionIndexes
    ? await options.pruneSessionIndexes()
    : 'unavailable';
  return { requeued, deadLettered, promoted, pruned, sessionIndexesPruned, stats: await queue.stats() };
}
