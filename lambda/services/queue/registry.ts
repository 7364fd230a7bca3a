import { ValidationError } from '../../shared/errors';
import type { JobType } from './job-types';
import type { Job } from './queue';

/** What a job handler gets besides the job. */
export interface JobContext {
  /**
   * Aborts when the worker must stop (its invocation is about to end). A handler that stops early
   * should throw, so the job is retried rather than acked half done.
   */
  readonly signal: AbortSignal;
}

/** A job whose payload its type's definition has validated. */
export type TypedJob<P> = Omit<Job, 'payload'> & { readonly payload: P };

/**
 * Runs one delivery of a job. Resolving acks it, and what it resolves to (JSON, up to 16 KiB) is
 * kept as the job's `result` (e.g. how many keys an invalidation deleted); throwing fails it
 * (retried with backoff, then dead-lettered). Delivery is at least once, so a handler must be
 * safe to run twice.
 */
export type JobHandler<P = unknown> = (job: TypedJob<P>, context: JobContext) => Promise<unknown>;

/**
 * Job types and their handlers, for the queue worker. A handler registered with a definition
 * (`lambda/services/queue/job-types.ts`) gets its payload validated by that definition first (an
 * invalid one throws ValidationError: the job is dead-lettered at once); one registered by name
 * alone gets the payload as stored (for types only code enqueues, never `POST /jobs`).
 *
 * @example
 * const registry = new JobRegistry().register(EMAIL_JOB, async (job, { signal }) => {
 *   await sendEmail(job.payload, { signal }); // typed by EMAIL_JOB.payload
 * });
 */
export class JobRegistry {
  readonly #handlers = new Map<string, JobHandler>();

  /** Adds a handler; registering a type twice is a mistake and throws. */
  register<P>(type: JobType<P>, handler: JobHandler<P>): this;
  register(type: string, handler: JobHandler): this;
  register<P>(type: JobType<P> | string, handler: JobHandler<P>): this {
    const name = typeof type === 'string' ? type : type.type;
    if (this.#handlers.has(name)) throw new ValidationError(`job type "${name}" is already registered`);
    const run: JobHandler =
      typeof type === 'string'
        ? (handler as JobHandler)
        : async (job, context) => handler({ ...job, payload: type.payload(job.payload) }, context);
    this.#handlers.set(name, run);
    return this;
  }

  /** The handler of `type`, or `undefined` when none is registered. */
  get(type: string): JobHandler | undefined {
    return this.#handlers.get(type);
  }

  /** The registered types. */
  types(): string[] {
    return [...this.#handlers.keys()];
  }
}
