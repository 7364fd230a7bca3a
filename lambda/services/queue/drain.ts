import { ValidationError } from '../../shared/errors';
import type { Job, JobQueue } from './queue';
import type { JobRegistry } from './registry';

/** Why a drain stopped. */
export type StopReason = 'empty' | 'deadline' | 'max-jobs' | 'aborted';

/** Options of {@link drainQueue}. */
export interface DrainOptions {
  /** The invocation's hard end (epoch ms), e.g. now + `context.getRemainingTimeInMillis()`. */
  readonly deadline: number;
  /**
   * Stop taking jobs this long before the deadline, so running jobs can finish and be acked.
   * @default 3_000
   */
  readonly safetyMarginMs?: number;
  /**
   * Jobs run at once. Their dequeues and acks share round trips through auto-pipelining.
   * @default 4
   */
  readonly concurrency?: number;
  /**
   * Extra lease beyond the deadline. A job's lease covers the whole invocation, so a job is only
   * requeued once the function that took it is surely gone, never while it still runs.
   * @default 5_000
   */
  readonly leaseGraceMs?: number;
  /** Stop after this many jobs. @default - no limit */
  readonly maxJobs?: number;
  /** Stops the drain (e.g. the drain lock was lost). @default - none */
  readonly signal?: AbortSignal;
  /** @default Date.now */
  readonly clock?: () => number;
  /**
   * Told of every failed delivery, after the failure is recorded (the worker logs it: no failure
   * goes unlogged). `outcome` is where the job went: a retry, the dead letters, or nowhere because
   * the lease was gone.
   * @default - none
   */
  readonly onJobFailed?: (job: Job, error: unknown, outcome: 'retry' | 'dead' | 'lease-lost') => void;
}

/** What a drain did. */
export interface DrainResult {
  /** Jobs taken off the queue. */
  processed: number;
  /** Acked after their handler resolved. */
  succeeded: number;
  /** Failed and scheduled for a retry. */
  failed: number;
  /** Failed for the last time (or without a handler) and moved to the dead letters. */
  deadLettered: number;
  /** Handled, but the lease was gone when acking or failing (another delivery may run it). */
  leaseLost: number;
  stoppedBecause: StopReason;
}

/**
 * Takes jobs in priority order and runs their handlers until the queue is empty or the deadline
 * (less the safety margin) is near. Due delayed jobs are promoted first and again whenever the
 * queue looks empty, so retries that fall due during the drain are run in it. A type without a
 * handler, and a handler that throws {@link ValidationError} (a payload that will never work),
 * are dead-lettered at once; other errors are retried with backoff.
 */
export async function drainQueue(
  queue: JobQueue,
  registry: JobRegistry,
  options: DrainOptions,
): Promise<DrainResult> {
  const clock = options.clock ?? Date.now;
  const stopAt = options.deadline - (options.safetyMarginMs ?? 3_000);
  const leaseGraceMs = options.leaseGraceMs ?? 5_000;
  const maxJobs = options.maxJobs ?? Number.POSITIVE_INFINITY;
  const result: DrainResult = {
    processed: 0,
    succeeded: 0,
    failed: 0,
    deadLettered: 0,
    leaseLost: 0,
    stoppedBecause: 'empty',
  };

  // Handlers see this signal abort at the safety deadline or when the caller aborts.
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(
    () => controller.abort(new Error('drain deadline reached')),
    Math.max(0, stopAt - clock()),
  );

  let stop: StopReason | undefined;
  let promotedWhenEmpty = false;

  const next = async (): Promise<Job | null> => {
    for (;;) {
      if (options.signal?.aborted) stop ??= 'aborted';
      else if (clock() >= stopAt) stop ??= 'deadline';
      else if (result.processed >= maxJobs) stop ??= 'max-jobs';
      if (stop) return null;
      result.processed++;
      const job = await queue.dequeue({ leaseMs: Math.max(1, options.deadline - clock() + leaseGraceMs) });
      if (job) return job;
      result.processed--;
      // Looks empty: promote what fell due meanwhile once, then give up.
      if (promotedWhenEmpty || (await queue.promoteDue()) === 0) {
        stop ??= 'empty';
        return null;
      }
      promotedWhenEmpty = true;
    }
  };

  const run = async (job: Job): Promise<void> => {
    const handler = registry.get(job.type);
    let value: unknown;
    try {
      if (!handler) throw new ValidationError(`no handler registered for job type "${job.type}"`);
      value = await handler(job, { signal: controller.signal });
    } catch (error) {
      const outcome = await queue.fail(job, error, { retryable: !(error instanceof ValidationError) });
      if (!outcome.success) result.leaseLost++;
      else if (outcome.state === 'dead') result.deadLettered++;
      else result.failed++;
      options.onJobFailed?.(
        job,
        error,
        !outcome.success ? 'lease-lost' : outcome.state === 'dead' ? 'dead' : 'retry',
      );
      return;
    }
    // What the handler returned is kept with the job (its status shows it as `result`).
    if (await queue.ack(job, value)) result.succeeded++;
    else result.leaseLost++;
  };

  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    try {
      for (let job = await next(); job; job = await next()) {
        promotedWhenEmpty = false;
        await run(job);
      }
    } catch (error) {
      // Redis failed us: stop every lane, let the running jobs finish, then report. Jobs whose
      // ack or fail did not land keep their lease and are requeued by the maintenance job.
      failure ??= { error };
      stop = 'aborted';
    }
  };

  try {
    await queue.promoteDue();
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, lane));
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (failure) throw failure.error;
  result.stoppedBecause = stop ?? 'empty';
  return result;
}
